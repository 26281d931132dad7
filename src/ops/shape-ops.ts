// Ops that move data without arithmetic: transpose, slice and its zero-padded adjoint, concat, split.

import { concatPass, padSlicePass, slicePass } from '../kernels/copy.js';
import type { KernelPass } from '../kernels/pass.js';
import { transposePass } from '../kernels/transpose.js';
import { ShapeError } from '../errors.js';
import { runOp } from '../tensor/engine.js';
import { formatShape, normalizeAxis, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, type TensorSpec } from './op.js';
import { expectInputs, expectSameDType } from './validate.js';

const INPUT = { kind: 'input', index: 0, access: 'read' } as const;
const OUTPUT = { kind: 'output', index: 0, access: 'read_write' } as const;

/** Advances a row-major multi-index by one, like an odometer. */
function advance(index: number[], shape: Shape): void {
  for (let d = shape.length - 1; d >= 0; d--) {
    if (++index[d] < shape[d]) return;
    index[d] = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// transpose

interface TransposeAttrs {
  /** Output axis d is input axis perm[d]. */
  perm: number[];
}

function checkPerm(shape: Shape, perm: readonly number[]): void {
  const valid = perm.length === shape.length && perm.every((axis, d) => Number.isInteger(axis) && axis >= 0 && axis < shape.length && perm.indexOf(axis) === d);
  if (!valid) {
    throw new ShapeError(
      `transpose: perm [${perm.join(', ')}] is not a permutation of the axes of ${formatShape(shape)}; ` +
        `expected each of 0 to ${shape.length - 1} exactly once`,
    );
  }
}

/**
 * Permutes axes: output axis d is input axis perm[d], so the output shape is
 * perm.map((axis) => shape[axis]). Accepts any dtype. The gradient is the transpose by the
 * inverse permutation.
 */
export const transposeOp = defineOp<TransposeAttrs>({
  name: 'transpose',
  shape(inputs, { perm }) {
    expectInputs('transpose', inputs, 1);
    checkPerm(inputs[0].shape, perm);
    return [{ shape: perm.map((axis) => inputs[0].shape[axis]), dtype: inputs[0].dtype }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, outputSpecs, attrs }) {
    const inStrides = stridesOf(inputSpecs[0].shape);
    const outShape = outputSpecs[0].shape;
    const index = new Array<number>(outShape.length).fill(0);
    for (let i = 0; i < y.length; i++) {
      let offset = 0;
      for (let d = 0; d < outShape.length; d++) offset += index[d] * inStrides[attrs.perm[d]];
      y[i] = x[offset];
      advance(index, outShape);
    }
  },
  webgpu({ inputSpecs, outputSpecs, attrs }) {
    if (sizeOf(outputSpecs[0].shape) === 0) return { passes: [] };
    return { passes: [transposePass(inputSpecs[0].shape, attrs.perm, inputSpecs[0].dtype, INPUT, OUTPUT)] };
  },
  backward: ({ grads: [g], attrs }) => {
    const inverse = new Array<number>(attrs.perm.length);
    attrs.perm.forEach((axis, d) => (inverse[axis] = d));
    return [transpose(g!, inverse)];
  },
  describeAttrs: (attrs) => `perm [${attrs.perm.join(',')}]`,
});

/** Permutes the axes of `x`: output axis d is input axis perm[d]. The default reverses the axes. */
export function transpose(x: Tensor, perm?: number[]): Tensor {
  const resolved = perm ?? x.shape.map((_, d) => x.rank - 1 - d);
  return runOp(transposeOp, [x], { perm: [...resolved] })[0];
}

// ---------------------------------------------------------------------------------------------
// slice and padSlice

interface SliceAttrs {
  begin: number[];
  /** Sizes with every -1 already resolved. */
  size: number[];
}

/** Checks that the box at `begin` of shape `size` lies inside `shape`. */
function checkBox(op: string, shape: Shape, begin: readonly number[], size: readonly number[]): void {
  if (begin.length !== shape.length || size.length !== shape.length) {
    throw new ShapeError(
      `${op}: begin [${begin.join(', ')}] and size [${size.join(', ')}] need one entry per dimension of ${formatShape(shape)}`,
    );
  }
  shape.forEach((dim, d) => {
    if (!Number.isInteger(begin[d]) || begin[d] < 0 || begin[d] > dim) {
      throw new ShapeError(`${op}: begin[${d}] = ${begin[d]} is out of range for dimension ${d} of ${formatShape(shape)} (valid: 0 to ${dim})`);
    }
    if (!Number.isInteger(size[d]) || size[d] < 0 || begin[d] + size[d] > dim) {
      throw new ShapeError(
        `${op}: size[${d}] = ${size[d]} with begin ${begin[d]} does not fit dimension ${d} of ${formatShape(shape)}; ` +
          `use 0 to ${dim - begin[d]}, or -1 for the rest`,
      );
    }
  });
}

/**
 * Copies the box of shape `size` that starts at `begin` (begin[d] >= 0). Accepts any dtype.
 * The gradient is `padSlice` of the output gradient back into zeros of the input shape.
 */
export const sliceOp = defineOp<SliceAttrs>({
  name: 'slice',
  shape(inputs, { begin, size }) {
    expectInputs('slice', inputs, 1);
    checkBox('slice', inputs[0].shape, begin, size);
    return [{ shape: [...size], dtype: inputs[0].dtype }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, attrs }) {
    const inStrides = stridesOf(inputSpecs[0].shape);
    const index = new Array<number>(attrs.size.length).fill(0);
    for (let i = 0; i < y.length; i++) {
      let offset = 0;
      for (let d = 0; d < index.length; d++) offset += (attrs.begin[d] + index[d]) * inStrides[d];
      y[i] = x[offset];
      advance(index, attrs.size);
    }
  },
  webgpu({ inputSpecs, attrs }) {
    if (sizeOf(attrs.size) === 0) return { passes: [] };
    return { passes: [slicePass(inputSpecs[0].shape, attrs.begin, attrs.size, inputSpecs[0].dtype, INPUT, OUTPUT)] };
  },
  backward: ({ inputs: [x], grads: [g], attrs }) => [padSlice(g!, attrs.begin, [...x.shape])],
  describeAttrs: (attrs) => `begin [${attrs.begin.join(',')}] size [${attrs.size.join(',')}]`,
});

/**
 * Copies the part of `x` that starts at `begin` and has shape `size`, with one entry per
 * dimension each. A size of -1 takes the rest of that dimension.
 */
export function slice(x: Tensor, begin: number[], size: number[]): Tensor {
  const resolved = size.map((length, d) => (length === -1 && d < x.rank ? x.shape[d] - begin[d] : length));
  return runOp(sliceOp, [x], { begin: [...begin], size: resolved })[0];
}

interface PadSliceAttrs {
  begin: number[];
  /** Output shape. */
  shape: number[];
}

/**
 * Writes the input into zeros of `shape` at `begin`, which is the adjoint of slice and its
 * gradient. Accepts any dtype. The gradient is the slice of the output gradient at the same box.
 */
export const padSliceOp = defineOp<PadSliceAttrs>({
  name: 'padSlice',
  shape(inputs, { begin, shape }) {
    expectInputs('padSlice', inputs, 1);
    checkBox('padSlice', shape, begin, inputs[0].shape);
    return [{ shape: [...shape], dtype: inputs[0].dtype }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, attrs }) {
    y.fill(0);
    const outStrides = stridesOf(attrs.shape);
    const region = inputSpecs[0].shape;
    const index = new Array<number>(region.length).fill(0);
    for (let i = 0; i < x.length; i++) {
      let offset = 0;
      for (let d = 0; d < index.length; d++) offset += (attrs.begin[d] + index[d]) * outStrides[d];
      y[offset] = x[i];
      advance(index, region);
    }
  },
  webgpu({ inputSpecs, attrs }) {
    if (sizeOf(attrs.shape) === 0) return { passes: [] };
    return { passes: [padSlicePass(inputSpecs[0].shape, attrs.begin, attrs.shape, inputSpecs[0].dtype, INPUT, OUTPUT)] };
  },
  backward: ({ inputs: [x], grads: [g], attrs }) => [slice(g!, attrs.begin, [...x.shape])],
  describeAttrs: (attrs) => `begin [${attrs.begin.join(',')}] into [${attrs.shape.join(',')}]`,
});

/** Returns a tensor of `shape` that is zero except for `x` placed at `begin`. */
export function padSlice(x: Tensor, begin: number[], shape: number[]): Tensor {
  return runOp(padSliceOp, [x], { begin: [...begin], shape: [...shape] })[0];
}

// ---------------------------------------------------------------------------------------------
// concat and split

interface ConcatAttrs {
  /** Non-negative axis. */
  axis: number;
}

function concatShape(inputs: TensorSpec[], axis: number): number[] {
  if (inputs.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = inputs[0];
  const resolved = normalizeAxis('concat', axis, first.shape.length);

  let total = 0;
  inputs.forEach((spec, k) => {
    expectSameDType('concat', first, spec);
    const matches = spec.shape.length === first.shape.length && spec.shape.every((dim, d) => d === resolved || dim === first.shape[d]);
    if (!matches) {
      throw new ShapeError(
        `concat: input ${k} has shape ${formatShape(spec.shape)} but input 0 has ${formatShape(first.shape)}; ` +
          `every dimension except axis ${resolved} must match`,
      );
    }
    total += spec.shape[resolved];
  });
  return first.shape.map((dim, d) => (d === resolved ? total : dim));
}

/**
 * Joins tensors of one dtype along `axis`, and every other dimension must match. The WebGPU
 * program runs one pass per input, each binding only that input and the output, so any
 * number of inputs fits the adapter's limit of storage buffers per shader stage. The
 * gradient of each input is its slice of the output gradient.
 */
export const concatOp = defineOp<ConcatAttrs>({
  name: 'concat',
  shape(inputs, { axis }) {
    return [{ shape: concatShape(inputs, axis), dtype: inputs[0].dtype }];
  },
  cpu({ inputs, outputs: [y], inputSpecs, outputSpecs, attrs }) {
    const outShape = outputSpecs[0].shape;
    const outer = sizeOf(outShape.slice(0, attrs.axis));
    const inner = sizeOf(outShape.slice(attrs.axis + 1));
    const outRow = outShape[attrs.axis] * inner;

    let start = 0;
    inputs.forEach((x, k) => {
      const row = inputSpecs[k].shape[attrs.axis] * inner;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < row; j++) y[o * outRow + start + j] = x[o * row + j];
      }
      start += row;
    });
  },
  webgpu({ inputSpecs, outputSpecs, attrs }) {
    const outShape = outputSpecs[0].shape;
    const outer = sizeOf(outShape.slice(0, attrs.axis));
    const inner = sizeOf(outShape.slice(attrs.axis + 1));
    const passes: KernelPass[] = [];

    let offset = 0;
    inputSpecs.forEach((spec, k) => {
      const length = spec.shape[attrs.axis];
      if (sizeOf(spec.shape) > 0) {
        const source = { kind: 'input', index: k, access: 'read' } as const;
        passes.push(concatPass(outer, length, inner, outShape[attrs.axis], offset, spec.dtype, source, OUTPUT));
      }
      offset += length;
    });
    return { passes };
  },
  backward: ({ inputs, grads: [g], attrs, needsInputGrad }) => {
    let offset = 0;
    return inputs.map((x, k) => {
      const begin = x.shape.map((_, d) => (d === attrs.axis ? offset : 0));
      offset += x.shape[attrs.axis];
      return needsInputGrad[k] ? slice(g!, begin, [...x.shape]) : null;
    });
  },
  describeAttrs: (attrs) => `axis ${attrs.axis}`,
});

/** Joins `tensors` along `axis` (negative counts from the end). Other dimensions must match. */
export function concat(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const resolved = normalizeAxis('concat', axis, tensors[0].rank);
  return runOp(concatOp, tensors, { axis: resolved })[0];
}

/**
 * Splits `x` along `axis` into `sizesOrCount` equal parts (the dimension must divide
 * evenly), or into parts of the listed sizes (they must add up to the dimension).
 */
export function split(x: Tensor, sizesOrCount: number | number[], axis = 0): Tensor[] {
  const resolved = normalizeAxis('split', axis, x.rank);
  const dim = x.shape[resolved];
  let sizes: number[];
  if (typeof sizesOrCount === 'number') {
    const count = sizesOrCount;
    if (!Number.isInteger(count) || count < 1 || dim % count !== 0) {
      throw new ShapeError(`split: cannot split dimension ${resolved} of ${formatShape(x.shape)} (size ${dim}) into ${count} equal parts`);
    }
    sizes = new Array<number>(count).fill(dim / count);
  } else {
    sizes = sizesOrCount;
    const total = sizes.reduce((a, b) => a + b, 0);
    if (sizes.some((size) => !Number.isInteger(size) || size < 0) || total !== dim) {
      throw new ShapeError(
        `split: sizes [${sizes.join(', ')}] must be non-negative integers that add up to dimension ${resolved} of ${formatShape(x.shape)} (size ${dim})`,
      );
    }
  }

  let offset = 0;
  return sizes.map((size) => {
    const begin = x.shape.map((_, d) => (d === resolved ? offset : 0));
    const extent = x.shape.map((full, d) => (d === resolved ? size : full));
    offset += size;
    return slice(x, begin, extent);
  });
}
