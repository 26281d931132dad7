// The in-place optimizer update ops: SGD, Adam/AdamW, Adagrad and FTRL, each dense or row-sparse.

import { ShapeError } from '../errors.js';
import { adagradBody, adamBody, ftrlBody, optimizerProgram, sgdBody } from '../kernels/optim.js';
import type { UniformField } from '../kernels/wgsl.js';
import { defineOp, type CpuArgs, type OpDef, type TensorSpec } from '../ops/op.js';
import { expectDType } from '../ops/validate.js';
import type { TypedArray } from '../tensor/dtype.js';
import { noGrad, runOp } from '../tensor/engine.js';
import { formatShape, shapesEqual, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { RowSparse } from '../sparse/row-sparse.js';

/**
 * Update modes of the optimizer ops. The contract, the same for every algorithm:
 *
 * - Inputs, dense: `[param, grad, ...slots]`, all f32 of the parameter's shape.
 *   Sparse: `[param, rows, values, ...slots]` with `rows` u32 [C] and `values` f32
 *   [C, ...rowShape], the tensors of a `RowSparse` gradient of a parameter [V, ...rowShape],
 *   and its `rowOffset` in `attrs.rowOffset`. Entry i updates local row `rows[i] - rowOffset`
 *   when that is in [0, V), and is skipped otherwise: padding entries (`PADDING_ROW`) and rows
 *   of other shards of a split table. Rows may come in any order.
 * - The op has no outputs. It writes the parameter and its slots in place: the CPU reference
 *   writes into the input arrays, and the WGSL pass binds them `read_write`. So the ops are
 *   not differentiable and run under `noGrad`. A backward through a tape that saved the
 *   parameter reads the new values.
 * - Sparse updates touch only the listed rows. Every other row keeps its weights and state.
 *   The rows that apply must be unique. On the CPU a repeated one raises a RangeError before
 *   any element is written. The WGSL pass cannot check that, and two invocations that update
 *   one element would race, so the producer of the `RowSparse` must keep rows unique.
 * - Hyperparameters arrive as f32-rounded numbers in `attrs.hyper`. The WGSL pass computes
 *   in f32, and the CPU reference in float64, rounding once when it stores each value.
 */
export type UpdateMode = 'dense' | 'sparse';

interface UpdateAttrs<H> {
  mode: UpdateMode;
  /** Scalars of the step, named as the WGSL uniforms. */
  hyper: H;
  /** First row of the parameter in the row ids of a sparse gradient; 0 for dense. */
  rowOffset: number;
}

export interface SgdAttrs extends UpdateAttrs<{ lr: number; momentum: number; weight_decay: number }> {
  /** Whether a momentum buffer exists (momentum > 0); it is then the one slot. */
  useMomentum: boolean;
  nesterov: boolean;
}

export interface AdamAttrs
  extends UpdateAttrs<{
    step_size: number;
    sqrt_bias2: number;
    beta1: number;
    beta2: number;
    one_minus_beta1: number;
    one_minus_beta2: number;
    eps: number;
    weight_decay: number;
    decay_factor: number;
  }> {
  /** AdamW: decay applied to the weight, not added to the gradient. */
  decoupled: boolean;
}

export type AdagradAttrs = UpdateAttrs<{ lr: number; eps: number; weight_decay: number }>;
export type FtrlAttrs = UpdateAttrs<{ alpha: number; beta: number; l1: number; l2: number }>;

function uniformsOf(hyper: object): UniformField[] {
  return Object.entries(hyper).map(([name, value]) => [name, 'f32', value as number]);
}

// ---------------------------------------------------------------------------------------------
// Shared shape rule and element walk

function updateShape(op: string, inputs: TensorSpec[], mode: UpdateMode, slotCount: number): TensorSpec[] {
  const gradientInputs = mode === 'dense' ? 1 : 2;
  const expected = 1 + gradientInputs + slotCount;
  if (inputs.length !== expected) {
    const names = mode === 'dense' ? 'param, grad' : 'param, rows, values';
    throw new ShapeError(`${op}: expected ${expected} inputs (${names} and ${slotCount} state slot(s)), got ${inputs.length}`);
  }

  const param = inputs[0];
  expectDType(op, param, ['f32'], 'param');
  if (mode === 'dense') {
    expectDType(op, inputs[1], ['f32'], 'grad');
    if (!shapesEqual(inputs[1].shape, param.shape)) {
      throw new ShapeError(`${op}: grad ${formatShape(inputs[1].shape)} does not match param ${formatShape(param.shape)}`);
    }
  } else {
    const [, rows, values] = inputs;
    if (param.shape.length === 0) throw new ShapeError(`${op}: a row-sparse update needs a param of rank at least 1, got a scalar`);
    expectDType(op, rows, ['u32'], 'rows');
    expectDType(op, values, ['f32'], 'values');
    const expectedValues = [rows.shape[0], ...param.shape.slice(1)];
    if (rows.shape.length !== 1 || !shapesEqual(values.shape, expectedValues)) {
      throw new ShapeError(
        `${op}: rows ${formatShape(rows.shape)} and values ${formatShape(values.shape)} do not form a row-sparse gradient of param ${formatShape(param.shape)}; ` +
          `expected rows [U] and values [${['U', ...param.shape.slice(1)].join(', ')}]`,
      );
    }
  }

  inputs.slice(1 + gradientInputs).forEach((slot, i) => {
    expectDType(op, slot, ['f32'], `state slot ${i}`);
    if (!shapesEqual(slot.shape, param.shape)) {
      throw new ShapeError(`${op}: state slot ${i} ${formatShape(slot.shape)} does not match param ${formatShape(param.shape)}`);
    }
  });
  return [];
}

/** Elements per row of a parameter: the product of its shape after the first dimension. */
function rowSizeOf(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : sizeOf(shape.slice(1));
}

/**
 * Calls `update(k, j)` for each updated element: k indexes the parameter and its slots, j the
 * gradient. For a sparse update it maps every row id to a local row first and checks that the
 * local rows are unique, so a repeated row throws before any write.
 */
function forEachUpdated(op: string, attrs: UpdateAttrs<unknown>, { inputs, inputSpecs }: CpuArgs<unknown>, update: (k: number, j: number) => void): void {
  if (attrs.mode === 'dense') {
    for (let k = 0; k < inputs[0].length; k++) update(k, k);
    return;
  }

  const rows = inputs[1];
  const paramRows = inputSpecs[0].shape[0];
  const local = new Array<number>(rows.length);
  const firstEntry = new Map<number, number>();
  for (let i = 0; i < rows.length; i++) {
    // The same u32 wrap-around as the WGSL pass, so a row below rowOffset is skipped too.
    local[i] = (rows[i] - attrs.rowOffset) >>> 0;
    if (local[i] >= paramRows) continue;
    const earlier = firstEntry.get(local[i]);
    if (earlier !== undefined) {
      throw new RangeError(`${op}: rows[${i}] and rows[${earlier}] are both ${rows[i]}; the rows of a row-sparse gradient must be unique`);
    }
    firstEntry.set(local[i], i);
  }

  const rowSize = rowSizeOf(inputSpecs[0].shape);
  for (let i = 0; i < rows.length; i++) {
    if (local[i] >= paramRows) continue;
    for (let c = 0; c < rowSize; c++) update(local[i] * rowSize + c, i * rowSize + c);
  }
}

function gradientArray(mode: UpdateMode, inputs: TypedArray[]): TypedArray {
  return mode === 'dense' ? inputs[1] : inputs[2];
}

function slotArrays(mode: UpdateMode, inputs: TypedArray[]): TypedArray[] {
  return inputs.slice(mode === 'dense' ? 2 : 3);
}

function programOptions(name: string, { mode, rowOffset }: UpdateAttrs<unknown>, inputSpecs: TensorSpec[]) {
  const param = inputSpecs[0].shape;
  return {
    name,
    mode,
    rowOffset,
    paramSize: sizeOf(param),
    rowSize: rowSizeOf(param),
    rows: param.length === 0 ? 1 : param[0],
    touchedRows: mode === 'sparse' ? inputSpecs[1].shape[0] : 0,
  };
}

const NOT_DIFFERENTIABLE = { notDifferentiable: 'an optimizer update writes its inputs in place and has no outputs' };

// ---------------------------------------------------------------------------------------------
// The four algorithms

/** SGD: d = g + weight_decay * w; with momentum b = momentum * b + d, then d = b (or d + momentum * b for Nesterov); w -= lr * d. */
export const sgdUpdateOp = defineOp<SgdAttrs>({
  name: 'sgdUpdate',
  shape: (inputs, attrs) => updateShape('sgdUpdate', inputs, attrs.mode, attrs.useMomentum ? 1 : 0),
  cpu(args) {
    const { inputs, attrs } = args;
    const { lr, momentum, weight_decay: weightDecay } = attrs.hyper;
    const w = inputs[0];
    const g = gradientArray(attrs.mode, inputs);
    const buffer = attrs.useMomentum ? slotArrays(attrs.mode, inputs)[0] : null;

    forEachUpdated('sgdUpdate', attrs, args, (k, j) => {
      let d = g[j] + weightDecay * w[k];
      if (buffer !== null) {
        buffer[k] = momentum * buffer[k] + d;
        d = attrs.nesterov ? d + momentum * buffer[k] : buffer[k];
      }
      w[k] = w[k] - lr * d;
    });
  },
  webgpu: ({ inputSpecs, attrs }) =>
    optimizerProgram({
      ...programOptions('sgd', attrs, inputSpecs),
      slots: attrs.useMomentum ? ['momentum_buffer'] : [],
      uniforms: uniformsOf(attrs.hyper),
      body: sgdBody(attrs.useMomentum, attrs.nesterov),
    }),
  backward: NOT_DIFFERENTIABLE,
  describeAttrs: (attrs) => `${attrs.mode}${attrs.useMomentum ? ' momentum' : ''}${attrs.nesterov ? ' nesterov' : ''}`,
});

/**
 * Adam and AdamW: m = beta1 * m + (1 - beta1) * d; v = beta2 * v + (1 - beta2) * d^2;
 * w -= step_size * m / (sqrt(v) / sqrt_bias2 + eps), with step_size = lr / (1 - beta1^t)
 * and sqrt_bias2 = sqrt(1 - beta2^t). Adam takes d = g + weight_decay * w. AdamW takes d = g
 * and first scales w by decay_factor = 1 - lr * weight_decay. Slots: exp_avg (m), exp_avg_sq (v).
 */
export const adamUpdateOp = defineOp<AdamAttrs>({
  name: 'adamUpdate',
  shape: (inputs, attrs) => updateShape('adamUpdate', inputs, attrs.mode, 2),
  cpu(args) {
    const { inputs, attrs } = args;
    const h = attrs.hyper;
    const w = inputs[0];
    const g = gradientArray(attrs.mode, inputs);
    const [m, v] = slotArrays(attrs.mode, inputs);

    forEachUpdated('adamUpdate', attrs, args, (k, j) => {
      let weight = w[k];
      let d = g[j];
      if (attrs.decoupled) weight *= h.decay_factor;
      else d += h.weight_decay * weight;

      m[k] = h.beta1 * m[k] + h.one_minus_beta1 * d;
      v[k] = h.beta2 * v[k] + h.one_minus_beta2 * d * d;
      const denominator = Math.sqrt(v[k]) / h.sqrt_bias2 + h.eps;
      w[k] = weight - h.step_size * (m[k] / denominator);
    });
  },
  webgpu: ({ inputSpecs, attrs }) =>
    optimizerProgram({
      ...programOptions(attrs.decoupled ? 'adamw' : 'adam', attrs, inputSpecs),
      slots: ['exp_avg', 'exp_avg_sq'],
      uniforms: uniformsOf(attrs.hyper),
      body: adamBody(attrs.decoupled),
    }),
  backward: NOT_DIFFERENTIABLE,
  describeAttrs: (attrs) => `${attrs.mode}${attrs.decoupled ? ' decoupled' : ''}`,
});

/** Adagrad: d = g + weight_decay * w; s += d^2; w -= lr * d / (sqrt(s) + eps). Slot: sum (s). */
export const adagradUpdateOp = defineOp<AdagradAttrs>({
  name: 'adagradUpdate',
  shape: (inputs, attrs) => updateShape('adagradUpdate', inputs, attrs.mode, 1),
  cpu(args) {
    const { inputs, attrs } = args;
    const { lr, eps, weight_decay: weightDecay } = attrs.hyper;
    const w = inputs[0];
    const g = gradientArray(attrs.mode, inputs);
    const [sum] = slotArrays(attrs.mode, inputs);

    forEachUpdated('adagradUpdate', attrs, args, (k, j) => {
      const d = g[j] + weightDecay * w[k];
      sum[k] = sum[k] + d * d;
      w[k] = w[k] - lr * (d / (Math.sqrt(sum[k]) + eps));
    });
  },
  webgpu: ({ inputSpecs, attrs }) =>
    optimizerProgram({
      ...programOptions('adagrad', attrs, inputSpecs),
      slots: ['sum'],
      uniforms: uniformsOf(attrs.hyper),
      body: adagradBody(),
    }),
  backward: NOT_DIFFERENTIABLE,
  describeAttrs: (attrs) => attrs.mode,
});

/**
 * FTRL-Proximal per coordinate (McMahan et al. 2013, Algorithm 1): sigma = (sqrt(n + g^2) -
 * sqrt(n)) / alpha; z += g - sigma * w; n += g^2; then w = 0 when |z| <= l1, else
 * w = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2). Here w is the stored weight,
 * which equals the paper's w computed from z and n once the coordinate has been updated.
 * Slots: z, n.
 */
export const ftrlUpdateOp = defineOp<FtrlAttrs>({
  name: 'ftrlUpdate',
  shape: (inputs, attrs) => updateShape('ftrlUpdate', inputs, attrs.mode, 2),
  cpu(args) {
    const { inputs, attrs } = args;
    const { alpha, beta, l1, l2 } = attrs.hyper;
    const w = inputs[0];
    const g = gradientArray(attrs.mode, inputs);
    const [z, n] = slotArrays(attrs.mode, inputs);

    forEachUpdated('ftrlUpdate', attrs, args, (k, j) => {
      const gradient = g[j];
      const nNext = n[k] + gradient * gradient;
      const sigma = (Math.sqrt(nNext) - Math.sqrt(n[k])) / alpha;
      z[k] = z[k] + gradient - sigma * w[k];
      n[k] = nNext;

      const zk = z[k];
      w[k] = Math.abs(zk) <= l1 ? 0 : -(zk - Math.sign(zk) * l1) / ((beta + Math.sqrt(n[k])) / alpha + l2);
    });
  },
  webgpu: ({ inputSpecs, attrs }) =>
    optimizerProgram({
      ...programOptions('ftrl', attrs, inputSpecs),
      slots: ['z', 'n'],
      uniforms: uniformsOf(attrs.hyper),
      body: ftrlBody(),
    }),
  backward: NOT_DIFFERENTIABLE,
  describeAttrs: (attrs) => attrs.mode,
});

/** Adds a row-sparse gradient into `target` in place: target[local row] += values[i]. */
export const addRowSparseOp = defineOp<UpdateAttrs<Record<string, never>>>({
  name: 'addRowSparse',
  shape(inputs, attrs) {
    if (attrs.mode !== 'sparse') throw new ShapeError('addRowSparse: only the sparse mode exists');
    return updateShape('addRowSparse', inputs, 'sparse', 0);
  },
  cpu(args) {
    const [target, , values] = args.inputs;
    forEachUpdated('addRowSparse', args.attrs, args, (k, j) => {
      target[k] = target[k] + values[j];
    });
  },
  webgpu: ({ inputSpecs, attrs }) =>
    optimizerProgram({ ...programOptions('addRowSparse', attrs, inputSpecs), slots: [], uniforms: [], body: '  w = w + g;' }),
  backward: NOT_DIFFERENTIABLE,
  describeAttrs: (attrs) => `row offset ${attrs.rowOffset}`,
});

/**
 * Runs an update op on `param` with a dense gradient or a row-sparse one, under `noGrad`.
 * The parameter and `slots` are written in place.
 */
export function runUpdate<A extends UpdateAttrs<object>>(
  def: OpDef<A>,
  param: Tensor,
  gradient: Tensor | RowSparse,
  slots: Tensor[],
  attrs: Omit<A, 'mode' | 'rowOffset'>,
): void {
  const full = (
    gradient instanceof Tensor
      ? { ...attrs, mode: 'dense', rowOffset: 0 }
      : { ...attrs, mode: 'sparse', rowOffset: gradient.rowOffset }
  ) as A;
  const gradientInputs = gradient instanceof Tensor ? [gradient] : [gradient.rows, gradient.values];
  noGrad(() => runOp(def, [param, ...gradientInputs, ...slots], full));
}
