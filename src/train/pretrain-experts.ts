// Independent expert pre-training: each expert of an MMoE or OMoE model trained alone under a temporary head, in worker threads or in this thread, then assembled.

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import type { AdapterChoice } from '../backend/webgpu/adapter.js';
import type { SparseBatch } from '../data/batch.js';
import { ShapeError } from '../errors.js';
import { MLP } from '../nn/layers.js';
import { Module, type TensorRecord } from '../nn/module.js';
import { assignValues } from '../ops/creation.js';
import { concat } from '../ops/shape-ops.js';
import { checkLearningRate, resolveConfig, type OptimizerConfig } from '../optim/config.js';
import { Optimizer } from '../optim/optimizer.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { MultiTaskModel, type ResolvedMultiTaskConfig } from '../models/multitask.js';
import { train, type Schedule } from './trainer.js';

/** The temporary head of a pre-trained expert: its own task (expert k gets task k mod T) or every task. */
export type PretrainHead = 'task' | 'all';

export const PRETRAIN_HEADS: readonly PretrainHead[] = ['task', 'all'];

/**
 * How to run the experts: `parallel` in worker threads, `serial` one after another in this
 * thread, `both` parallel and then serial, to compare the wall times and the weights.
 */
export type PretrainMode = 'parallel' | 'serial' | 'both';

export interface PretrainOptions {
  /** Passes over the training data per expert. */
  epochs: number;
  batchSize: number;
  /** Base seed; expert k's shuffle and head seeds derive from it and k. */
  seed: number;
  head: PretrainHead;
  /** Optimizer of the expert and its head. */
  optimizer: OptimizerConfig;
  lr: number;
  /** Learning-rate schedule over each expert's steps (default constant). */
  schedule?: Schedule;
  /** Default `parallel`. */
  mode?: PretrainMode;
  /** Worker threads of the parallel run (default: the smaller of the expert count and the available cores); never more than the experts. */
  workers?: number;
  /** Worker script (default: `pretrain-worker.js` next to the running bundle, as `scripts/build.mjs` writes it to dist/). */
  workerUrl?: URL;
  /** Called as each expert finishes, in finishing order. */
  onExpert?: (result: ExpertSummary, how: 'parallel' | 'serial') => void;
}

/** Outcome of one expert's pre-training, without its weights. */
export interface ExpertSummary {
  expert: number;
  /** Tasks of the temporary head. */
  tasks: string[];
  /** Mean training loss of the last epoch. */
  loss: number;
  /** Wall time of this expert's training, where it ran. */
  seconds: number;
}

export interface ExpertResult extends ExpertSummary {
  /** The expert's trained parameters, named as in `model.experts[k]` (`layer0.weight`, ...). */
  weights: Record<string, TensorRecord>;
}

export interface PretrainReport {
  experts: number;
  /** Worker threads of the parallel run; null without one. */
  workers: number | null;
  head: PretrainHead;
  epochs: number;
  /** Wall time of the parallel run: thread start, device setup and data transfer included. Null without one. */
  parallelSeconds: number | null;
  /** Wall time of the experts trained one after another in this thread; null without that run. */
  serialSeconds: number | null;
  /** With mode `both`: whether the two runs gave bit-identical expert weights. */
  sameAsSerial: boolean | null;
  /** Per expert, in expert order, from the run whose weights were assembled (the parallel one when there is one). */
  perExpert: ExpertSummary[];
}

/** Everything an expert's pre-training depends on besides the expert's index; workers receive it once. */
export interface PretrainSetup {
  data: SparseBatch;
  config: ResolvedMultiTaskConfig;
  /** Initial values of the input layers, the shared layers and every expert, by model parameter name. */
  initial: Record<string, TensorRecord>;
  head: PretrainHead;
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: OptimizerConfig;
  lr: number;
  schedule?: Schedule;
}

/** Start-up data of a pre-training worker thread. */
export interface PretrainWorkerData {
  setup: PretrainSetup;
  backend: BackendName;
  /** The adapter of the main thread's device, so every worker computes on the same implementation. */
  adapter?: AdapterChoice;
  /** Set to 1 by the main thread when another expert failed; workers then stop at the next step. */
  cancel: Int32Array;
}

export type PretrainWorkerRequest = { type: 'expert'; expert: number } | { type: 'close' };

