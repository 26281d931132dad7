// The `sparrow train`, `eval` and `predict` commands.


import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';

import type { Backend, BackendName } from '../backend/backend.js';
import { encodeAll } from '../data/batches.js';
import { BadRows } from '../data/csv.js';
import { openData } from '../data/dataset.js';
import { Encoder } from '../data/encode.js';
import { fit } from '../data/fit.js';
import { PRESETS } from '../data/presets/index.js';
import { csvSource, splitSource, SPLIT_PARTS, type RowSource, type SplitPart, type SplitSpec } from '../data/source.js';
import { selectRows, type SparseBatch } from '../data/batch.js';
import type { FittedState } from '../data/state.js';
import { loadModel, saveModel, type SavedModel } from '../models/checkpoint.js';
import { resolveScore, type ScoreConfig } from '../models/score.js';
import { checkCheckpointTarget } from '../io/checkpoint.js';
import { MULTI_TASK_KINDS, MultiTaskModel, meanGateWeights, type MultiTaskConfig, type MultiTaskKind } from '../models/multitask.js';
import { WideAndDeep, type WideDeepKind } from '../models/wide-deep.js';
import { OPTIMIZER_KINDS, type OptimizerConfig, type OptimizerKind } from '../optim/config.js';
import { Optimizer, type ParamGroupOptions } from '../optim/optimizer.js';
import { freezeExperts, pretrainExperts, PRETRAIN_HEADS, type PretrainHead, type PretrainMode, type PretrainReport } from '../train/pretrain-experts.js';
import { evaluate, predict, train, type Schedule, type TaskMetrics, type TrainState } from '../train/trainer.js';
import { writeAll, writeFileAtomic } from '../io/atomic.js';
import { loadForServing } from './candidates.js';
import { addBackendOptions, checkOutputFile, initBackend, parseInteger, parsePositive, parseSizes, printJson, type BackendOptions } from './common.js';

/** Defaults of `sparrow train`; see docs/training.md for why they differ from the original paper's optimizers. */
export const TRAIN_DEFAULTS = {
  model: 'wide-deep' as WideDeepKind | MultiTaskKind,
  epochs: 5,
  batchSize: 256,
  hidden: [256, 128],
  wideOptimizer: 'adam' as OptimizerKind,
  deepOptimizer: 'adam' as OptimizerKind,
  wideLr: 0.001,
  deepLr: 0.001,
  l1: 0,
  schedule: 'cosine' as 'cosine' | 'constant',
  seed: 1,
  experts: 8,
  expertHidden: [16],
  towerHidden: [8],
  gateDropout: 0.1,
  biasHidden: [8],
  biasDropout: 0.1,
  pretrainHead: 'task' as PretrainHead,
  finetuneLrScale: 0.1,
  finetuneLrScope: 'experts' as FinetuneScope,
};

/** Part of the model that --finetune-lr-scale applies to: the pre-trained expert layers, or every parameter. */
type FinetuneScope = 'experts' | 'all';

/** Evaluation rows on which `sparrow train` measures the mean gate weights after each evaluation. */
const GATE_REPORT_ROWS = 10_000;

interface TrainCliOptions extends BackendOptions {
  rows?: string;
  score?: string;
  scoreKind?: string;
  preset?: string;
  schema?: string;
  data?: string;
  eval?: string;
  model: WideDeepKind | MultiTaskKind;
  experts: string;
  expertHidden: string;
  towerHidden: string;
  sharedHidden?: string;
  bottomHidden?: string;
  gateDropout: string;
  taskWeights?: string;
  wideTasks?: string;
  biasTower?: boolean;
  biasTasks?: string;
  biasHidden: string;
  biasDropout: string;
  epochs: string;
  batchSize: string;
  hidden: string;
  dropout: string;
  wideOptimizer: OptimizerKind;
  deepOptimizer: OptimizerKind;
  wideLr: string;
  deepLr: string;
  l1: string;
  schedule: 'cosine' | 'constant';
  evalEvery?: string;
  earlyStopping?: string;
  seed: string;
  split?: string;
  skipBadRows?: boolean;
  out?: string;
  resume?: string;
  progress: boolean;
  json?: boolean;
  pretrainExperts?: boolean;
  pretrainEpochs?: string;
  pretrainHead?: PretrainHead;
  pretrainWorkers?: string;
  pretrainSerial?: boolean;
  pretrainCompareSerial?: boolean;
  finetuneLrScale?: string;
  finetuneLrScope?: FinetuneScope;
  freezeExperts?: boolean;
}

function optimizerConfig(kind: OptimizerKind, l1: number): OptimizerConfig {
  if (kind === 'ftrl') return { kind, l1 };
  return { kind } as OptimizerConfig;
}

function describeAdapter(backend: Backend): string {
  return backend.name === 'cpu' ? 'cpu' : `${backend.adapter.description || backend.adapter.device} (${backend.adapter.featureLevel})`;
}

function metricsForJson(metrics: Record<string, TaskMetrics> | undefined): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [task, value] of Object.entries(metrics ?? {})) {
    out[task] = { auc: value.auc, accuracy: value.accuracy, logloss: value.logloss, calibration: value.calibration, rows: value.rows };
    if (value.mse !== undefined) out[task].mse = value.mse;
    // Why a metric is null, by metric name, for example a label set with one class for auc.
    if (value.undefined !== undefined) out[task].undefined = value.undefined;
  }
  return out;
}

