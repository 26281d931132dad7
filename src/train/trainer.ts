// The training loop: shuffled epochs, joint backpropagation, periodic evaluation, early stopping.

import type { BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { epochBatches } from '../data/batches.js';
import { selectRows, type SparseBatch } from '../data/batch.js';
import { MetricsAccumulator } from '../metrics/accumulator.js';
import type { BinaryMetrics } from '../metrics/binary.js';
import { Dropout } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { tensor } from '../ops/creation.js';
import { sigmoid, where } from '../ops/elementwise.js';
import type { Optimizer } from '../optim/optimizer.js';
import { noGrad, tidy } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { multiTaskLoss } from './loss.js';
// Installs backward() on tensors.
import '../autograd/backward.js';

/** A model that maps a host batch to outputs [B, T]: logits for binary tasks, values for numeric ones. */
export interface TrainableModel extends Module {
  forward(batch: SparseBatch): Tensor;
  /** The model's own loss weights in task order, used when the options give none. */
  readonly lossWeights?: number[];
}

export type Schedule = { kind: 'constant' } | { kind: 'cosine'; minFactor?: number } | { kind: 'step'; every: number; factor: number };

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  backend: BackendName;
  /** Evaluate every this many steps, or once per epoch (default). */
  evalEvery?: number | 'epoch';
  /** Stop when the first task's metric has not improved for `patience` evaluations. */
  earlyStopping?: { metric: 'auc' | 'logloss'; patience: number };
  /** Scales the base learning rate of every group except FTRL ones by step (default constant). */
  schedule?: Schedule;
  /** Read the loss back every this many steps for progress reports (default 20). */
  lossEvery?: number;
  /** Per-task loss weights (default: the model's `lossWeights`, else 1 each). */
  taskWeights?: number[];
  /** Called after each step with a recent loss when one was read back. */
  onStep?: (event: StepEvent) => void;
  /** Called after each evaluation, in evaluation mode; training waits for a returned promise. */
  onEvaluate?: (event: EvaluationEvent) => void | Promise<void>;
  /**
   * Called at the end of each epoch, after its evaluation, with the state to resume from (the
   * next epoch), for example to save a checkpoint. Training waits for a returned promise.
   */
  onEpoch?: (event: { epoch: number; state: TrainState; metrics?: Record<string, TaskMetrics> }) => void | Promise<void>;
  /** Continue from this state (epoch and step within it) of an earlier run. */
  resume?: TrainState;
  /** Stop after this many epochs (the schedule still spans `epochs`), e.g. to checkpoint and resume. */
  stopAfterEpochs?: number;
}

export interface StepEvent {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  examples: number;
  loss: number | null;
  examplesPerSecond: number;
}

export interface EvaluationEvent {
  epoch: number;
  step: number;
  metrics: Record<string, TaskMetrics>;
}

/** Where a run is: the next batch to train is `stepInEpoch` of `epoch`. */
export interface TrainState {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  dropoutCalls: Record<string, number>;
  /**
   * Learning rate of each parameter group before the schedule, so that a resumed run
   * schedules from the same rates (the optimizer's saved rates are already scheduled). A state
   * without it (an older checkpoint) takes the optimizer's current rates.
   */
  baseRates?: number[];
}

export interface TaskMetrics {
  auc: number | null;
  accuracy: number | null;
  logloss: number | null;
  calibration: number | null;
  /** Mean squared error, for numeric tasks. */
  mse?: number;
  rows: number;
  /** Why a metric is null, by metric name. */
  undefined?: Record<string, string>;
}

export interface TrainResult {
  epochs: { epoch: number; loss: number; seconds: number; metrics?: Record<string, TaskMetrics> }[];
  seconds: number;
  trainSeconds: number;
  examples: number;
  examplesPerSecond: number;
  stoppedEarly: boolean;
  finalMetrics?: Record<string, TaskMetrics>;
  state: TrainState;
}

function scheduleFactor(schedule: Schedule | undefined, step: number, totalSteps: number): number {
  if (schedule === undefined || schedule.kind === 'constant') return 1;
  if (schedule.kind === 'cosine') {
    const floor = schedule.minFactor ?? 0;
    return floor + (1 - floor) * 0.5 * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / Math.max(1, totalSteps)));
  }
  return schedule.factor ** Math.floor(step / schedule.every);
}

function dropoutCalls(model: Module): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const [name, module] of model.namedModules()) if (module instanceof Dropout) calls[name] = module.calls;
  return calls;
}