export type PretrainWorkerReply =
  | { type: 'result'; result: ExpertResult }
  | { type: 'error'; expert: number; message: string; cancelled: boolean };

/** Thrown inside a worker's training loop when the main thread cancels the run. */
export class PretrainCancelled extends Error {
  constructor() {
    super('pretrain: cancelled because another expert failed');
  }
}

/** Names of the model's input layers, shared layers and experts: what pre-training reads and writes. */
function isPretrainState(name: string): boolean {
  return name.startsWith('input.') || name.startsWith('shared.') || /^expert\d+\./.test(name);
}

/** Shuffle seed of expert k: a function of the run's seed and k only. */
function expertSeed(seed: number, expert: number): number {
  return seed * 7907 + 131 * expert + 17;
}

/**
 * One expert under temporary heads: the model's input and shared layers (frozen), the expert,
 * and one tower with a one-output head per task of `tasks`, as the real towers are built.
 */
class ExpertProbe extends Module {
  readonly heads: MLP[];

  constructor(
    private readonly base: MultiTaskModel,
    readonly expert: number,
    tasks: number[],
    seed: number,
  ) {
    super();
    const c = base.config;
    const width = c.expertHidden[c.expertHidden.length - 1];
    this.registerModule('input', base.input);
    if (base.shared) this.registerModule('shared', base.shared);
    this.registerModule('expert', base.experts[expert]);
    this.heads = tasks.map((t) =>
      this.registerModule(`head${t}`, new MLP(width, c.towerHidden, { outFeatures: 1, dropout: c.dropout, seed: seed * 7927 + 139 * expert + 11 * t + 19, backend: base.backend })),
    );
  }

  /** Outputs [B, heads]: a logit or value per head task. */
  forward(batch: SparseBatch): Tensor {
    const input = this.base.input.forward(batch, this.base.backend);
    const features = this.base.shared ? this.base.shared.forward(input) : input;
    const hidden = this.base.experts[this.expert].forward(features);
    const outputs = this.heads.map((head) => head.forward(hidden));
    return outputs.length === 1 ? outputs[0] : concat(outputs, 1);
  }
}

/**
 * Pre-trains expert `expert` alone: a model built from `setup.config` without wide part or
 * bias tower, with the given initial input, shared and expert weights. The input and shared
 * layers stay frozen at those values, which are the ones the assembled model starts from, so
 * the expert learns on the features it meets in fine-tuning. The expert and its temporary
 * heads train with the setup's optimizer; the heads are then discarded. The result depends
 * only on `setup`, `expert` and the backend, never on which thread runs it or what it ran before.
 */
export async function pretrainExpert(setup: PretrainSetup, expert: number, backend: BackendName, cancelled?: () => boolean): Promise<ExpertResult> {
  const started = performance.now();
  const layout = setup.data.layout;
  const base = new MultiTaskModel(layout, { ...setup.config, wideTasks: [], biasTasks: [] }, backend);
  const taskIndexes = setup.head === 'task' ? [expert % layout.tasks.length] : layout.tasks.map((_, t) => t);
  const probe = new ExpertProbe(base, expert, taskIndexes, setup.seed);
  let optimizer: Optimizer | null = null;
  try {
    for (const [name, tensor] of base.namedParameters()) {
      if (!name.startsWith('input.') && !name.startsWith('shared.') && !name.startsWith(`expert${expert}.`)) continue;
      const record = setup.initial[name];
      if (record === undefined || formatShape(record.shape) !== formatShape(tensor.shape)) {
        throw new ShapeError(`pretrain: initial value of ${name} is ${record ? formatShape(record.shape) : 'missing'}; expected ${formatShape(tensor.shape)}`);
      }
      assignValues(tensor, record.data);
      if (!name.startsWith('expert')) tensor.requiresGrad = false;
    }

    const trainable = Object.fromEntries(probe.namedParameters().filter(([, tensor]) => tensor.requiresGrad));
    optimizer = new Optimizer([{ name: 'expert', params: trainable, optimizer: setup.optimizer, lr: setup.lr }]);
    const tasks = taskIndexes.map((t) => layout.tasks[t]);
    const view: SparseBatch = { ...setup.data, layout: { ...layout, tasks } };
    const taskWeights = setup.head === 'task' ? [1] : tasks.map((task) => setup.config.taskWeights[task.name]);
    const result = await train(probe, optimizer, view, {
      epochs: setup.epochs,
      batchSize: setup.batchSize,
      seed: expertSeed(setup.seed, expert),
      backend,
      schedule: setup.schedule,
      taskWeights,
      onStep: () => {
        if (cancelled?.()) throw new PretrainCancelled();
      },
    });

    const weights: Record<string, TensorRecord> = {};
    for (const [name, tensor] of base.experts[expert].namedParameters()) weights[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data: await tensor.data() };
    const loss = result.epochs[result.epochs.length - 1].loss;
    return { expert, tasks: tasks.map((task) => task.name), loss, seconds: (performance.now() - started) / 1000, weights };
  } finally {
    optimizer?.dispose();
    probe.heads.forEach((head) => head.dispose());
    base.dispose();
  }
}

