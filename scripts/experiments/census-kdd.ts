// Experiment: MMoE, shared-bottom and OMoE on census-kdd (income, never_married), epochs chosen on validation, AUC on test.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import * as sp from '../../src/index.js';
import { evaluate } from '../../src/train/trainer.js';
import {
  MODEL_KINDS,
  MultiTaskModel,
  adamFor,
  countParameters,
  formatSummary,
  log,
  markdownTable,
  metricOf,
  parseCount,
  parseModels,
  parseNumbers,
  parseSeeds,
  runInfo,
  setupBackend,
  summarize,
  trainByEpoch,
  writeJson,
  type ModelKind,
  type MultiTaskConfig,
} from './common.js';

const USAGE = `usage: node census.mjs [options]
  --seeds <n|list>        seeds 1..n or a list; seed s draws the 50/25/25 split and initializes the models (default 5)
  --models <list>         mmoe, shared-bottom, omoe (default mmoe,shared-bottom,omoe)
  --epochs <n>            maximum passes over the training part; the reported epoch is chosen on validation (default 1)
  --batch-size <n>        rows per step (default 256)
  --lr <rate|list>        Adam learning rate of every model, or one per model as "mmoe=0.001,shared-bottom=0.003,omoe=0.003" (default 0.003)
  --experts <n>           experts of MMoE and OMoE (default 8)
  --expert-hidden <list>  hidden sizes of each expert (default 16)
  --tower-hidden <list>   hidden sizes of each task tower (default 8)
  --backend <name>        cpu or webgpu (default cpu)
  --validation-only       evaluate the validation part only and skip the test part, for tuning runs
  --out <file>            JSON file of every run and epoch (default .tmp/exp/census-kdd.json)
  --report <files>        print the table of JSON files written by --out (comma-separated, runs merged), without training;
                          runs are grouped by model, learning rate, expert hidden sizes and whether they evaluated the test part`;

const TASKS = ['income', 'never_married'] as const;

interface EpochRecord {
  epoch: number;
  trainLoss: number;
  validation: Record<string, number>;
  /** Absent in runs made with --validation-only. */
  test?: Record<string, number>;
}