/** Formats metrics one task per line; a null metric shows its reason. */
function formatMetrics(metrics: Record<string, TaskMetrics> | undefined): string {
  const lines = Object.entries(metrics ?? {}).map(([task, m]) => {
    const format = (name: string, value: number | null | undefined) => {
      if (value !== null && value !== undefined) return `${name} ${value.toFixed(4)}`;
      const reason = m.undefined?.[name];
      return `${name} undefined${reason === undefined ? '' : ` (${reason.replace(/^undefined: /, '')})`}`;
    };
    if (m.mse !== undefined) return `${task}: ${format('mse', m.mse)}`;
    return `${task}: ${['auc', 'accuracy', 'logloss', 'calibration'].map((name) => format(name, m[name as 'auc'])).join('  ')}`;
  });
  return lines.join('\n');
}

/** Parses a possibly empty comma-separated list of sizes: "" or "none" is []. */
function parseOptionalSizes(value: string, name: string): number[] {
  return value.trim() === '' || value.trim() === 'none' ? [] : parseSizes(value, name);
}

function parseRate(value: string, name: string): number {
  const rate = Number(value);
  if (!(rate >= 0 && rate < 1)) throw new Error(`${name}: invalid value "${value}"; expected a rate in [0, 1)`);
  return rate;
}

function parseNames(value: string): string[] {
  return value.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

/** Parses "income=1,never_married=0.5" into weights by task name. */
function parseTaskWeights(value: string): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const part of parseNames(value)) {
    const [name, weight, extra] = part.split('=').map((item) => item.trim());
    const parsed = Number(weight);
    if (!name || extra !== undefined || weight === undefined || weight === '' || !Number.isFinite(parsed) || parsed < 0) {
      throw new Error(`--task-weights: invalid entry "${part}"; expected task=weight pairs such as income=1,never_married=0.5`);
    }
    weights[name] = parsed;
  }
  return weights;
}

/** Builds the multi-task model config from the command-line options. */
function multiTaskConfig(options: TrainCliOptions, kind: MultiTaskKind, dropout: number, seed: number): MultiTaskConfig {
  const config: MultiTaskConfig = {
    kind,
    experts: parseInteger(options.experts, '--experts', 1),
    expertHidden: parseSizes(options.expertHidden, '--expert-hidden'),
    towerHidden: parseOptionalSizes(options.towerHidden, '--tower-hidden'),
    sharedHidden: options.sharedHidden === undefined ? [] : parseOptionalSizes(options.sharedHidden, '--shared-hidden'),
    gateDropout: parseRate(options.gateDropout, '--gate-dropout'),
    dropout,
    biasHidden: parseOptionalSizes(options.biasHidden, '--bias-hidden'),
    biasDropout: parseRate(options.biasDropout, '--bias-dropout'),
    seed,
  };
  if (options.bottomHidden !== undefined) config.bottomHidden = parseOptionalSizes(options.bottomHidden, '--bottom-hidden');
  if (options.taskWeights !== undefined) config.taskWeights = parseTaskWeights(options.taskWeights);
  if (options.wideTasks !== undefined) config.wideTasks = parseNames(options.wideTasks);
  if (options.biasTower === false) {
    if (options.biasTasks !== undefined) throw new Error('--bias-tasks: cannot be combined with --no-bias-tower');
    config.biasTasks = [];
  } else if (options.biasTasks !== undefined) {
    config.biasTasks = parseNames(options.biasTasks);
  }
  return config;
}

function formatGates(weights: Record<string, number[]>): string {
  return Object.entries(weights)
    .map(([task, values]) => `${task} [${values.map((value) => value.toFixed(2)).join(' ')}]`)
    .join('; ');
}

/** Expert pre-training settings from the command line. */
interface PretrainSettings {
  epochs: number;
  head: PretrainHead;
  workers?: number;
  mode: PretrainMode;
  lrScale: number;
  lrScope: FinetuneScope;
  freeze: boolean;
}

/** Checks the pre-training options against each other and the model. Returns null without --pretrain-experts. */
function pretrainSettings(options: TrainCliOptions, epochs: number): PretrainSettings | null {
  const dependent: [string, unknown][] = [
    ['--pretrain-epochs', options.pretrainEpochs],
    ['--pretrain-head', options.pretrainHead],
    ['--pretrain-workers', options.pretrainWorkers],
    ['--pretrain-serial', options.pretrainSerial],
    ['--pretrain-compare-serial', options.pretrainCompareSerial],
    ['--finetune-lr-scale', options.finetuneLrScale],
    ['--finetune-lr-scope', options.finetuneLrScope],
    ['--freeze-experts', options.freezeExperts],
  ];
  if (!options.pretrainExperts) {
    const given = dependent.find(([, value]) => value !== undefined);
    if (given) throw new Error(`${given[0]}: only applies with --pretrain-experts`);
    return null;
  }
  if (options.model !== 'mmoe' && options.model !== 'omoe') {
    throw new Error(`--pretrain-experts: model "${options.model}" has no experts; use --model mmoe or --model omoe`);
  }
  if (options.resume) {
    throw new Error('--pretrain-experts: cannot be combined with --resume, which continues a run whose experts are already assembled; resume without it (frozen experts stay frozen)');
  }
  if (options.pretrainSerial && options.pretrainCompareSerial) {
    throw new Error('--pretrain-serial: cannot be combined with --pretrain-compare-serial, which already runs the experts one after another after the parallel run');
  }
  if (options.pretrainSerial && options.pretrainWorkers !== undefined) throw new Error('--pretrain-workers: has no effect with --pretrain-serial, which trains in this process');
  let mode: PretrainMode = 'parallel';
  if (options.pretrainSerial) mode = 'serial';
  if (options.pretrainCompareSerial) mode = 'both';
  return {
    epochs: options.pretrainEpochs === undefined ? epochs : parseInteger(options.pretrainEpochs, '--pretrain-epochs', 1),
    head: options.pretrainHead ?? TRAIN_DEFAULTS.pretrainHead,
    workers: options.pretrainWorkers === undefined ? undefined : parseInteger(options.pretrainWorkers, '--pretrain-workers', 1),
    mode,
    lrScale: options.finetuneLrScale === undefined ? TRAIN_DEFAULTS.finetuneLrScale : parsePositive(options.finetuneLrScale, '--finetune-lr-scale'),
    lrScope: options.finetuneLrScope ?? TRAIN_DEFAULTS.finetuneLrScope,
    freeze: options.freezeExperts === true,
  };
}

