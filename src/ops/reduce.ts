// Reductions along axes (sum, mean, max) and sumToShape, the gradient of broadcasting.

import { broadcastOffsets } from '../backend/cpu/loops.js';
import { mapProgram } from '../kernels/elementwise.js';
import { reduceChunks, reducePasses, type ReduceKind } from '../kernels/reduce.js';
import { transposePass } from '../kernels/transpose.js';
import type { KernelPass } from '../kernels/pass.js';
import { ShapeError } from '../errors.js';
import { reshapeOwned, runOp } from '../tensor/engine.js';
import { broadcastShapes, formatShape, normalizeAxes, shapesEqual, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, equal, mul } from './elementwise.js';
import { defineOp } from './op.js';
import { expectDType, expectInputs } from './validate.js';

interface ReduceAttrs {
  kind: ReduceKind;
  /** Sorted, non-negative axes. */
  axes: number[];
  keepDims: boolean;
}

function reducedShape(shape: Shape, axes: number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((dim, d) => {
    if (!axes.includes(d)) out.push(dim);
    else if (keepDims) out.push(1);
  });
  return out;
}

/** Whether the reduced axes form one consecutive run, so the input is a [outer, K, inner] view. */
function isConsecutive(axes: number[]): boolean {
  return axes.every((axis, i) => i === 0 || axis === axes[i - 1] + 1);
}

export const reduceOp = defineOp<ReduceAttrs>({
  name: 'reduce',
  shape(inputs, { kind, axes, keepDims }) {
    expectInputs('reduce', inputs, 1);
    expectDType(`reduce-${kind}`, inputs[0], ['f32']);
    const { shape } = inputs[0];
    if (kind === 'max' && axes.some((axis) => shape[axis] === 0)) {
      throw new ShapeError(`max: cannot take the maximum over an empty axis of ${formatShape(shape)}`);
    }
    return [{ shape: reducedShape(shape, axes, keepDims), dtype: 'f32' }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, attrs }) {
    const shape = inputSpecs[0].shape;
    const outStrides = stridesOf(reducedShape(shape, attrs.axes, false));
    const keptAxes = shape.map((_, d) => d).filter((d) => !attrs.axes.includes(d));
    y.fill(attrs.kind === 'sum' ? 0 : -Infinity);

    const index = new Array<number>(shape.length).fill(0);
    for (let flat = 0; flat < x.length; flat++) {
      let target = 0;
      keptAxes.forEach((axis, j) => (target += index[axis] * outStrides[j]));
      y[target] = attrs.kind === 'sum' ? y[target] + x[flat] : Math.max(y[target], x[flat]);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  },
  webgpu({ inputSpecs, attrs }) {
    const shape = inputSpecs[0].shape;
    const passes: KernelPass[] = [];
    let source = { kind: 'input' as const, index: 0, access: 'read' as const };
    let viewShape = [...shape];
    let axes = attrs.axes;
    let transposed = 1;

    if (!isConsecutive(axes)) {
      // Move the reduced axes to the end, then reduce one run.
      const kept = shape.map((_, d) => d).filter((d) => !axes.includes(d));
      const perm = [...kept, ...axes];
      passes.push(transposePass(shape, perm, 'f32', source, { kind: 'temp', index: 0, access: 'read_write' }));
      source = { kind: 'temp', index: 0, access: 'read' } as never;
      viewShape = perm.map((axis) => shape[axis]);
      axes = axes.map((_, i) => kept.length + i);
      transposed = sizeOf(shape);
    }

    const first = axes[0] ?? viewShape.length;
    const last = axes[axes.length - 1] ?? viewShape.length - 1;
    const outer = sizeOf(viewShape.slice(0, first));
    const reduced = sizeOf(viewShape.slice(first, last + 1));
    const inner = sizeOf(viewShape.slice(last + 1));
    const length = axes.length === 0 ? 1 : reduced;
    const target = { kind: 'output' as const, index: 0, access: 'read_write' as const };
    const partials = { kind: 'temp' as const, index: 1, access: 'read_write' as const };
    passes.push(...reducePasses(attrs.kind, outer, length, inner, source, target, partials));

    // Temp 0: the transposed input; temp 1: the partial results of a two-pass reduction.
    const temps = [
      { dtype: 'f32' as const, size: transposed },
      { dtype: 'f32' as const, size: Math.max(1, outer * reduceChunks(outer, length, inner)) },
    ];
    return { temps, passes };
  },
  backward: ({ inputs: [x], outputs: [y], grads: [g], attrs }) => {
    const keptShape = reducedShape(x.shape, attrs.axes, true);
    const gradKept = g!.reshape(keptShape);
    if (attrs.kind === 'sum') return [broadcastTo(gradKept, x.shape)];

    // The maximum's gradient is shared equally among the elements that attain it.
    const mask = equal(x, y.reshape(keptShape));
    const count = sum(mask, attrs.axes, true);
    return [mul(mask, div(gradKept, count))];
  },
  describeAttrs: (attrs) => `${attrs.kind} axes [${attrs.axes.join(',')}]`,
});

function reduce(kind: ReduceKind, x: Tensor, axes: number | number[] | undefined, keepDims: boolean): Tensor {
  const resolved = normalizeAxes(kind, axes, x.rank);
  return runOp(reduceOp, [x], { kind, axes: resolved, keepDims })[0];
}

/** Sum over `axes` (default: all). */
export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return reduce('sum', x, axes, keepDims);
}

