// The train-adult case: Wide & Deep training throughput on UCI Adult, Sparrow beside the same model in TF.js.

import { performance } from 'node:perf_hooks';

import { TRAIN_DEFAULTS } from '../src/cli/train.js';
import type { SparseBatch } from '../src/data/batch.js';
import { encodeAll } from '../src/data/batches.js';
import { openData } from '../src/data/dataset.js';
import { Encoder } from '../src/data/encode.js';
import { fit } from '../src/data/fit.js';

import { median, type BenchResult, type Impl } from './harness.js';
import type { GridContext } from './matmul.js';
import { createSparrowTrainRunner } from './peers/sparrow-train.js';
import { createTfjsWideDeepRunner } from './peers/tfjs-widedeep.js';

export const TRAIN_ADULT_CASE = 'train-adult';

const BATCH_SIZES = [256, 4096];

/** Settings shared by the Sparrow and TF.js runners, taken from the defaults of `sparrow train`. */
export interface TrainRunnerOptions {
  batchSize: number;
  seed: number;
  /** Hidden layer sizes of the deep part. */
  hidden: number[];
  /** Learning rate of Adam, the same for the wide and the deep part and constant over the run. */
  learningRate: number;
  /** Read the loss back every this many steps and after the last step. */
  lossEvery: number;
}

/** Work done by one call of `runEpoch`. */
export interface EpochRun {
  examples: number;
  steps: number;
  /** Mean of the losses read back during the call. */
  loss: number;
}

/** A model and its optimizer, ready to train on the encoded data set. */
export interface TrainRunner {
  /**
   * Trains epoch `epoch` (its shuffle depends on the epoch), or only its first `maxSteps` steps,
   * and resolves when the device has finished the work.
   */
  runEpoch(epoch: number, maxSteps?: number): Promise<EpochRun>;
  dispose(): void;
}

/** A row of this case: the harness's record plus what the epoch timing needs to be read right. */
interface TrainAdultResult extends BenchResult {
  /** Training rows in one epoch. */
  rows: number;
  /** Steps of the untimed first run, whose time is `firstRunMs`. */
  warmupSteps?: number;
  /** Mean loss read back during the last timed call, a check that the model trained. */
  loss?: number;
  /** Steps behind an extrapolated epoch time. */
  timedSteps?: number;
  /** True when `medianMs` is an epoch time extrapolated from `timedSteps` steps. */
  extrapolated?: boolean;
}

const GPU_IMPLS: readonly Impl[] = ['sparrow-webgpu', 'tfjs-webgpu'];

/**
 * Timing budget. The WebGPU implementations train whole epochs. They first train the first
 * `WARMUP_STEPS` steps of an untimed epoch (pipeline compilation, buffer pools), then 3 timed
 * epochs, or 2 when the pace of the warm-up steps projects an epoch longer than `SLOW_EPOCH_MS`.
 * The CPU and WASM implementations train too slowly for that (TF.js on the CPU trains a few
 * hundred examples/s, minutes an epoch). After one warm-up step they time as many steps as fit in
 * about `STEP_BUDGET_MS`, at least 1, and the epoch time is extrapolated from those steps.
 */
const WARMUP_STEPS = 10;
const SLOW_EPOCH_MS = 8_000;
const STEP_BUDGET_MS = 8_000;

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Fits and encodes `adult.data` as `sparrow train --preset adult` does. */
async function loadAdult(): Promise<SparseBatch> {
  const opened = openData({ preset: 'adult', seed: TRAIN_DEFAULTS.seed });
  const { state } = await fit(opened.schema, opened.train);
  return encodeAll(opened.train, new Encoder(state, opened.train.columns));
}

/** Log loss of predicting the base rate of the labels for every row: a model that learned anything is below it. */
function baseRateLogLoss(data: SparseBatch): number {
  const labels = data.labels[data.layout.tasks[0].name];
  const rate = labels.reduce((total, label) => total + label, 0) / labels.length;
  return -(rate * Math.log(rate) + (1 - rate) * Math.log(1 - rate));
}

function createRunner(impl: Impl, data: SparseBatch, options: TrainRunnerOptions): Promise<TrainRunner> {
  switch (impl) {
    case 'sparrow-webgpu':
    case 'sparrow-cpu':
      return createSparrowTrainRunner(impl, data, options);
    case 'tfjs-webgpu':
    case 'tfjs-wasm':
    case 'tfjs-cpu':
      return createTfjsWideDeepRunner(impl, data, options);
  }
}

async function timeEpoch(runner: TrainRunner, epoch: number, maxSteps?: number): Promise<{ ms: number; run: EpochRun }> {
  const start = performance.now();
  const run = await runner.runEpoch(epoch, maxSteps);
  return { ms: performance.now() - start, run };
}

/**
 * Returns the reason to record a failed first step as skipped: TF.js 4.22's wasm backend has no
 * `UnsortedSegmentSum` kernel, which the gradient of a gather (the embedding lookups) needs.
 */
function missingKernelReason(impl: Impl, error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const kernel = /Kernel '(\w+)' not registered/.exec(message)?.[1];
  if (kernel === undefined || !impl.startsWith('tfjs-')) return undefined;
  return `cannot train this model: the first training step failed with "${message}"; the gradient of gather needs ${kernel}`;
}

