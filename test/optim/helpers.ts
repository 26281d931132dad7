// Shared helpers of the optimizer tests: seeded parameters and gradients, and a step runner.

import * as sp from '../../src/index.js';
import { RowSparse } from '../../src/sparse/row-sparse.js';
import { inputValues } from '../../src/testing/index.js';

/** One step's gradient: dense values of the parameter's shape, or the listed rows' values. */
export interface GradientSpec {
  rows?: number[];
  values: number[];
  /** Row offset of a row-sparse gradient (default 0). */
  rowOffset?: number;
}

export interface RunResult {
  weights: Float32Array;
  /** State tensors by state-dict name, read back to the host. */
  state: Record<string, Float32Array>;
  steps: Record<string, number>;
}

/** Seeded values in [-2, 2), never zero; `index` picks an independent stream. */
export function seeded(size: number, seed: number, index = 0): number[] {
  return inputValues({ shape: [size] }, seed, index);
}

/** Sets `param`'s gradient for the next step, dense or row-sparse. */
export function setGradient(param: sp.Tensor, spec: GradientSpec): void {
  const backend = param.backend.name;
  if (spec.rows === undefined) {
    param.grad = sp.tensor(spec.values, [...param.shape], { backend });
    return;
  }
  const rows = sp.tensor(new Uint32Array(spec.rows), [spec.rows.length], { backend });
  const values = sp.tensor(spec.values, [spec.rows.length, ...param.shape.slice(1)], { backend });
  param.sparseGrad = new RowSparse(rows, values, [...param.shape], spec.rowOffset ?? 0);
}

/** Reads every state tensor of `optimizer` back to the host. */
export async function readState(optimizer: sp.Optimizer): Promise<Pick<RunResult, 'state' | 'steps'>> {
  const dict = optimizer.stateDict();
  const state: Record<string, Float32Array> = {};
  for (const [name, value] of Object.entries(dict.tensors)) {
    state[name] = value instanceof Float32Array ? value : ((await value.data()) as Float32Array);
  }
  return { state, steps: dict.steps };
}

/**
 * Creates a parameter named `p` with `initial` values on `backend`, applies one optimizer step
 * per entry of `gradients`, and reads back the weights and state.
 */
export async function runSteps(
  backend: sp.BackendName,
  optimizer: sp.OptimizerConfig,
  lr: number,
  shape: number[],
  initial: number[],
  gradients: GradientSpec[],
): Promise<RunResult> {
  const param = sp.tensor(initial, shape, { backend, requiresGrad: true });
  const opt = new sp.Optimizer([{ params: { p: param }, optimizer, lr }]);
  for (const gradient of gradients) {
    setGradient(param, gradient);
    opt.step();
    opt.zeroGrad();
  }
  const weights = (await param.data()) as Float32Array;
  const result = { weights, ...(await readState(opt)) };
  opt.dispose();
  param.dispose();
  return result;
}

/** Dense gradients for `steps` steps of a parameter of `size` elements. */
export function denseGradients(size: number, steps: number, seed: number): GradientSpec[] {
  return Array.from({ length: steps }, (_, s) => ({ values: seeded(size, seed, s + 1) }));
}

/** Row-sparse gradients for `steps` steps: each step lists the rows in `rowsPerStep[step]`. */
export function sparseGradients(rowSize: number, rowsPerStep: number[][], seed: number): GradientSpec[] {
  return rowsPerStep.map((rows, s) => ({ rows, values: seeded(rows.length * rowSize, seed, s + 1) }));
}

/** Every optimizer configuration the tests cover, with a learning rate each. */
export const CONFIGS: { label: string; optimizer: sp.OptimizerConfig; lr: number }[] = [
  { label: 'sgd', optimizer: { kind: 'sgd' }, lr: 0.1 },
  { label: 'sgd momentum', optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }, lr: 0.05 },
  { label: 'sgd nesterov', optimizer: { kind: 'sgd', momentum: 0.8, nesterov: true }, lr: 0.05 },
  { label: 'adam', optimizer: { kind: 'adam' }, lr: 0.01 },
  { label: 'adam l2', optimizer: { kind: 'adam', beta1: 0.8, beta2: 0.99, weightDecay: 0.1 }, lr: 0.02 },
  { label: 'adamw', optimizer: { kind: 'adamw', weightDecay: 0.05 }, lr: 0.01 },
  { label: 'adagrad', optimizer: { kind: 'adagrad', weightDecay: 0.01 }, lr: 0.1 },
  { label: 'ftrl', optimizer: { kind: 'ftrl', beta: 1, l1: 0.3, l2: 0.1 }, lr: 0.5 },
];
