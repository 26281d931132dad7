// Helpers that the experiment drivers share: options, backend setup, encoding, models, statistics and tables.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';

import * as sp from '../../src/index.js';
import { writeAll, writeFileAtomic } from '../../src/io/atomic.js';
import { MultiTaskModel, type MultiTaskConfig } from '../../src/models/multitask.js';
import { train, type TaskMetrics, type TrainState } from '../../src/train/trainer.js';

export type ModelKind = MultiTaskConfig['kind'];

export const MODEL_KINDS: readonly ModelKind[] = ['mmoe', 'shared-bottom', 'omoe'];

/** Provenance of a table: date, backend, adapter, Node version, commit and command line. */
export interface RunInfo {
  date: string;
  backend: sp.BackendName;
  adapter: string;
  node: string;
  commit: string;
  command: string;
}

/** Sets up the backend; `webgpu` requests Dawn's OpenGL ES adapter (llvmpipe on a machine without a GPU). */
export async function setupBackend(name: string): Promise<{ backend: sp.BackendName; adapter: string }> {
  if (name !== 'cpu' && name !== 'webgpu') throw new Error(`--backend: invalid value "${name}"; use cpu or webgpu`);
  const backend = name === 'webgpu' ? await sp.init({ backend: 'webgpu', adapter: 'opengles', requireWebGPU: true }) : await sp.init({ backend: 'cpu' });
  const adapter = backend.name === 'cpu' ? 'cpu (TypeScript reference backend)' : `${backend.adapter.description || backend.adapter.device} (${backend.adapter.featureLevel})`;
  return { backend: backend.name as sp.BackendName, adapter };
}

/** Collects the facts printed above each table. The commit is the checked-out HEAD; the tree may have had uncommitted changes. */
export function runInfo(backend: sp.BackendName, adapter: string): RunInfo {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Outside a git checkout the commit stays "unknown".
  }
  return {
    date: new Date().toISOString().slice(0, 10),
    backend,
    adapter,
    node: process.version,
    commit,
    command: process.argv.slice(1).join(' '),
  };
}

/** Parses "a,b,c" into numbers, naming the option in the error. */
export function parseNumbers(value: string, name: string): number[] {
  const numbers = value.split(',').map((part) => Number(part.trim()));
  if (value.trim() === '' || numbers.some((number) => !Number.isFinite(number))) throw new Error(`${name}: invalid value "${value}"; expected comma-separated numbers`);
  return numbers;
}

/** Parses a positive integer option. */
export function parseCount(value: string, name: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new Error(`${name}: invalid value "${value}"; expected a positive integer`);
  return count;
}

/** Parses a comma-separated list of model kinds. */
export function parseModels(value: string): ModelKind[] {
  const kinds = value.split(',').map((part) => part.trim());
  const invalid = kinds.filter((kind) => !(MODEL_KINDS as readonly string[]).includes(kind));
  if (invalid.length > 0) throw new Error(`--models: invalid kinds [${invalid}]; choose from ${MODEL_KINDS.join(', ')}`);
  return kinds as ModelKind[];
}

/** Seeds 1..count, or the explicit list "3,7,9". */
export function parseSeeds(value: string): number[] {
  if (/^\d+$/.test(value.trim())) return Array.from({ length: parseCount(value, '--seeds') }, (_, i) => i + 1);
  return parseNumbers(value, '--seeds').map((seed) => parseCount(String(seed), '--seeds'));
}

/** Number of scalar parameters of a model. */
export function countParameters(model: sp.nn.Module): number {
  return model.parameters().reduce((total, tensor) => total + tensor.shape.reduce((size, dim) => size * dim, 1), 0);
}

/** Adam on every parameter of the model (wide and deep parts alike) at one learning rate. */
export function adamFor(model: MultiTaskModel, lr: number): sp.Optimizer {
  const parts = model.parameterParts();
  const groups: sp.ParamGroupOptions[] = [];
  if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr });
  if (Object.keys(parts.deep).length > 0) groups.push({ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr });
  return new sp.Optimizer(groups);
}

export interface EpochOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  backend: sp.BackendName;
  taskWeights?: number[];
}

/**
 * Trains one epoch at a time with a constant learning rate and calls `afterEpoch` after each,
 * so evaluating after epoch e gives the same model as a run of e epochs.
 */
export async function trainByEpoch(
  model: MultiTaskModel,
  optimizer: sp.Optimizer,
  trainSet: sp.SparseBatch,
  options: EpochOptions,
  afterEpoch: (epoch: number, loss: number) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let state: TrainState | undefined;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const result = await train(model, optimizer, trainSet, {
      epochs: options.epochs,
      stopAfterEpochs: epoch + 1,
      resume: state,
      batchSize: options.batchSize,
      seed: options.seed,
      backend: options.backend,
      taskWeights: options.taskWeights,
    });
    state = result.state;
    await afterEpoch(epoch + 1, result.epochs.at(-1)?.loss ?? NaN);
  }
  return (performance.now() - started) / 1000;
}

/** Summary statistics of repeated runs; `std` is the sample standard deviation (n - 1). */
export interface Summary {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const n = values.length;
  const mean = values.reduce((total, value) => total + value, 0) / n;
  const variance = n > 1 ? values.reduce((total, value) => total + (value - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

/** "mean ± std (min–max)" with `digits` decimals. */
export function formatSummary(summary: Summary, digits: number): string {
  const f = (value: number) => value.toFixed(digits);
  return `${f(summary.mean)} ± ${f(summary.std)} (${f(summary.min)}–${f(summary.max)})`;
}

/** Formats a Markdown table from cells that are already formatted. */
export function markdownTable(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** Writes `value` as indented JSON, creating the folder. The file is replaced atomically, so a stopped driver leaves its last complete version. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, (fd) => writeAll(fd, Buffer.from(`${JSON.stringify(value, null, 2)}\n`)));
}

/** Writes a progress line to stderr, so stdout keeps only the tables. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Returns a task's AUC or MSE from evaluate()'s result, or throws when it is undefined. */
export function metricOf(metrics: Record<string, TaskMetrics>, task: string, metric: 'auc' | 'mse'): number {
  const value = metrics[task]?.[metric];
  if (value === null || value === undefined) throw new Error(`metric ${metric} of task "${task}" is undefined: ${JSON.stringify(metrics[task])}`);
  return value;
}

export { MultiTaskModel, type MultiTaskConfig };