/** Maximum over `axes` (default: all); the gradient is split equally among ties. */
export function max(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return reduce('max', x, axes, keepDims);
}

/** Mean over `axes` (default: all). */
export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const resolved = normalizeAxes('mean', axes, x.rank);
  const count = resolved.reduce((product, axis) => product * x.shape[axis], 1);
  const total = reduce('sum', x, resolved, keepDims);
  const result = mul(total, 1 / count);
  total.dispose();
  return result;
}

/** Sums `x` over the dimensions that broadcasting added or stretched, back to `shape`. */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;

  const offset = x.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < x.rank; d++) {
    if (d < offset || (shape[d - offset] === 1 && x.shape[d] !== 1)) axes.push(d);
  }
  return reshapeOwned(sum(x, axes, true), [...shape]);
}

interface BroadcastAttrs {
  shape: number[];
}

/**
 * Repeats `x` along its size-1 (or missing leading) dimensions to `attrs.shape`, materialized,
 * with the broadcasting rules of the binary ops. The gradient sums back with `sumToShape`.
 */
export const broadcastToOp = defineOp<BroadcastAttrs>({
  name: 'broadcastTo',
  shape(inputs, { shape }) {
    expectInputs('broadcastTo', inputs, 1);
    const result = broadcastShapes('broadcastTo', inputs[0].shape, shape);
    if (!shapesEqual(result, shape)) {
      throw new ShapeError(`broadcastTo: ${formatShape(inputs[0].shape)} cannot be broadcast to ${formatShape(shape)}, only its size-1 dimensions repeat`);
    }
    return [{ shape: [...shape], dtype: inputs[0].dtype }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, outputSpecs }) {
    const [offsets] = broadcastOffsets([inputSpecs[0].shape], outputSpecs[0].shape);
    for (let i = 0; i < y.length; i++) y[i] = x[offsets[i]];
  },
  webgpu: ({ inputSpecs, outputSpecs }) => mapProgram({ name: 'broadcastTo', inputs: inputSpecs, output: outputSpecs[0], expression: 'x0' }),
  backward: ({ inputs: [x], grads: [g] }) => [sumToShape(g!, x.shape)],
  describeAttrs: (attrs) => `to ${formatShape(attrs.shape)}`,
});

/** Repeats `x` along its size-1 dimensions to `shape` (materialized; differentiable). See `broadcastToOp`. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  return runOp(broadcastToOp, [x], { shape: [...shape] })[0];
}