/** Formats the pre-training's wall times as one line. */
function formatPretrain(report: PretrainReport): string {
  const what = `pre-trained ${report.experts} experts (head ${report.head}, ${report.epochs} epoch${report.epochs === 1 ? '' : 's'})`;
  const serial = report.serialSeconds === null ? '' : `${report.serialSeconds.toFixed(1)} s one after another in this process`;
  if (report.parallelSeconds === null) return `${what}: ${serial}`;
  const parallel = `${report.parallelSeconds.toFixed(1)} s on ${report.workers} worker threads`;
  if (report.serialSeconds === null) {
    const total = report.perExpert.reduce((sum, expert) => sum + expert.seconds, 0);
    return `${what}: ${parallel} (the experts' own times add up to ${total.toFixed(1)} s; --pretrain-compare-serial times a serial run)`;
  }
  const speedup = report.serialSeconds / report.parallelSeconds;
  return `${what}: ${parallel} against ${serial} (${speedup.toFixed(2)}x; same weights: ${report.sameAsSerial ? 'yes' : 'no'})`;
}

async function encodeSource(source: RowSource, encoder: Encoder, skipBadRows: boolean, what: string, counts?: { skipped: number }): Promise<SparseBatch> {
  const badRows = new BadRows(skipBadRows);
  const batch = await encodeAll(source, encoder, badRows);
  if (badRows.count > 0) process.stderr.write(`${what}: ${badRows.summary()}\n`);
  if (counts) counts.skipped = badRows.count;
  return batch;
}

