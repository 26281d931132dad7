// The `sparrow demo` command: wide, deep and wide & deep trained on foodio, compared on targeted and exploratory queries.

import { performance } from 'node:perf_hooks';

import { Command } from 'commander';

import type { Backend, BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { encodeAll } from '../data/batches.js';
import { BadRows } from '../data/csv.js';
import { openData } from '../data/dataset.js';
import { Encoder } from '../data/encode.js';
import { fit } from '../data/fit.js';
import type { RowSource } from '../data/source.js';
import { rocAuc } from '../metrics/auc.js';
import { WideAndDeep, type WideDeepKind } from '../models/wide-deep.js';
import { Optimizer, type ParamGroupOptions } from '../optim/optimizer.js';
import { predict, train } from '../train/trainer.js';
import { addBackendOptions, initBackend, parseInteger, printJson, type BackendOptions } from './common.js';

/**
 * Settings of `sparrow demo`. Every model gets the same data, epochs, batch size and seed.
 * The Adam learning rates are higher than `sparrow train`'s 0.001 so that a few epochs on
 * 20,000 rows converge: at 0.001 the wide model's test AUC was still 0.78 after 2 epochs.
 */
export const DEMO_DEFAULTS = {
  rows: 20_000,
  seed: 1,
  epochs: 4,
  batchSize: 256,
  hidden: [64, 32],
  wideLr: 0.05,
  deepLr: 0.01,
};

export const DEMO_MODELS: readonly WideDeepKind[] = ['wide', 'deep', 'wide-deep'];

export interface DemoOptions {
  /** Training rows of foodio; the test part has a quarter as many. */
  rows?: number;
  seed?: number;
  epochs?: number;
  batchSize?: number;
  /** Hidden layer sizes of the deep part. */
  hidden?: number[];
  /** Adam learning rate of the wide part. */
  wideLr?: number;
  /** Adam learning rate of the deep part. */
  deepLr?: number;
  backend: BackendName;
  /** Receives a line per finished step of the demo (for stderr). */
  log?: (line: string) => void;
}

/** Test-part metrics of one model, all ROC AUC of the `consumed` label. */
export interface DemoModelResult {
  /** AUC on the rows of targeted queries ("order seafood/03"). */
  aucTargeted: number | null;
  /** AUC on the rows of exploratory queries ("seafood"). */
  aucExploratory: number | null;
  /**
   * AUC on the exploratory rows with a held-out item, relevant or not: pairs that never
   * occur in training.
   */
  aucExploratoryHeldOut: number | null;
  /** AUC on every test row. */
  auc: number | null;
  /** Seconds of training and prediction. */
  seconds: number;
}

export interface DemoResult {
  results: Record<WideDeepKind, DemoModelResult>;
  rows: { train: number; test: number; targeted: number; exploratory: number; exploratoryHeldOut: number };
  settings: Required<Omit<DemoOptions, 'log' | 'backend'>>;
  backend: BackendName;
  seconds: number;
}

/** Per test row: the masks of the query slices that the demo reports. */
interface QuerySlices {
  targeted: Float32Array;
  exploratory: Float32Array;
  exploratoryHeldOut: Float32Array;
}

/** Reads the evaluation-only columns query_kind and pair_in_train of the test rows into slice masks. */
async function querySlices(source: RowSource): Promise<QuerySlices> {
  const kindColumn = source.columns.indexOf('query_kind');
  const pairColumn = source.columns.indexOf('pair_in_train');
  const targeted: number[] = [];
  const exploratory: number[] = [];
  const heldOut: number[] = [];
  for await (const row of source.rows(new BadRows(false))) {
    const isExploratory = row.values[kindColumn] === 'exploratory';
    const pairInTrain = String(row.values[pairColumn]) === '1';
    targeted.push(isExploratory ? 0 : 1);
    exploratory.push(isExploratory ? 1 : 0);
    heldOut.push(isExploratory && !pairInTrain ? 1 : 0);
  }
  return { targeted: Float32Array.from(targeted), exploratory: Float32Array.from(exploratory), exploratoryHeldOut: Float32Array.from(heldOut) };
}

function countOf(mask: Float32Array): number {
  return mask.reduce((total, value) => total + value, 0);
}

/**
 * Generates foodio with `seed`, trains a wide, a deep and a wide & deep model on its train
 * part with the same settings, and measures AUC per query slice on its test part.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const settings = {
    rows: options.rows ?? DEMO_DEFAULTS.rows,
    seed: options.seed ?? DEMO_DEFAULTS.seed,
    epochs: options.epochs ?? DEMO_DEFAULTS.epochs,
    batchSize: options.batchSize ?? DEMO_DEFAULTS.batchSize,
    hidden: options.hidden ?? DEMO_DEFAULTS.hidden,
    wideLr: options.wideLr ?? DEMO_DEFAULTS.wideLr,
    deepLr: options.deepLr ?? DEMO_DEFAULTS.deepLr,
  };
  const log = options.log ?? (() => {});
  const started = performance.now();

  const opened = openData({ preset: 'foodio', rows: settings.rows, seed: settings.seed });
  const testSource = opened.test!;
  const { state } = await fit(opened.schema, opened.train);
  const trainSet = await encodeAll(opened.train, new Encoder(state, opened.train.columns));
  const testSet = await encodeAll(testSource, new Encoder(state, testSource.columns));
  const slices = await querySlices(testSource);
  // The masks line up with the encoded rows because encodeAll throws on a bad row instead of skipping it.
  if (slices.targeted.length !== testSet.size) throw new Error(`demo: the query-slice masks have ${slices.targeted.length} rows but the encoded test set has ${testSet.size}`);
  const labels = testSet.labels.consumed;
  log(`foodio seed ${settings.seed}: ${trainSet.size} training rows, ${testSet.size} test rows`);

  const results = {} as Record<WideDeepKind, DemoModelResult>;
  for (const kind of DEMO_MODELS) {
    const modelStarted = performance.now();
    const model = new WideAndDeep(trainSet.layout, { kind, hidden: settings.hidden, seed: settings.seed }, options.backend);
    const parts = model.parameterParts();
    const groups: ParamGroupOptions[] = [];
    if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: settings.wideLr });
    if (Object.keys(parts.deep).length > 0) groups.push({ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: settings.deepLr });
    const optimizer = new Optimizer(groups);

    await train(model, optimizer, trainSet, { epochs: settings.epochs, batchSize: settings.batchSize, seed: settings.seed, backend: options.backend });
    const scores = (await predict(model, testSet, { backend: options.backend })).consumed;
    const aucOn = (mask?: Float32Array) => rocAuc(scores, labels, mask ? { mask } : {}).value;
    results[kind] = {
      aucTargeted: aucOn(slices.targeted),
      aucExploratory: aucOn(slices.exploratory),
      aucExploratoryHeldOut: aucOn(slices.exploratoryHeldOut),
      auc: aucOn(),
      seconds: (performance.now() - modelStarted) / 1000,
    };
    optimizer.dispose();
    model.dispose();
    log(`${kind}: trained and evaluated in ${results[kind].seconds.toFixed(1)} s`);
  }

  return {
    results,
    rows: {
      train: trainSet.size,
      test: testSet.size,
      targeted: countOf(slices.targeted),
      exploratory: countOf(slices.exploratory),
      exploratoryHeldOut: countOf(slices.exploratoryHeldOut),
    },
    settings,
    backend: options.backend,
    seconds: (performance.now() - started) / 1000,
  };
}

const MODEL_LABELS: Record<WideDeepKind, string> = { wide: 'wide', deep: 'deep', 'wide-deep': 'wide & deep' };

/** Formats the results as a table: one row per model, one column per query slice. */
export function formatDemoTable(result: DemoResult): string {
  const format = (value: number | null) => (value === null ? 'undefined' : value.toFixed(4));
  const header = ['model', 'targeted', 'exploratory', 'exploratory, held-out'];
  const rows = DEMO_MODELS.map((kind) => {
    const r = result.results[kind];
    return [MODEL_LABELS[kind], format(r.aucTargeted), format(r.aucExploratory), format(r.aucExploratoryHeldOut)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function describeAdapter(backend: Backend): string {
  return backend.name === 'cpu' ? 'cpu' : `${backend.adapter.description || backend.adapter.device} (${backend.adapter.featureLevel})`;
}

interface DemoCliOptions extends BackendOptions {
  rows: string;
  seed: string;
  epochs: string;
  batchSize: string;
  json?: boolean;
}

/** Adds `sparrow demo`. */
export function registerDemo(program: Command): void {
  const command = program
    .command('demo')
    .description('train wide, deep and wide & deep on the synthetic foodio search log and compare their test AUC on targeted and exploratory queries')
    .option('--rows <n>', 'training rows to generate (the test part has a quarter as many)', String(DEMO_DEFAULTS.rows))
    .option('--seed <n>', 'seed of the generator, initialization and shuffling', String(DEMO_DEFAULTS.seed))
    .option('--epochs <n>', 'passes over the training rows, for each model', String(DEMO_DEFAULTS.epochs))
    .option('--batch-size <n>', 'rows per training step', String(DEMO_DEFAULTS.batchSize))
    .option('--json', 'print one JSON object as the last line');
  addBackendOptions(command).action(async (options: DemoCliOptions) => {
    const backend = await initBackend(options);
    const log = (line: string) => process.stderr.write(`${line}\n`);
    log(`backend ${describeAdapter(backend)}`);
    const result = await runDemo({
      rows: parseInteger(options.rows, '--rows', 1),
      seed: parseInteger(options.seed, '--seed'),
      epochs: parseInteger(options.epochs, '--epochs', 1),
      batchSize: parseInteger(options.batchSize, '--batch-size', 1),
      backend: backend.name as BackendName,
      log,
    });

    if (options.json) {
      printJson({ ...result, adapter: getBackend(result.backend).adapter });
      return;
    }
    process.stdout.write(
      [
        `test AUC of "consumed" by query kind (foodio, ${result.rows.train} training rows, seed ${result.settings.seed}, ${result.settings.epochs} epochs)`,
        formatDemoTable(result),
        `test rows: ${result.rows.targeted} targeted, ${result.rows.exploratory} exploratory, ${result.rows.exploratoryHeldOut} of them with a held-out item (a pair never seen in training)`,
        `${result.seconds.toFixed(1)} s on ${describeAdapter(backend)}`,
      ].join('\n') + '\n',
    );
  });
}
