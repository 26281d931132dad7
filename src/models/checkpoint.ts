// Saves and loads a trained model: weights, optimizer state, fitted data state and configs.

import type { BackendName } from '../backend/backend.js';
import { layoutOf, type FittedState } from '../data/state.js';
import { CheckpointError } from '../io/errors.js';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
import type { HostTensor, TensorMap } from '../io/safetensors.js';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.js';
import type { TrainState, TaskMetrics } from '../train/trainer.js';
import { MultiTaskModel } from './multitask.js';
import type { ResolvedMultiTaskConfig } from './multitask-config.js';
import { WideAndDeep, type ResolvedWideDeepConfig } from './wide-deep.js';

/** The model part of config.json: the architecture type and its resolved config. */
export type ModelTypeConfig = ({ type: 'wide-deep' } & ResolvedWideDeepConfig) | ({ type: 'multitask' } & ResolvedMultiTaskConfig);

/** A serving score over the task predictions: the weighted sum of p_k, or the product of p_k^w_k. */
export interface ScoreConfig {
  kind: 'sum' | 'product';
  weights: Record<string, number>;
}

/** A model that a checkpoint can hold. */
export type SavedModel = WideAndDeep | MultiTaskModel;

/** Contents of config.json in a Sparrow model checkpoint. */
export interface ModelCheckpointConfig {
  model: ModelTypeConfig;
  /** Schema, vocabularies, statistics and hash seed: enough to encode raw rows as in training. */
  data: FittedState;
  training?: {
    options: Record<string, unknown>;
    state: TrainState;
    optimizer: Omit<OptimizerStateDict, 'tensors'>;
  };
  /** Metrics of the final evaluation of the training run, by task. */
  metrics?: Record<string, TaskMetrics>;
  /** Serving score over the task predictions, when one was set. */
  score?: ScoreConfig;
}

export interface SaveModelOptions {
  optimizer?: Optimizer;
  training?: { options: Record<string, unknown>; state: TrainState };
  metrics?: Record<string, TaskMetrics>;
  /** Stored verbatim as `score` in config.json. */
  score?: ScoreConfig;
}

/** Writes the checkpoint atomically: a crash leaves the previous checkpoint loadable. */
export async function saveModel(directory: string, model: SavedModel, data: FittedState, options: SaveModelOptions = {}): Promise<void> {
  const weights: TensorMap = {};
  for (const [name, record] of Object.entries(await model.stateDict())) weights[name] = record as HostTensor;

  let optimizerTensors: TensorMap | undefined;
  let optimizerState: Omit<OptimizerStateDict, 'tensors'> | undefined;
  if (options.optimizer) {
    const { tensors, ...rest } = options.optimizer.stateDict();
    optimizerState = rest;
    optimizerTensors = {};
    for (const [name, value] of Object.entries(tensors)) {
      const data = value instanceof Float32Array ? value : ((await value.data()) as Float32Array);
      const shape = value instanceof Float32Array ? [value.length] : [...value.shape];
      optimizerTensors[name] = { dtype: 'f32', shape, data };
    }
  }

  const config: ModelCheckpointConfig = {
    model: model instanceof MultiTaskModel ? { type: 'multitask', ...model.config } : { type: 'wide-deep', ...model.config },
    data,
    ...(options.training && optimizerState ? { training: { ...options.training, optimizer: optimizerState } } : {}),
    ...(options.metrics ? { metrics: sanitizeMetrics(options.metrics) } : {}),
    ...(options.score ? { score: options.score } : {}),
  };
  saveCheckpoint(directory, { weights, optimizer: optimizerTensors, config });
}

/** JSON has no NaN: metrics that are not numbers are stored as null. */
function sanitizeMetrics(metrics: Record<string, TaskMetrics>): Record<string, TaskMetrics> {
  return JSON.parse(JSON.stringify(metrics, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value)));
}

export interface LoadedModel {
  model: SavedModel;
  config: ModelCheckpointConfig;
  optimizerTensors?: TensorMap;
  directory: string;
}

/** Loads a checkpoint onto `backend`; every tensor must match the model config's shapes. */
export function loadModel(directory: string, backend: BackendName, options: { optimizer?: boolean } = {}): LoadedModel {
  const checkpoint = loadCheckpoint<ModelCheckpointConfig>(directory, { optimizer: options.optimizer ?? false });
  const config = checkpoint.config;
  const type = config?.model?.type;
  if ((type !== 'wide-deep' && type !== 'multitask') || config.data === undefined) {
    throw new CheckpointError(checkpoint.directory, `config.json does not describe a Sparrow model (model.type "${type}"; expected "wide-deep" or "multitask")`);
  }
  const layout = layoutOf(config.data);
  let model: SavedModel;
  try {
    model = config.model.type === 'multitask' ? new MultiTaskModel(layout, config.model, backend) : new WideAndDeep(layout, config.model, backend);
  } catch (error) {
    throw new CheckpointError(checkpoint.directory, `the model config is invalid: ${(error as Error).message}`);
  }
  try {
    model.loadStateDict(checkpoint.weights as never);
  } catch (error) {
    model.dispose();
    throw new CheckpointError(checkpoint.directory, (error as Error).message);
  }
  return { model, config, optimizerTensors: checkpoint.optimizer, directory: checkpoint.directory };
}