/** Adds `sparrow train`. */
export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description('train a wide & deep or multi-task model on a CSV file, evaluate it and save it')
    .option('--preset <name>', `schema preset: ${Object.keys(PRESETS).join(', ')}`)
    .option('--schema <file>', 'schema JSON file for any CSV (replaces the preset\'s schema)')
    .option('--data <csv>', 'training data (.csv or .gz); default: the preset\'s training file under SPARROW_DATA_DIR, or its generator')
    .option('--rows <n>', 'rows of the training set that a synthetic preset generates without --data (its test set has a quarter as many); default: the preset\'s')
    .option('--eval <csv>', 'evaluation data; default: the preset\'s test file, or the test or validation part of --split')
    .addOption(
      new Option('--model <kind>', 'model: wide (linear over sparse features and crosses), deep (embeddings + MLP), wide-deep, or a multi-task model: shared-bottom, omoe (one gate) or mmoe (one gate per task)')
        .choices(['wide', 'deep', 'wide-deep', ...MULTI_TASK_KINDS])
        .default(TRAIN_DEFAULTS.model),
    )
    .option('--epochs <n>', 'passes over the training data', String(TRAIN_DEFAULTS.epochs))
    .option('--batch-size <n>', 'rows per training step', String(TRAIN_DEFAULTS.batchSize))
    .option('--hidden <sizes>', 'hidden layer sizes of the deep part, comma-separated', TRAIN_DEFAULTS.hidden.join(','))
    .option('--dropout <rate>', 'dropout rate after each hidden layer, in [0, 1)', '0')
    .option('--experts <n>', 'omoe, mmoe: number of experts', String(TRAIN_DEFAULTS.experts))
    .option('--expert-hidden <sizes>', 'omoe, mmoe: hidden layer sizes of each expert, comma-separated', TRAIN_DEFAULTS.expertHidden.join(','))
    .option('--tower-hidden <sizes>', 'multi-task: hidden layer sizes of each task tower before its one-output head ("none" for a head only)', TRAIN_DEFAULTS.towerHidden.join(','))
    .option('--shared-hidden <sizes>', 'multi-task: hidden layers shared below the experts, gates or bottom (default none)')
    .option('--bottom-hidden <sizes>', 'shared-bottom: hidden layer sizes of the shared MLP (default: one layer sized to match MMoE\'s parameter count)')
    .option('--gate-dropout <rate>', 'omoe, mmoe: probability of zeroing an expert\'s gate weight in training, then renormalizing', String(TRAIN_DEFAULTS.gateDropout))
    .option('--task-weights <pairs>', 'multi-task: loss weight per task, such as income=1,never_married=0.5 (default 1 each)')
    .option('--wide-tasks <names>', 'multi-task: tasks that get the logit of a wide part over the wide and both fields, comma-separated (default none)')
    .option('--bias-tower', 'multi-task: add the bias tower (the default when the schema has bias features)')
    .option('--no-bias-tower', 'multi-task: train without the bias tower')
    .option('--bias-tasks <names>', 'multi-task: tasks whose training logits get the bias tower\'s logit (default: every binary task)')
    .option('--bias-hidden <sizes>', 'multi-task: hidden layer sizes of the bias tower ("none" for a linear tower)', TRAIN_DEFAULTS.biasHidden.join(','))
    .option('--bias-dropout <rate>', 'multi-task: probability of dropping a bias feature of a row in training', String(TRAIN_DEFAULTS.biasDropout))
    .addOption(new Option('--wide-optimizer <kind>', 'optimizer of the wide part').choices([...OPTIMIZER_KINDS]).default(TRAIN_DEFAULTS.wideOptimizer))
    .addOption(new Option('--deep-optimizer <kind>', 'optimizer of the deep part').choices([...OPTIMIZER_KINDS]).default(TRAIN_DEFAULTS.deepOptimizer))
    .option('--wide-lr <rate>', 'learning rate of the wide part (alpha for FTRL)', String(TRAIN_DEFAULTS.wideLr))
    .option('--deep-lr <rate>', 'learning rate of the deep part', String(TRAIN_DEFAULTS.deepLr))
    .option('--l1 <strength>', 'L1 regularization of FTRL in the wide part', String(TRAIN_DEFAULTS.l1))
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule over all steps: cosine decays to 0, constant keeps it').choices(['cosine', 'constant']).default(TRAIN_DEFAULTS.schedule))
    .option('--eval-every <steps>', 'evaluate every this many steps (default: after each epoch)')
    .option('--early-stopping <patience>', 'stop when the evaluation AUC of the first task has not improved for this many evaluations')
    .option('--seed <n>', 'seed of initialization, shuffling, dropout, splits and generators', String(TRAIN_DEFAULTS.seed))
    .option('--split <fractions>', 'split --data by a hash of each row into train,validation[,test] fractions such as 0.5,0.25,0.25')
    .option('--skip-bad-rows', 'skip and count bad CSV rows instead of stopping at the first one')
    .option('--out <dir>', 'checkpoint directory to write after every epoch and at the end (weights, optimizer state, schema, vocabularies, config)')
    .option('--score <weights>', 'serving score saved with the model: task weights such as click=1,like=2 (default: weight 1 per task)')
    .addOption(new Option('--score-kind <kind>', 'serving score formula: sum (sum of w * p) or product (product of p ^ w)').choices(['sum', 'product']))
    .option('--resume <dir>', 'continue training from a checkpoint written by --out (saved after every epoch); options left out take the saved run\'s values, and --epochs may grow')
    .option('--pretrain-experts', 'omoe, mmoe: pre-train each expert alone under a temporary head in parallel worker threads, then fine-tune the assembled model')
    .option('--pretrain-epochs <n>', 'with --pretrain-experts: passes over the training data per expert (default: the value of --epochs)')
    .addOption(
      new Option(
        '--pretrain-head <kind>',
        `with --pretrain-experts: temporary head of expert k: task (task k mod the number of tasks) or all (every task) (default: ${TRAIN_DEFAULTS.pretrainHead})`,
      ).choices([...PRETRAIN_HEADS]),
    )
    .option('--pretrain-workers <n>', 'with --pretrain-experts: worker threads, each with its own device (default: the smaller of --experts and the available cores)')
    .option('--pretrain-serial', 'with --pretrain-experts: train the experts one after another in this process instead of in worker threads')
    .option('--pretrain-compare-serial', 'with --pretrain-experts: after the parallel run, train the experts again one after another in this process to report both wall times and check that the weights match (doubles the pre-training time)')
    .option('--finetune-lr-scale <x>', `with --pretrain-experts: factor on the learning rate of the parts that --finetune-lr-scope names, during the fine-tuning of the assembled model (default: ${TRAIN_DEFAULTS.finetuneLrScale})`)
    .addOption(
      new Option(
        '--finetune-lr-scope <part>',
        `with --pretrain-experts: what --finetune-lr-scale applies to: experts (the pre-trained expert layers; gates, towers, embeddings, wide part and bias tower keep --deep-lr and --wide-lr) or all (the whole model) (default: ${TRAIN_DEFAULTS.finetuneLrScope})`,
      ).choices(['experts', 'all']),
    )
    .option('--freeze-experts', 'with --pretrain-experts: leave the expert layers unchanged during fine-tuning (--resume keeps them frozen)')
    .option('--no-progress', 'print a line per epoch instead of a progress bar')
    .option('--json', 'print one JSON object as the last line');
  addBackendOptions(command).action(async (options: TrainCliOptions, self: Command) => runTrain(options, self));
}

