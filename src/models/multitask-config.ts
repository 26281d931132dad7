// Configuration of the multi-task models (shared-bottom, OMoE, MMoE): options, defaults and checks.

import type { BatchLayout } from '../data/batch.js';
import { biasFeatureNames } from './bias-tower.js';

export type MultiTaskKind = 'shared-bottom' | 'omoe' | 'mmoe';

export const MULTI_TASK_KINDS: readonly MultiTaskKind[] = ['shared-bottom', 'omoe', 'mmoe'];

export interface MultiTaskConfig {
  kind: MultiTaskKind;
  /** Number of experts of OMoE and MMoE (default 8). */
  experts?: number;
  /** Hidden layer sizes of each expert MLP (default [16]). */
  expertHidden?: number[];
  /** Hidden layers shared by all experts and gates, below them (default []: none). */
  sharedHidden?: number[];
  /**
   * Hidden layers of shared-bottom's shared MLP. Default: one layer whose size makes the
   * shared-bottom model's dense parameter count closest to an MMoE with the same experts,
   * shared layers and towers, so the two compare at equal size.
   */
  bottomHidden?: number[];
  /** Hidden layer sizes of each task's tower, followed by a head with one output (default [8]). */
  towerHidden?: number[];
  /** Probability of zeroing an expert's gate weight in a row before renormalizing, in training (default 0.1). */
  gateDropout?: number;
  /** Dropout after each hidden layer of the shared layers, experts, bottom and towers (default 0). */
  dropout?: number;
  /** Tasks whose output gets the wide part's logit, a linear model over the "wide" and "both" fields (default none). */
  wideTasks?: string[];
  /** Tasks whose output gets the bias tower's logit in training (default: every binary task when the layout has "bias" features). */
  biasTasks?: string[];
  /** Hidden layer sizes of the bias tower (default [8]; [] makes it linear). */
  biasHidden?: number[];
  /** Probability of dropping a bias feature of a row in training (default 0.1). */
  biasDropout?: number;
  /** Bias features that bias dropout applies to (default: every bias field and numeric column). */
  biasDropoutFeatures?: string[];
  /** Loss weight per task name (default 1). */
  taskWeights?: Record<string, number>;
  /** Initial embedding values are uniform in [-scale, scale] (default 0.05). */
  embeddingInitScale?: number;
  seed?: number;
}

/** A MultiTaskConfig with every default filled in for one layout; checkpoints store this. */
export interface ResolvedMultiTaskConfig {
  kind: MultiTaskKind;
  experts: number;
  expertHidden: number[];
  sharedHidden: number[];
  bottomHidden: number[];
  towerHidden: number[];
  gateDropout: number;
  dropout: number;
  wideTasks: string[];
  biasTasks: string[];
  biasHidden: number[];
  biasDropout: number;
  biasDropoutFeatures: string[];
  taskWeights: Record<string, number>;
  embeddingInitScale: number;
  seed: number;
}

function checkSizes(name: string, sizes: number[], allowEmpty: boolean): number[] {
  if (!Array.isArray(sizes) || sizes.some((size) => !Number.isInteger(size) || size < 1) || (!allowEmpty && sizes.length === 0)) {
    throw new RangeError(`model: ${name} [${sizes}] must be ${allowEmpty ? '' : 'one or more '}positive integers`);
  }
  return [...sizes];
}

function checkRate(name: string, rate: number): number {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`model: ${name} ${rate} must be in [0, 1)`);
  return rate;
}

function checkTasks(name: string, tasks: string[], known: string[]): string[] {
  const unknown = tasks.filter((task) => !known.includes(task));
  if (unknown.length > 0) throw new RangeError(`model: ${name} [${unknown}] are not tasks of the data; the tasks are [${known}]`);
  return known.filter((task) => tasks.includes(task));
}

/** Parameters of an MLP with bias: each layer has in * out weights and out biases. */
export function mlpParameterCount(inFeatures: number, sizes: number[]): number {
  let count = 0;
  let width = inFeatures;
  for (const size of sizes) {
    count += width * size + size;
    width = size;
  }
  return count;
}