/** Trains warm-up steps, then 2 or 3 timed epochs. */
async function measureEpochs(runner: TrainRunner, result: TrainAdultResult, stepsPerEpoch: number, label: string): Promise<void> {
  const warmup = await timeEpoch(runner, 0, WARMUP_STEPS);
  result.firstRunMs = warmup.ms;
  result.warmupSteps = warmup.run.steps;

  const epochEstimateMs = (warmup.ms / warmup.run.steps) * stepsPerEpoch;
  const epochs = epochEstimateMs > SLOW_EPOCH_MS ? 2 : 3;
  const times: number[] = [];
  let last = warmup.run;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const timed = await timeEpoch(runner, epoch);
    times.push(timed.ms);
    last = timed.run;
  }

  result.medianMs = median(times);
  result.samples = times.length;
  result.examplesPerSecond = result.rows / (result.medianMs / 1000);
  result.loss = last.loss;
  progress(
    `${label}: ${warmup.run.steps} warm-up steps in ${warmup.ms.toFixed(0)} ms, epochs ${times.map((ms) => ms.toFixed(0)).join(', ')} ms, ` +
      `${result.examplesPerSecond.toFixed(0)} examples/s, loss ${last.loss.toFixed(4)}`,
  );
}

/** Trains one warm-up step, then the first steps of the next epoch, and extrapolates the epoch time. */
async function measureSteps(runner: TrainRunner, result: TrainAdultResult, stepsPerEpoch: number, label: string): Promise<void> {
  const warmup = await timeEpoch(runner, 0, 1);
  result.firstRunMs = warmup.ms;
  result.warmupSteps = 1;

  const steps = Math.min(stepsPerEpoch, Math.max(1, Math.round(STEP_BUDGET_MS / warmup.ms)));
  const timed = await timeEpoch(runner, 1, steps);
  result.examplesPerSecond = timed.run.examples / (timed.ms / 1000);
  result.medianMs = (result.rows / timed.run.examples) * timed.ms;
  result.samples = 1;
  result.loss = timed.run.loss;
  if (timed.run.steps < stepsPerEpoch) {
    result.timedSteps = timed.run.steps;
    result.extrapolated = true;
  }
  progress(
    `${label}: warm-up step ${warmup.ms.toFixed(0)} ms, ${timed.run.steps} of ${stepsPerEpoch} steps in ${timed.ms.toFixed(0)} ms, ` +
      `${result.examplesPerSecond.toFixed(0)} examples/s${result.extrapolated ? ' (epoch time extrapolated)' : ''}`,
  );
}

async function measure(impl: Impl, data: SparseBatch, options: TrainRunnerOptions, result: TrainAdultResult): Promise<void> {
  const label = `${TRAIN_ADULT_CASE} ${result.shape} ${impl}`;
  const stepsPerEpoch = Math.ceil(data.size / options.batchSize);

  let runner: TrainRunner | null = null;
  try {
    runner = await createRunner(impl, data, options);
    if (GPU_IMPLS.includes(impl)) {
      await measureEpochs(runner, result, stepsPerEpoch, label);
    } else {
      await measureSteps(runner, result, stepsPerEpoch, label);
    }

    const loss = result.loss ?? NaN;
    const ceiling = baseRateLogLoss(data);
    if (!Number.isFinite(loss)) throw new Error(`training returned an invalid loss of ${loss}`);
    if (!result.extrapolated && loss >= ceiling) {
      throw new Error(`mean loss ${loss.toFixed(4)} after the timed epochs is not below the base-rate log loss ${ceiling.toFixed(4)}, so the training is wrong`);
    }
  } catch (error) {
    result.medianMs = null;
    delete result.examplesPerSecond;
    const reason = result.firstRunMs === undefined ? missingKernelReason(impl, error) : undefined;
    if (reason !== undefined) {
      result.skipped = reason;
      progress(`${label}: skipped (${reason})`);
    } else {
      result.error = error instanceof Error ? error.message : String(error);
      progress(`${label}: failed: ${result.error}`);
    }
  } finally {
    runner?.dispose();
  }
}

/**
 * Runs the case. `adult.data` is encoded once. Then, for batch sizes 256 and 4096, every
 * implementation in `context.impls` trains the same Wide & Deep model with Adam. Its deep part
 * feeds 8 categorical fields (embeddings of dimension 8) and 5 numeric columns to hidden layers
 * of 256 and 128. Its wide part covers 12 fields, 3 of them hashed crosses. `medianMs` is the
 * time of one epoch, so the ratios in the table are ratios of examples per second.
 */
export async function runTrainAdult(context: GridContext): Promise<BenchResult[]> {
  const results: TrainAdultResult[] = [];

  let data: SparseBatch;
  try {
    data = await loadAdult();
  } catch (error) {
    const reason = `Adult not loaded: ${error instanceof Error ? error.message : String(error)}`;
    progress(`${TRAIN_ADULT_CASE}: skipped (${reason})`);
    for (const batchSize of BATCH_SIZES) {
      for (const impl of context.impls) {
        results.push({ case: TRAIN_ADULT_CASE, shape: `batch ${batchSize}`, impl, medianMs: null, rows: 0, skipped: reason });
      }
    }
    return results;
  }

  for (const batchSize of BATCH_SIZES) {
    const options: TrainRunnerOptions = {
      batchSize,
      seed: TRAIN_DEFAULTS.seed,
      hidden: TRAIN_DEFAULTS.hidden,
      learningRate: TRAIN_DEFAULTS.deepLr,
      lossEvery: 20,
    };

    for (const impl of context.impls) {
      const result: TrainAdultResult = { case: TRAIN_ADULT_CASE, shape: `batch ${batchSize}`, impl, medianMs: null, rows: data.size };
      if (GPU_IMPLS.includes(impl) && context.gpu === null) {
        result.skipped = `no WebGPU adapter: ${context.noGpuReason ?? 'none found'}`;
      } else {
        await measure(impl, data, options, result);
      }
      results.push(result);
    }
  }
  return results;
}