/** Sets `requiresGrad` false on every expert parameter: backward skips them and optimizers leave them unchanged. */
export function freezeExperts(model: MultiTaskModel): void {
  for (const expert of model.experts) for (const tensor of expert.parameters()) tensor.requiresGrad = false;
}

/** Compares the expert weights of two pre-training runs bit for bit. */
function sameWeights(a: ExpertResult[], b: ExpertResult[]): boolean {
  return a.every((result, k) =>
    Object.entries(result.weights).every(([name, record]) => {
      const other = b[k].weights[name]?.data;
      if (other === undefined || other.length !== record.data.length) return false;
      return Buffer.compare(Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength), Buffer.from(other.buffer, other.byteOffset, other.byteLength)) === 0;
    }),
  );
}

function summary(result: ExpertResult): ExpertSummary {
  return { expert: result.expert, tasks: result.tasks, loss: result.loss, seconds: result.seconds };
}

/** Resolves the worker script (by default next to this module's bundle) and checks that it exists. */
function resolveWorkerUrl(given: URL | undefined): URL {
  const url = given ?? new URL('./pretrain-worker.js', import.meta.url);
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) {
    throw new Error(
      `pretrain: worker script not found at ${fileURLToPath(url)}; the workers run the bundled dist/pretrain-worker.js, so build it (node scripts/build.mjs) or pass workerUrl`,
    );
  }
  return url;
}

/** Picks the adapter choice that gives a worker the same implementation as this thread's device. */
function workerAdapter(backend: BackendName): AdapterChoice | undefined {
  if (backend !== 'webgpu') return undefined;
  const dawnBackend = getBackend('webgpu').adapter.dawnBackend;
  // SwiftShader is Dawn's Vulkan backend with VK_ICD_FILENAMES, which this thread already set
  // in the process environment that the workers share.
  if (dawnBackend === 'opengles' || dawnBackend === 'vulkan') return dawnBackend;
  return 'default';
}

/**
 * Runs the experts on `workers` threads, each with its own backend and device, handing out
 * experts as threads become free. When one fails, the others stop at their next step. No
 * thread is terminated mid-step, because Dawn aborts the process when the thread of a busy
 * device is killed. Results come back in expert order.
 */