/**
 * Size of the one hidden layer of shared-bottom that brings its dense parameters (bottom and
 * towers) closest to MMoE's (experts, one gate per task and towers), both on `inputWidth`.
 */
export function matchingBottomSize(inputWidth: number, tasks: number, experts: number, expertHidden: number[], towerHidden: number[]): number {
  const expertWidth = expertHidden[expertHidden.length - 1];
  const mmoe =
    experts * mlpParameterCount(inputWidth, expertHidden) + tasks * (inputWidth * experts + experts) + tasks * mlpParameterCount(expertWidth, [...towerHidden, 1]);
  let best = 1;
  let bestGap = Infinity;
  for (let size = 1; size <= 100_000; size++) {
    const sharedBottom = mlpParameterCount(inputWidth, [size]) + tasks * mlpParameterCount(size, [...towerHidden, 1]);
    const gap = Math.abs(sharedBottom - mmoe);
    if (gap < bestGap) {
      best = size;
      bestGap = gap;
    }
    if (sharedBottom > mmoe) break;
  }
  return best;
}

/**
 * Fills in the defaults of `config` for `layout` and checks every value. `inputWidth` is the
 * width of the experts' input (after the shared layers), used for the default bottom size.
 */
export function resolveMultiTaskConfig(config: MultiTaskConfig, layout: BatchLayout, inputWidth: () => number): ResolvedMultiTaskConfig {
  if (!MULTI_TASK_KINDS.includes(config.kind)) throw new RangeError(`model: invalid multi-task kind "${config.kind}"; use ${MULTI_TASK_KINDS.join(', ')}`);
  const taskNames = layout.tasks.map((task) => task.name);
  const experts = config.experts ?? 8;
  if (!Number.isInteger(experts) || experts < 1) throw new RangeError(`model: experts ${experts} must be a positive integer`);
  const expertHidden = checkSizes('expertHidden', config.expertHidden ?? [16], false);
  const sharedHidden = checkSizes('sharedHidden', config.sharedHidden ?? [], true);
  const towerHidden = checkSizes('towerHidden', config.towerHidden ?? [8], true);

  const hasBias = biasFeatureNames(layout).length > 0;
  const biasTasks = checkTasks('biasTasks', config.biasTasks ?? (hasBias ? layout.tasks.filter((task) => task.type === 'binary').map((task) => task.name) : []), taskNames);
  if (biasTasks.length > 0 && !hasBias) throw new RangeError(`model: biasTasks [${biasTasks}] need bias features, but no field or numeric column has feeds "bias"`);

  const taskWeights: Record<string, number> = {};
  for (const name of Object.keys(config.taskWeights ?? {})) checkTasks('taskWeights', [name], taskNames);
  for (const name of taskNames) {
    const weight = config.taskWeights?.[name] ?? 1;
    if (!(Number.isFinite(weight) && weight >= 0)) throw new RangeError(`model: task weight ${weight} of "${name}" must be a finite number of at least 0`);
    taskWeights[name] = weight;
  }

  const bottomHidden =
    config.bottomHidden !== undefined
      ? checkSizes('bottomHidden', config.bottomHidden, true)
      : config.kind === 'shared-bottom'
        ? [matchingBottomSize(inputWidth(), taskNames.length, experts, expertHidden, towerHidden)]
        : [];

  return {
    kind: config.kind,
    experts,
    expertHidden,
    sharedHidden,
    bottomHidden,
    towerHidden,
    gateDropout: checkRate('gateDropout', config.gateDropout ?? 0.1),
    dropout: checkRate('dropout', config.dropout ?? 0),
    wideTasks: checkTasks('wideTasks', config.wideTasks ?? [], taskNames),
    biasTasks,
    biasHidden: checkSizes('biasHidden', config.biasHidden ?? [8], true),
    biasDropout: checkRate('biasDropout', config.biasDropout ?? 0.1),
    biasDropoutFeatures: [...(config.biasDropoutFeatures ?? biasFeatureNames(layout))],
    taskWeights,
    embeddingInitScale: config.embeddingInitScale ?? 0.05,
    seed: config.seed ?? 1,
  };
}