interface RunRecord {
  seed: number;
  model: ModelKind;
  lr: number;
  expertHidden: number[];
  parameters: number;
  /** Hidden sizes of shared-bottom's bottom MLP; [] for the expert models. */
  bottomHidden: number[];
  epochs: EpochRecord[];
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '5' },
      models: { type: 'string', default: 'mmoe,shared-bottom,omoe' },
      epochs: { type: 'string', default: '1' },
      'batch-size': { type: 'string', default: '256' },
      lr: { type: 'string', default: '0.003' },
      experts: { type: 'string', default: '8' },
      'expert-hidden': { type: 'string', default: '16' },
      'tower-hidden': { type: 'string', default: '8' },
      backend: { type: 'string', default: 'cpu' },
      'validation-only': { type: 'boolean', default: false },
      out: { type: 'string', default: '.tmp/exp/census-kdd.json' },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.report !== undefined) {
    const runs = values.report.split(',').flatMap((path) => loadRuns(path.trim()));
    process.stdout.write(`${report(runs)}\n`);
    return;
  }
  const seeds = parseSeeds(values.seeds);
  const models = parseModels(values.models);
  const epochs = parseCount(values.epochs, '--epochs');
  const batchSize = parseCount(values['batch-size'], '--batch-size');
  const rates = parseRates(values.lr, models);
  const validationOnly = values['validation-only'];
  const base: Omit<MultiTaskConfig, 'kind' | 'seed'> = {
    experts: parseCount(values.experts, '--experts'),
    expertHidden: parseNumbers(values['expert-hidden'], '--expert-hidden'),
    towerHidden: parseNumbers(values['tower-hidden'], '--tower-hidden'),
    gateDropout: 0,
    wideTasks: [],
    biasTasks: [],
  };
  const { backend, adapter } = await setupBackend(values.backend);
  const info = runInfo(backend, adapter);
  log(`census-kdd: ${seeds.length} seeds x [${models}], up to ${epochs} epochs, batch ${batchSize}, Adam lr ${JSON.stringify(rates)}, ${JSON.stringify(base)}${validationOnly ? ', validation only' : ''}; ${adapter}`);

  const sizes: Record<number, { train: number; validation: number; test: number }> = {};
  const settings = { seeds, models, epochs, batchSize, lr: rates, validationOnly, model: base, split: '0.5,0.25,0.25', sizes };
  const started = performance.now();
  const runs: RunRecord[] = [];
  for (const seed of seeds) {
    const prepStarted = performance.now();
    const opened = sp.openData({ preset: 'census-kdd', split: '0.5,0.25,0.25', seed });
    const { state } = await sp.fit(opened.schema, opened.train);
    const encode = (source: sp.RowSource) => sp.encodeAll(source, new sp.Encoder(state, source.columns));
    const trainSet = await encode(opened.train);
    const validationSet = await encode(opened.validation!);
    const testSet = validationOnly ? undefined : await encode(opened.test!);
    sizes[seed] = { train: trainSet.size, validation: validationSet.size, test: testSet?.size ?? 0 };
    log(`seed ${seed}: ${trainSet.size} / ${validationSet.size} / ${testSet?.size ?? 'unused'} rows, prepared in ${((performance.now() - prepStarted) / 1000).toFixed(1)} s`);

    for (const kind of models) {
      // shared-bottom's default bottom is one layer sized to match MMoE's dense parameter count.
      const config: MultiTaskConfig = { ...base, kind, seed };

      const model = new MultiTaskModel(trainSet.layout, config, backend);
      const optimizer = adamFor(model, rates[kind]);
      const record: RunRecord = { seed, model: kind, lr: rates[kind], expertHidden: model.config.expertHidden, parameters: countParameters(model), bottomHidden: model.config.bottomHidden, epochs: [], seconds: 0 };
      record.seconds = await trainByEpoch(model, optimizer, trainSet, { epochs, batchSize, seed, backend }, async (epoch, trainLoss) => {
        const aucs = (metrics: Awaited<ReturnType<typeof evaluate>>) => Object.fromEntries(TASKS.map((task) => [task, metricOf(metrics, task, 'auc')]));
        const validation = await evaluate(model, validationSet, { backend });
        const test = testSet === undefined ? undefined : aucs(await evaluate(model, testSet, { backend }));
        record.epochs.push({ epoch, trainLoss, validation: aucs(validation), test });
        log(`seed ${seed} ${kind} epoch ${epoch}: loss ${trainLoss.toFixed(4)}, validation AUC ${TASKS.map((task) => aucs(validation)[task].toFixed(4)).join(' / ')}`);
      });
      runs.push(record);
      model.dispose();
      // Written after every run, so a stopped experiment keeps the runs that finished.
      writeJson(values.out, { info, settings, seconds: (performance.now() - started) / 1000, complete: false, runs });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  writeJson(values.out, { info, settings, seconds, complete: true, runs });
  process.stdout.write(`${report(runs)}\n\n${seconds.toFixed(0)} s in all; every run and epoch is in ${values.out}\n`);
}

/**
 * Parses --lr: one rate for every model, or "kind=rate" pairs that name each model in --models
 * exactly once.
 */
function parseRates(value: string, models: ModelKind[]): Record<ModelKind, number> {
  const rates = {} as Record<ModelKind, number>;
  if (!value.includes('=')) {
    const [rate] = parseNumbers(value, '--lr');
    if (value.includes(',') || !(rate > 0)) throw new Error(`--lr: invalid value "${value}"; expected one positive rate or "kind=rate" pairs such as mmoe=0.001,shared-bottom=0.003`);
    for (const kind of models) rates[kind] = rate;
    return rates;
  }
  for (const pair of value.split(',')) {
    const [kind, rateText, extra] = pair.split('=').map((part) => part.trim());
    const rate = Number(rateText);
    if (extra !== undefined || rateText === undefined || rateText === '' || !Number.isFinite(rate) || !(rate > 0)) throw new Error(`--lr: invalid pair "${pair}" in "${value}"; expected kind=rate with a positive rate, such as mmoe=0.001`);
    if (!(MODEL_KINDS as readonly string[]).includes(kind)) throw new Error(`--lr: invalid model "${kind}" in "${value}"; choose from ${MODEL_KINDS.join(', ')}`);
    const parsed = kind as ModelKind;
    if (!models.includes(parsed)) throw new Error(`--lr: "${kind}" is not in --models [${models}]; give a rate only for the models that train`);
    if (parsed in rates) throw new Error(`--lr: "${kind}" has two rates in "${value}"; give each model one`);
    rates[parsed] = rate;
  }
  const missing = models.filter((kind) => !(kind in rates));
  if (missing.length > 0) throw new Error(`--lr: no rate for [${missing}] in "${value}"; give every model in --models a rate`);
  return rates;
}

interface SavedFile {
  settings: { lr: number | Partial<Record<ModelKind, number>>; model: { expertHidden: number[] } };
  runs: RunRecord[];
}

/**
 * Reads the runs of a JSON file written by --out. Files written before runs recorded their own
 * learning rate and expert sizes take them from the file's settings.
 */
function loadRuns(path: string): RunRecord[] {
  const saved = JSON.parse(readFileSync(path, 'utf8')) as SavedFile;
  return saved.runs.map((run) => ({
    ...run,
    lr: run.lr ?? (typeof saved.settings.lr === 'number' ? saved.settings.lr : saved.settings.lr[run.model]),
    expertHidden: run.expertHidden ?? saved.settings.model.expertHidden,
  }));
}

/** Averages over runs the mean validation AUC of both tasks, after each epoch that every run reached. */
function validationByEpoch(runs: RunRecord[]): number[] {
  const epochs = Math.min(...runs.map((run) => run.epochs.length));
  const means: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const scores = runs.map((run) => TASKS.reduce((total, task) => total + run.epochs[epoch - 1].validation[task], 0) / TASKS.length);
    means.push(summarize(scores).mean);
  }
  return means;
}