/** Options that apply to some models only: option key, flag, and the models that read it. */
const MODEL_OPTIONS: [string, string, readonly string[]][] = [
  ['experts', '--experts', ['omoe', 'mmoe']],
  ['expertHidden', '--expert-hidden', ['omoe', 'mmoe']],
  ['gateDropout', '--gate-dropout', ['omoe', 'mmoe']],
  ['bottomHidden', '--bottom-hidden', ['shared-bottom']],
  ['towerHidden', '--tower-hidden', MULTI_TASK_KINDS],
  ['sharedHidden', '--shared-hidden', MULTI_TASK_KINDS],
  ['taskWeights', '--task-weights', MULTI_TASK_KINDS],
  ['wideTasks', '--wide-tasks', MULTI_TASK_KINDS],
  ['biasTower', '--bias-tower or --no-bias-tower', MULTI_TASK_KINDS],
  ['biasTasks', '--bias-tasks', MULTI_TASK_KINDS],
  ['biasHidden', '--bias-hidden', MULTI_TASK_KINDS],
  ['biasDropout', '--bias-dropout', MULTI_TASK_KINDS],
  ['hidden', '--hidden', ['deep', 'wide-deep']],
];

/** Throws when the command line gives an option that the chosen model does not read. */
function checkModelOptions(model: string, command: Command): void {
  for (const [key, flag, models] of MODEL_OPTIONS) {
    if (command.getOptionValueSource(key) === 'cli' && !models.includes(model)) {
      throw new Error(`${flag}: applies to --model ${models.join(', ')} only, and --model is ${model}; leave it out or choose one of those models`);
    }
  }
}

/** Options that a resumed run takes from its checkpoint, by option key, with their flags. */
const RESUMED_OPTIONS = [
  ['model', '--model'],
  ['batchSize', '--batch-size'],
  ['hidden', '--hidden'],
  ['dropout', '--dropout'],
  ['seed', '--seed'],
  ['schedule', '--schedule'],
  ['wideOptimizer', '--wide-optimizer'],
  ['deepOptimizer', '--deep-optimizer'],
  ['wideLr', '--wide-lr'],
  ['deepLr', '--deep-lr'],
  ['l1', '--l1'],
] as const;

/**
 * Returns `options` with the values that the run saved in `directory` recorded, for the
 * options the command line left at their defaults, `--epochs` included. An option of
 * RESUMED_OPTIONS given with another value is an error: the run would not continue as it
 * started.
 */
function withResumedOptions(options: TrainCliOptions, command: Command, recorded: Record<string, unknown>, directory: string): TrainCliOptions {
  const merged: Record<string, unknown> = { ...options };
  for (const [key, flag] of RESUMED_OPTIONS) {
    if (!(key in recorded)) continue;
    const saved = recorded[key];
    const savedText = Array.isArray(saved) ? saved.join(',') : String(saved);
    if (command.getOptionValueSource(key) !== 'cli') {
      merged[key] = savedText;
      continue;
    }
    const requested = String(options[key]);
    let same = requested === savedText;
    if (typeof saved === 'number') same = Number(requested) === saved;
    else if (Array.isArray(saved)) same = parseSizes(requested, flag).join(',') === savedText;
    if (!same) throw new Error(`--resume: ${flag} ${requested} differs from ${savedText}, which the run saved in ${directory} used; leave ${flag} out to continue with it`);
  }
  // --epochs may grow to train further; left out, the run ends where it was meant to.
  if (command.getOptionValueSource('epochs') !== 'cli' && typeof recorded.epochs === 'number') merged.epochs = String(recorded.epochs);
  return merged as unknown as TrainCliOptions;
}