async function runInWorkers(setup: PretrainSetup, experts: number, workers: number, backend: BackendName, workerUrl: URL, onExpert?: (result: ExpertSummary) => void): Promise<ExpertResult[]> {
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const workerData: PretrainWorkerData = { setup, backend, adapter: workerAdapter(backend), cancel };
  const queue = Array.from({ length: experts }, (_, k) => k);
  const results: ExpertResult[] = new Array(experts);
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    Atomics.store(cancel, 0, 1);
  };

  const runWorker = (index: number) =>
    new Promise<void>((resolve) => {
      const worker = new Worker(workerUrl, { workerData });
      const next = () => {
        const expert = failure ? undefined : queue.shift();
        worker.postMessage((expert === undefined ? { type: 'close' } : { type: 'expert', expert }) satisfies PretrainWorkerRequest);
      };
      worker.on('message', (reply: PretrainWorkerReply) => {
        if (reply.type === 'result') {
          results[reply.result.expert] = reply.result;
          onExpert?.(summary(reply.result));
        } else if (!reply.cancelled) {
          fail(new Error(`pretrain: expert ${reply.expert} failed in worker thread ${index}: ${reply.message}`));
        }
        next();
      });
      worker.on('error', (error) => fail(new Error(`pretrain: worker thread ${index} failed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0) fail(new Error(`pretrain: worker thread ${index} exited with code ${code}`));
        resolve();
      });
      next();
    });

  await Promise.all(Array.from({ length: workers }, (_, i) => runWorker(i)));
  if (failure) throw failure;
  const missing = results.findIndex((result) => result === undefined);
  if (missing >= 0 || results.length !== experts) throw new Error(`pretrain: expert ${missing} got no result from the worker threads`);
  return results;
}

/** Writes pre-trained weights into the model's experts. */
function assignExperts(model: MultiTaskModel, results: ExpertResult[]): void {
  for (const result of results) {
    for (const [name, tensor] of model.experts[result.expert].namedParameters()) {
      const record = result.weights[name];
      if (record === undefined || formatShape(record.shape) !== formatShape(tensor.shape)) {
        throw new ShapeError(`pretrain: expert ${result.expert} returned ${name} as ${record ? formatShape(record.shape) : 'nothing'}; expected ${formatShape(tensor.shape)}`);
      }
      assignValues(tensor, record.data);
    }
  }
}

/**
 * Pre-trains every expert of an MMoE or OMoE model independently (see `pretrainExpert`) and
 * writes the results into `model.experts`. The gates, towers, wide part and bias tower are left
 * as they are: fresh, for the fine-tuning that follows. Expert k's weights depend only on the
 * data, the model's config and initial weights, the options' seed and k, so the parallel and
 * serial runs give the same experts on one backend and adapter. In `both` mode the parallel
 * run's weights are kept, and `sameAsSerial` reports whether the serial run matched them.
 */
export async function pretrainExperts(model: MultiTaskModel, data: SparseBatch, options: PretrainOptions): Promise<PretrainReport> {
  if (model.expertCount === 0) {
    throw new RangeError(`pretrain: model kind "${model.config.kind}" has no experts; expert pre-training needs an mmoe or omoe model`);
  }
  for (const [name, value] of [['epochs', options.epochs], ['batchSize', options.batchSize]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`pretrain: ${name} ${value} must be a positive integer`);
  }
  // Checked here, so that a bad optimizer fails before any worker starts.
  checkLearningRate(resolveConfig(options.optimizer).kind, options.lr);
  if (!PRETRAIN_HEADS.includes(options.head)) throw new RangeError(`pretrain: head "${options.head}" must be one of ${PRETRAIN_HEADS.join(', ')}`);
  const modelTasks = model.taskNames.join(',');
  const dataTasks = data.layout.tasks.map((task) => task.name).join(',');
  if (modelTasks !== dataTasks) throw new ShapeError(`pretrain: the data's tasks [${dataTasks}] differ from the model's [${modelTasks}]`);
  const experts = model.expertCount;
  const mode = options.mode ?? 'parallel';
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 1)) {
    throw new RangeError(`pretrain: workers ${options.workers} must be a positive integer`);
  }
  const workers = Math.min(options.workers ?? availableParallelism(), experts);

  const initial: Record<string, TensorRecord> = {};
  for (const [name, tensor] of model.namedParameters()) {
    if (isPretrainState(name)) initial[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data: await tensor.data() };
  }
  const setup: PretrainSetup = {
    data,
    config: model.config,
    initial,
    head: options.head,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    optimizer: options.optimizer,
    lr: options.lr,
    schedule: options.schedule,
  };

  let parallel: ExpertResult[] | null = null;
  let parallelSeconds: number | null = null;
  if (mode !== 'serial') {
    const workerUrl = resolveWorkerUrl(options.workerUrl);
    const started = performance.now();
    parallel = await runInWorkers(setup, experts, workers, model.backend, workerUrl, (result) => options.onExpert?.(result, 'parallel'));
    parallelSeconds = (performance.now() - started) / 1000;
  }

  let serial: ExpertResult[] | null = null;
  let serialSeconds: number | null = null;
  if (mode !== 'parallel') {
    const started = performance.now();
    serial = [];
    for (let k = 0; k < experts; k++) {
      const result = await pretrainExpert(setup, k, model.backend);
      serial.push(result);
      options.onExpert?.(summary(result), 'serial');
    }
    serialSeconds = (performance.now() - started) / 1000;
  }

  const kept = (parallel ?? serial)!;
  assignExperts(model, kept);
  return {
    experts,
    workers: parallel ? workers : null,
    head: options.head,
    epochs: options.epochs,
    parallelSeconds,
    serialSeconds,
    sameAsSerial: parallel && serial ? sameWeights(parallel, serial) : null,
    perExpert: kept.map(summary),
  };
}