/**
 * Builds one table row per model, learning rate, expert sizes and test evaluation. A row gives the mean validation
 * AUC after each epoch, the epoch with the best one, and the validation and test AUC per task at
 * that epoch. The test columns appear only when some runs evaluated the test part.
 */
function report(runs: RunRecord[]): string {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    // Tuning runs (no test part) stay apart from final runs of the same setting.
    const key = `${run.model} ${run.lr} ${run.expertHidden} ${run.epochs[0]?.test === undefined ? 'validation only' : 'tested'}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const withTest = runs.some((run) => run.epochs.some((record) => record.test !== undefined));

  const rows: string[][] = [];
  for (const selected of groups.values()) {
    const byEpoch = validationByEpoch(selected);
    const chosen = byEpoch.indexOf(Math.max(...byEpoch));
    const at = (run: RunRecord) => run.epochs[chosen];
    const validationOf = (task: string) => summarize(selected.map((run) => at(run).validation[task])).mean.toFixed(4);
    const first = selected[0];
    const row = [
      first.model,
      String(first.lr),
      first.model === 'shared-bottom' ? `${first.expertHidden} (bottom ${first.bottomHidden})` : first.expertHidden.join(','),
      String(first.parameters),
      selected.map((run) => run.seed).join(','),
      byEpoch.map((value) => value.toFixed(4)).join(', '),
      String(chosen + 1),
      `${validationOf('income')} / ${validationOf('never_married')}`,
    ];
    if (withTest) {
      const tested = selected.every((run) => at(run).test !== undefined);
      const testAt = (task: string) => selected.map((run) => at(run).test![task]);
      row.push(
        tested ? formatSummary(summarize(testAt('income')), 4) : 'not evaluated',
        tested ? formatSummary(summarize(testAt('never_married')), 4) : 'not evaluated',
        tested ? selected.map((run) => `${at(run).test!.income.toFixed(4)}/${at(run).test!.never_married.toFixed(4)}`).join(', ') : '',
      );
    }
    rows.push(row);
  }

  const headers = ['model', 'learning rate', 'expert hidden (shared-bottom: matched to)', 'parameters', 'seeds', 'validation AUC by epoch, mean of both tasks', 'chosen epoch', 'validation AUC income / never_married'];
  if (withTest) headers.push('test AUC income', 'test AUC never_married', 'per seed (income/never_married)');
  return markdownTable(headers, rows);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 1;
}