async function runTrain(cliOptions: TrainCliOptions, command: Command): Promise<void> {
  const backend = await initBackend(cliOptions);
  const backendName = backend.name as BackendName;
  const resumed = cliOptions.resume ? loadModel(cliOptions.resume, backendName, { optimizer: true }) : null;
  const options = resumed?.config.training ? withResumedOptions(cliOptions, command, resumed.config.training.options, cliOptions.resume!) : cliOptions;
  checkModelOptions(options.model, command);
  const seed = parseInteger(options.seed, '--seed');
  const epochs = parseInteger(options.epochs, '--epochs', 1);
  const batchSize = parseInteger(options.batchSize, '--batch-size', 1);
  const hidden = parseSizes(options.hidden, '--hidden');
  const dropout = Number(options.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`--dropout: invalid value "${options.dropout}"; expected a rate in [0, 1)`);
  const wideLr = parsePositive(options.wideLr, '--wide-lr');
  const deepLr = parsePositive(options.deepLr, '--deep-lr');
  const l1 = Number(options.l1);
  if (!(l1 >= 0)) throw new Error(`--l1: invalid value "${options.l1}"; expected a number of at least 0`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const pretrain = pretrainSettings(options, epochs);

  const rows = options.rows === undefined ? undefined : parseInteger(options.rows, '--rows', 1);
  const opened = openData({ preset: options.preset, schema: options.schema, data: options.data, split: options.split, seed, rows });
  const evalSource = options.eval ? csvSource(opened.schema, options.eval) : (opened.test ?? opened.validation);
  const resumedEpochs = resumed?.config.training?.state.epoch ?? 0;
  if (resumed && resumedEpochs >= epochs) {
    throw new Error(`--resume: the run saved in ${options.resume} has finished ${resumedEpochs} epoch(s), and --epochs is ${epochs}; pass a larger --epochs to train further`);
  }

  // Checked before fitting and training, so that a bad option does not waste the run.
  if (options.out) checkCheckpointTarget(options.out);
  let score: ScoreConfig | undefined;
  if (options.score !== undefined || options.scoreKind !== undefined) {
    if (!options.out) throw new Error('--score and --score-kind set the serving score saved with the model; give --out too');
    const tasks = (resumed ? resumed.config.data.schema : opened.schema).labels.map((label) => label.name);
    score = resolveScore({ tasks, weights: options.score, kind: options.scoreKind }).score;
  }

  let state: FittedState;
  if (resumed) {
    state = resumed.config.data;
  } else {
    log(`fitting ${opened.train.name} ...`);
    state = (await fit(opened.schema, opened.train, { skipBadRows: options.skipBadRows })).state;
  }
  const trainSet = await encodeSource(opened.train, new Encoder(state, opened.train.columns), options.skipBadRows ?? false, opened.train.name);
  const evalSet = evalSource ? await encodeSource(evalSource, new Encoder(state, evalSource.columns), options.skipBadRows ?? false, evalSource.name) : undefined;
  log(`training rows ${trainSet.size}${evalSet ? `, evaluation rows ${evalSet.size}` : ''}; backend ${describeAdapter(backend)}`);

  const multiTask = (MULTI_TASK_KINDS as readonly string[]).includes(options.model);
  let model: SavedModel;
  if (resumed) {
    model = resumed.model;
  } else if (multiTask) {
    model = new MultiTaskModel(trainSet.layout, multiTaskConfig(options, options.model as MultiTaskKind, dropout, seed), backendName);
  } else {
    model = new WideAndDeep(trainSet.layout, { kind: options.model as WideDeepKind, hidden, dropout, seed }, backendName);
  }
  if (options.biasTower === true && model instanceof MultiTaskModel && model.biasTower === null) {
    throw new Error('--bias-tower: the data has no bias features; mark fields or numeric columns with feeds "bias" in the schema');
  }
  const schedule: Schedule = options.schedule === 'cosine' ? { kind: 'cosine' } : { kind: 'constant' };

  let pretrainReport: PretrainReport | null = null;
  if (pretrain && model instanceof MultiTaskModel) {
    log(`pre-training ${model.expertCount} experts ${pretrain.mode === 'serial' ? 'one after another' : 'in worker threads'} ...`);
    pretrainReport = await pretrainExperts(model, trainSet, {
      epochs: pretrain.epochs,
      batchSize,
      seed,
      head: pretrain.head,
      optimizer: optimizerConfig(options.deepOptimizer, 0),
      lr: deepLr,
      schedule,
      mode: pretrain.mode,
      workers: pretrain.workers,
      onExpert: (expert, how) => log(`expert ${expert.expert} (${how}, head ${expert.tasks.join('+')}): loss ${expert.loss.toFixed(4)}, ${expert.seconds.toFixed(1)} s`),
    });
    log(formatPretrain(pretrainReport));
  }
  const resumedOptions = resumed?.config.training?.options;
  const frozen = pretrain?.freeze === true || resumedOptions?.freezeExperts === true;
  if (frozen && model instanceof MultiTaskModel) freezeExperts(model);
  // A model with pre-trained experts keeps them in their own optimizer group, resumed runs too.
  const pretrained = pretrain !== null || resumedOptions?.pretrainExperts !== undefined;
  // What the checkpoint records of the pre-training, carried over by resumed runs.
  const pretrainRecord = pretrain
    ? { pretrainExperts: { epochs: pretrain.epochs, head: pretrain.head, mode: pretrain.mode, workers: pretrainReport?.workers ?? null }, finetuneLrScale: pretrain.lrScale, finetuneLrScope: pretrain.lrScope }
    : pretrained
      ? { pretrainExperts: resumedOptions?.pretrainExperts, finetuneLrScale: resumedOptions?.finetuneLrScale, finetuneLrScope: resumedOptions?.finetuneLrScope }
      : {};
  const expertScale = pretrain?.lrScale ?? 1;
  const restScale = pretrain?.lrScope === 'all' ? pretrain.lrScale : 1;

  const parts = model.parameterParts();
  const isExpert = (name: string) => pretrained && /^expert\d+\./.test(name);
  const expertParams = Object.fromEntries(Object.entries(parts.deep).filter(([name]) => isExpert(name)));
  const deepParams = Object.fromEntries(Object.entries(parts.deep).filter(([name]) => !isExpert(name)));
  const groups: ParamGroupOptions[] = [];
  if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: optimizerConfig(options.wideOptimizer, l1), lr: wideLr * restScale });
  if (Object.keys(deepParams).length > 0) groups.push({ name: 'deep', params: deepParams, optimizer: optimizerConfig(options.deepOptimizer, 0), lr: deepLr * restScale });
  if (Object.keys(expertParams).length > 0) groups.push({ name: 'experts', params: expertParams, optimizer: optimizerConfig(options.deepOptimizer, 0), lr: deepLr * expertScale });
  const optimizer = new Optimizer(groups);
  if (resumed?.config.training) {
    optimizer.loadStateDict({ ...resumed.config.training.optimizer, tensors: Object.fromEntries(Object.entries(resumed.optimizerTensors ?? {}).map(([name, t]) => [name, t.data as Float32Array])) });
  }

  const bar = options.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'epoch {epoch} [{bar}] {percentage}% | {value}/{total} steps | {eps} examples/s | loss {loss}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  let lastLoss = 'n/a';
  const gates: { epoch: number; step: number; weights: Record<string, number[]> }[] = [];
  const gateRows = evalSet ? Array.from({ length: Math.min(evalSet.size, GATE_REPORT_ROWS) }, (_, i) => i) : [];
  const gateData = evalSet && model instanceof MultiTaskModel && model.expertCount > 0 ? selectRows(evalSet, gateRows) : undefined;
  const trainOptions = {
    epochs,
    batchSize,
    seed,
    backend: backendName,
    schedule,
    evalEvery: options.evalEvery ? parseInteger(options.evalEvery, '--eval-every', 1) : ('epoch' as const),
    earlyStopping: options.earlyStopping ? { metric: 'auc' as const, patience: parseInteger(options.earlyStopping, '--early-stopping', 1) } : undefined,
    resume: resumed?.config.training?.state as TrainState | undefined,
    onStep: (event: { epoch: number; step: number; stepsPerEpoch: number; loss: number | null; examplesPerSecond: number }) => {
      if (event.loss !== null) lastLoss = event.loss.toFixed(4);
      if (!bar) return;
      if (event.step === 1) bar.start(event.stepsPerEpoch, 0, { epoch: event.epoch + 1, eps: '-', loss: lastLoss });
      bar.update(event.step, { epoch: event.epoch + 1, eps: Math.round(event.examplesPerSecond), loss: lastLoss });
      if (event.step === event.stepsPerEpoch) bar.stop();
    },
    onEvaluate: async (event: { epoch: number; step: number; metrics: Record<string, TaskMetrics> }) => {
      log(`epoch ${event.epoch + 1}: ${formatMetrics(event.metrics).replace(/\n/g, '; ')}`);
      if (gateData && model instanceof MultiTaskModel) {
        const weights = await meanGateWeights(model, gateData);
        if (weights) gates.push({ epoch: event.epoch + 1, step: event.step, weights });
      }
    },
  };
  // With --out, the checkpoint is saved after every epoch, so an interrupted run can resume from
  // its last finished epoch, and once more at the end when the run stopped within an epoch.
  let saved: { step: number; metrics: Record<string, TaskMetrics> | undefined } | null = null;
  const save = async (trainState: TrainState, metrics: Record<string, TaskMetrics> | undefined): Promise<void> => {
    if (!options.out) return;
    await saveModel(options.out, model, state, {
      score,
      optimizer,
      training: {
        options: {
          model: options.model, epochs, batchSize, ...(multiTask ? {} : { hidden }), dropout, seed, schedule: options.schedule, wideOptimizer: options.wideOptimizer, deepOptimizer: options.deepOptimizer, wideLr, deepLr, l1,
          ...pretrainRecord,
          ...(opened.split ? { split: { fractions: opened.split.fractions, seed: opened.split.seed } } : {}),
          ...(frozen ? { freezeExperts: true } : {}),
        },
        state: trainState,
      },
      metrics,
    });
    saved = { step: trainState.globalStep, metrics };
  };
  const result = await train(model, optimizer, trainSet, { ...trainOptions, onEpoch: async (event) => save(event.state, event.metrics) }, evalSet);
  bar?.stop();

  if (options.out) {
    const last = saved as { step: number; metrics: Record<string, TaskMetrics> | undefined } | null;
    if (last?.step !== result.state.globalStep || last.metrics !== result.finalMetrics) await save(result.state, result.finalMetrics);
    log(`saved the model to ${options.out}`);
  }

  const summary = {
    model: model.config.kind,
    metrics: metricsForJson(result.finalMetrics),
    epochs: result.epochs.map((epoch) => ({ epoch: epoch.epoch + 1, loss: epoch.loss, seconds: epoch.seconds, metrics: metricsForJson(epoch.metrics) })),
    examples: result.examples,
    examplesPerSecond: result.examplesPerSecond,
    seconds: result.seconds,
    stoppedEarly: result.stoppedEarly,
    ...(model instanceof MultiTaskModel ? { gates } : {}),
    ...(pretrainReport && pretrain ? { pretrain: { ...pretrainReport, finetuneLrScale: pretrain.lrScale, finetuneLrScope: pretrain.lrScope, frozenExperts: frozen } } : {}),
    backend: backend.name,
    adapter: backend.adapter,
    out: options.out ?? null,
  };
  if (options.json) {
    printJson(summary);
    return;
  }
  process.stdout.write(
    [
      `model ${summary.model} on ${describeAdapter(backend)}`,
      ...(pretrainReport ? [formatPretrain(pretrainReport)] : []),
      ...result.epochs.map((epoch) => `epoch ${epoch.epoch + 1}  loss ${epoch.loss.toFixed(4)}  ${epoch.seconds.toFixed(1)} s${epoch.metrics ? `  ${formatMetrics(epoch.metrics).replace(/\n/g, '; ')}` : ''}`),
      `final: ${formatMetrics(result.finalMetrics) || 'no evaluation data'}`,
      ...(gates.length > 0
        ? [`mean gate weight per expert, first evaluation: ${formatGates(gates[0].weights)}`, `mean gate weight per expert, last evaluation: ${formatGates(gates[gates.length - 1].weights)}`]
        : []),
      `${result.examples} examples in ${result.trainSeconds.toFixed(1)} s of training: ${Math.round(result.examplesPerSecond)} examples/s; ${result.seconds.toFixed(1)} s in all`,
    ].join('\n') + '\n',
  );
}