/**
 * Trains `model` on the rows of `train` (already encoded) with `optimizer`. Each step uploads
 * one shuffled batch, runs forward, the loss, backward and the optimizer's update on the
 * device; only the loss (every `lossEvery` steps) and evaluation predictions come back.
 */
export async function train(model: TrainableModel, optimizer: Optimizer, train: SparseBatch, options: TrainOptions, evalData?: SparseBatch): Promise<TrainResult> {
  if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new RangeError(`train: epochs ${options.epochs} must be a positive integer`);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new RangeError(`train: batch size ${options.batchSize} must be a positive integer`);
  if (train.size === 0) throw new RangeError('train: the training set has no rows');

  const backend = getBackend(options.backend);
  const stepsPerEpoch = Math.ceil(train.size / options.batchSize);
  const totalSteps = stepsPerEpoch * options.epochs;
  const lossEvery = options.lossEvery ?? 20;
  const state: TrainState = options.resume ? { ...options.resume } : { epoch: 0, stepInEpoch: 0, globalStep: 0, dropoutCalls: {} };
  const resumedRates = state.baseRates?.length === optimizer.groups.length ? state.baseRates : undefined;
  const baseRates = resumedRates ?? optimizer.groups.map((group) => group.lr);
  state.baseRates = [...baseRates];
  for (const [name, module] of model.namedModules()) {
    if (module instanceof Dropout) module.calls = state.dropoutCalls[name] ?? 0;
  }

  const result: TrainResult = { epochs: [], seconds: 0, trainSeconds: 0, examples: 0, examplesPerSecond: 0, stoppedEarly: false, state };
  const started = performance.now();
  let trainMs = 0;
  let best = -Infinity;
  let sinceBest = 0;

  const evaluateNow = async (epoch: number): Promise<boolean> => {
    if (!evalData) return false;
    const metrics = await evaluate(model, evalData, { batchSize: Math.max(options.batchSize, 1024), backend: options.backend });
    await options.onEvaluate?.({ epoch, step: state.globalStep, metrics });
    result.finalMetrics = metrics;
    if (!options.earlyStopping) return false;

    const first = Object.values(metrics)[0];
    const score = options.earlyStopping.metric === 'auc' ? first.auc ?? -Infinity : -(first.logloss ?? Infinity);
    if (score > best) {
      best = score;
      sinceBest = 0;
      return false;
    }
    sinceBest++;
    return sinceBest >= options.earlyStopping.patience;
  };

  model.train();
  const lastEpoch = Math.min(options.epochs, options.stopAfterEpochs ?? options.epochs);
  for (let epoch = state.epoch; epoch < lastEpoch && !result.stoppedEarly; epoch++) {
    const epochStart = performance.now();
    let lossSum = 0;
    let lossCount = 0;
    let step = 0;
    for (const batch of epochBatches(train, { batchSize: options.batchSize, seed: options.seed, epoch })) {
      if (epoch === state.epoch && step < state.stepInEpoch) {
        step++;
        continue;
      }
      const factor = scheduleFactor(options.schedule, state.globalStep, totalSteps);
      // FTRL recomputes its weights from z and n with the current alpha (w is proportional to
      // alpha), so a decayed alpha would shrink every weight toward 0. It keeps its own
      // per-coordinate decay instead of the schedule.
      optimizer.groups.forEach((group, g) => (group.lr = group.config.kind === 'ftrl' ? baseRates[g] : baseRates[g] * factor));

      const stepStart = performance.now();
      const loss = tidy(() => {
        optimizer.zeroGrad();
        const value = multiTaskLoss(model.forward(batch), batch, options.backend, options.taskWeights ?? model.lossWeights);
        value.backward();
        optimizer.step();
        return value;
      });
      step++;
      state.globalStep++;
      state.stepInEpoch = step;
      result.examples += batch.size;

      let lossValue: number | null = null;
      if (step % lossEvery === 0 || step === stepsPerEpoch) {
        lossValue = await loss.item();
        lossSum += lossValue;
        lossCount++;
      }
      loss.dispose();
      trainMs += performance.now() - stepStart;
      options.onStep?.({
        epoch,
        step,
        stepsPerEpoch,
        examples: result.examples,
        loss: lossValue,
        examplesPerSecond: result.examples / Math.max(1e-9, trainMs / 1000),
      });

      if (typeof options.evalEvery === 'number' && state.globalStep % options.evalEvery === 0) {
        model.eval();
        const stop = await evaluateNow(epoch);
        model.train();
        if (stop) {
          result.stoppedEarly = true;
          break;
        }
      }
    }
    await backend.sync();
    state.epoch = epoch + 1;
    state.stepInEpoch = 0;
    state.dropoutCalls = dropoutCalls(model);

    const record: TrainResult['epochs'][number] = { epoch, loss: lossCount > 0 ? lossSum / lossCount : NaN, seconds: (performance.now() - epochStart) / 1000 };
    if ((options.evalEvery ?? 'epoch') === 'epoch' && evalData) {
      model.eval();
      if (await evaluateNow(epoch)) result.stoppedEarly = true;
      model.train();
      record.metrics = result.finalMetrics;
    }
    result.epochs.push(record);
    const snapshot: TrainState = { ...state, dropoutCalls: { ...state.dropoutCalls }, ...(state.baseRates ? { baseRates: [...state.baseRates] } : {}) };
    await options.onEpoch?.({ epoch, state: snapshot, metrics: record.metrics });
  }
  state.dropoutCalls = dropoutCalls(model);
  model.eval();

  result.seconds = (performance.now() - started) / 1000;
  result.trainSeconds = trainMs / 1000;
  result.examplesPerSecond = result.examples / Math.max(1e-9, result.trainSeconds);
  return result;
}