interface EvalCliOptions extends BackendOptions {
  model: string;
  data: string;
  part?: string;
  batchSize: string;
  skipBadRows?: boolean;
  json?: boolean;
  out?: string;
}

async function loadForRows(options: EvalCliOptions): Promise<{ backend: Backend; model: SavedModel; data: SparseBatch; skipped: number }> {
  const backend = await initBackend(options);
  const { model, config } = loadModel(options.model, backend.name as BackendName);
  let source = csvSource(config.data.schema, options.data);
  if (options.part !== undefined) {
    if (!(SPLIT_PARTS as readonly string[]).includes(options.part)) throw new Error(`--part: invalid value "${options.part}"; use one of ${SPLIT_PARTS.join(', ')}`);
    const split = config.training?.options.split as SplitSpec | undefined;
    if (split === undefined) {
      throw new Error(`--part: the model in ${options.model} was not trained on a split file (no split is saved with it); evaluate a separate file with --data alone`);
    }
    source = splitSource(source, split, options.part as SplitPart);
  }
  const counts = { skipped: 0 };
  const data = await encodeSource(source, new Encoder(config.data, source.columns), options.skipBadRows ?? false, options.data, counts);
  return { backend, model, data, skipped: counts.skipped };
}

/**
 * Scores raw rows for `sparrow predict`: label columns may be absent, as for `sparrow rank`.
 * With --skip-bad-rows the output starts with a `line` column, the line in the data file of
 * each scored row, so that scores still match their rows when some were skipped.
 */
async function runPredict(options: EvalCliOptions): Promise<void> {
  const batchSize = parseInteger(options.batchSize, '--batch-size', 1);
  if (options.out) checkOutputFile(options.out);
  const { backend, loaded, rows } = await loadForServing(options);
  let scores: Record<string, Float32Array>;
  try {
    scores = await predict(loaded.model, rows.data, { batchSize, backend: backend.name as BackendName });
  } finally {
    loaded.model.dispose();
  }

  const tasks = Object.keys(scores);
  const withLines = options.skipBadRows === true;
  const lines = [[...(withLines ? ['line'] : []), ...tasks].join(',')];
  for (let row = 0; row < rows.data.size; row++) {
    const values = tasks.map((task) => String(scores[task][row]));
    lines.push((withLines ? [String(rows.lines[row]), ...values] : values).join(','));
  }
  const text = `${lines.join('\n')}\n`;
  const summary = { rows: rows.data.size, skippedRows: rows.skipped, tasks, backend: backend.name, adapter: backend.adapter };
  if (options.out) {
    const out = options.out;
    writeFileAtomic(out, (fd) => writeAll(fd, new TextEncoder().encode(text)));
    if (options.json) printJson({ ...summary, out });
    else process.stderr.write(`wrote ${rows.data.size} scores to ${out}${rows.skipped > 0 ? ` (${rows.skipped} bad row(s) skipped; the line column names each scored row)` : ''}\n`);
  } else {
    process.stdout.write(text);
    if (options.json) printJson(summary);
  }
}

/** Adds `sparrow eval` and `sparrow predict`. */
export function registerEvalPredict(program: Command): void {
  const evalCommand = program
    .command('eval')
    .description('evaluate a saved model on a CSV file: AUC, accuracy at 0.5, log loss and calibration per task')
    .requiredOption('--model <dir>', 'checkpoint directory written by sparrow train --out')
    .requiredOption('--data <csv>', 'data with labels, in the format the model was trained on')
    .option('--part <name>', 'evaluate only this part (train, validation or test) of the split that the model was trained with (train --split, or a preset\'s default split); --data must be the file that was split')
    .option('--batch-size <n>', 'rows per forward pass', '4096')
    .option('--skip-bad-rows', 'skip and count bad CSV rows instead of stopping at the first one')
    .option('--json', 'print one JSON object as the last line');
  addBackendOptions(evalCommand).action(async (options: EvalCliOptions) => {
    const { backend, model, data, skipped } = await loadForRows(options);
    if (data.size === 0) throw new Error(`${options.data}: no data rows to evaluate${options.skipBadRows ? ' (every row was skipped as bad)' : ''}`);
    const metrics = await evaluate(model, data, { batchSize: parseInteger(options.batchSize, '--batch-size', 1), backend: backend.name as BackendName });
    if (options.json) printJson({ metrics: metricsForJson(metrics), rows: data.size, skippedRows: skipped, backend: backend.name, adapter: backend.adapter });
    else process.stdout.write(`${formatMetrics(metrics)}\n`);
  });

  const predictCommand = program
    .command('predict')
    .description('score raw CSV rows with a saved model: one column per task (probability for binary tasks)')
    .requiredOption('--model <dir>', 'checkpoint directory written by sparrow train --out')
    .requiredOption('--data <csv>', 'rows to score, in the format the model was trained on; label columns may be absent')
    .option('--out <csv>', 'write the scores to this file (atomically) instead of stdout')
    .option('--batch-size <n>', 'rows per forward pass', '4096')
    .option('--skip-bad-rows', 'skip and count bad CSV rows instead of stopping at the first one; the output then starts with a line column (the line of each scored row)')
    .option('--json', 'print a JSON summary as the last line (with --out)');
  addBackendOptions(predictCommand).action(async (options: EvalCliOptions) => runPredict(options));
}