/** Outputs of the model for every row, per task: probabilities for binary tasks, values for numeric ones. */
export async function predict(model: TrainableModel, data: SparseBatch, options: { batchSize?: number; backend: BackendName }): Promise<Record<string, Float32Array>> {
  const tasks = data.layout.tasks;
  const out: Record<string, Float32Array> = {};
  for (const task of tasks) out[task.name] = new Float32Array(data.size);
  const batchSize = options.batchSize ?? 4096;
  const wasTraining = model.training;
  model.eval();

  let row = 0;
  for (let start = 0; start < data.size; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, data.size - start) }, (_, i) => start + i);
    const batch = selectRows(data, rows);
    const outputs = noGrad(() =>
      tidy(() => {
        const raw = model.forward(batch);
        if (tasks.every((task) => task.type === 'numeric')) return raw;
        if (tasks.every((task) => task.type === 'binary')) return sigmoid(raw);
        // Mixed tasks: the sigmoid applies to the binary columns only.
        const binary = tensor(Float32Array.from(tasks, (task) => (task.type === 'binary' ? 1 : 0)), [1, tasks.length], { backend: options.backend });
        return where(binary, sigmoid(raw), raw);
      }),
    );
    const values = await outputs.data();
    outputs.dispose();
    tasks.forEach((task, t) => {
      for (let i = 0; i < batch.size; i++) out[task.name][row + i] = values[i * tasks.length + t];
    });
    row += batch.size;
  }
  if (wasTraining) model.train();
  return out;
}

/** Metrics of every task on `data`: AUC, accuracy at 0.5, log loss and calibration for binary tasks. */
export async function evaluate(model: TrainableModel, data: SparseBatch, options: { batchSize?: number; backend: BackendName }): Promise<Record<string, TaskMetrics>> {
  const predictions = await predict(model, data, options);
  const result: Record<string, TaskMetrics> = {};
  const binary: Record<string, { predictions: Float32Array; labels: Float32Array; mask: Float32Array }> = {};
  for (const task of data.layout.tasks) {
    const labels = data.labels[task.name];
    const mask = data.labelMasks[task.name];
    if (task.type === 'binary') {
      binary[task.name] = { predictions: predictions[task.name], labels, mask };
      continue;
    }
    let total = 0;
    let rows = 0;
    for (let i = 0; i < data.size; i++) {
      if (mask[i] === 0) continue;
      total += (predictions[task.name][i] - labels[i]) ** 2;
      rows++;
    }
    result[task.name] = { auc: null, accuracy: null, logloss: null, calibration: null, mse: rows > 0 ? total / rows : NaN, rows };
  }

  if (Object.keys(binary).length > 0) {
    const accumulator = new MetricsAccumulator();
    accumulator.add(binary);
    for (const [name, metrics] of Object.entries(accumulator.compute())) result[name] = toTaskMetrics(metrics);
  }
  return result;
}

function toTaskMetrics(metrics: BinaryMetrics): TaskMetrics {
  const reasons: Record<string, string> = {};
  const named = { auc: metrics.undefinedReasons.auc, accuracy: metrics.undefinedReasons.accuracy, logloss: metrics.undefinedReasons.logLoss, calibration: metrics.undefinedReasons.calibration };
  for (const [key, reason] of Object.entries(named)) if (reason !== undefined) reasons[key] = reason;
  return {
    auc: metrics.auc,
    accuracy: metrics.accuracy,
    logloss: metrics.logLoss,
    calibration: metrics.calibration,
    rows: metrics.rows,
    ...(Object.keys(reasons).length > 0 ? { undefined: reasons } : {}),
  };
}
