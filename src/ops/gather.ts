// Id-indexed ops: gather of table rows, its gradient scatterAdd, and oneHot.

import { gatherProgram, oneHotProgram, scatterAddProgram } from '../kernels/gather.js';
import { ShapeError } from '../errors.js';
import type { TypedArray } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { formatShape, shapesEqual, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp } from './op.js';
import { scatterAddRows } from './sparse-sort.js';
import { expectDType, expectInputs } from './validate.js';

const ID_DTYPES = ['i32', 'u32'] as const;

/** Formats the multi-index of flat position `flat` in `shape`, e.g. `[1, 2]`. */
function positionOf(flat: number, shape: Shape): string {
  const strides = stridesOf(shape);
  return formatShape(shape.map((dim, d) => Math.floor(flat / strides[d]) % dim));
}

/** Throws a RangeError naming the first id outside [0, limit), with its position. */
function checkIds(op: string, ids: TypedArray, idsShape: Shape, limit: number, what: string): void {
  for (let p = 0; p < ids.length; p++) {
    const id = ids[p];
    if (id < 0 || id >= limit) {
      throw new RangeError(`${op}: ids${positionOf(p, idsShape)} is ${id}, outside the valid range [0, ${limit}) of ${what}`);
    }
  }
}

function expectNonNegativeInteger(op: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// gather

export interface GatherOptions {
  /**
   * Return the table's gradient as a RowSparse (sorted unique rows and their summed
   * values, via `scatterAddRows`), which a leaf table receives in `sparseGrad`, instead of
   * a dense tensor of the table's size.
   */
  sparseGrad?: boolean;
}

/**
 * Dense gather of rows: `table` f32 [V, ...rowShape], `ids` i32 or u32 of any shape, output
 * f32 [...ids.shape, ...rowShape] with out[p] = table[ids[p]]. Duplicate ids read the same
 * row. An id outside [0, V) raises a RangeError on the CPU; the WebGPU kernel cannot throw
 * and writes a zero row instead, never reading out of bounds. The gradient with respect to
 * the table is `scatterAdd(ids, grad, V)`, or with `sparseGrad` the RowSparse of
 * `scatterAddRows`, which drops out-of-range ids; ids get none.
 */
export const gatherOp = defineOp<GatherOptions>({
  name: 'gather',
  shape(inputs) {
    expectInputs('gather', inputs, 2);
    const [table, ids] = inputs;
    expectDType('gather', table, ['f32'], 'table');
    expectDType('gather', ids, ID_DTYPES, 'ids');
    if (table.shape.length === 0) {
      throw new ShapeError(`gather: table must have rank at least 1 ([rows, ...rowShape]), got shape ${formatShape(table.shape)}`);
    }
    return [{ shape: [...ids.shape, ...table.shape.slice(1)], dtype: 'f32' }];
  },
  cpu({ inputs: [table, ids], outputs: [out], inputSpecs }) {
    const rows = inputSpecs[0].shape[0];
    const rowSize = sizeOf(inputSpecs[0].shape.slice(1));
    checkIds('gather', ids, inputSpecs[1].shape, rows, 'table rows');

    for (let p = 0; p < ids.length; p++) {
      const base = ids[p] * rowSize;
      for (let c = 0; c < rowSize; c++) out[p * rowSize + c] = table[base + c];
    }
  },
  webgpu({ inputSpecs }) {
    const [table, ids] = inputSpecs;
    return gatherProgram({ count: sizeOf(ids.shape), rowSize: sizeOf(table.shape.slice(1)), rows: table.shape[0], idsDType: ids.dtype });
  },
  backward: ({ inputs: [table, ids], grads: [g], attrs }) => [
    attrs.sparseGrad ? scatterAddRows(ids, g!, table.shape) : scatterAdd(ids, g!, table.shape[0]),
    null,
  ],
  describeAttrs: (attrs) => (attrs.sparseGrad ? 'sparseGrad' : ''),
});

/** Rows `table[ids]`: see `gatherOp` for shapes, the out-of-range policy and `sparseGrad`. */
export function gather(table: Tensor, ids: Tensor, options: GatherOptions = {}): Tensor {
  return runOp(gatherOp, [table, ids], { sparseGrad: options.sparseGrad ?? false })[0];
}

// ---------------------------------------------------------------------------------------------
// scatterAdd

interface ScatterAddAttrs {
  rows: number;
}

/**
 * Dense scatter-add: `ids` i32 or u32 of any shape, `values` f32 [...ids.shape, ...rowShape],
 * output f32 [rows, ...rowShape] with out[v] = sum of values[p] over the positions p where
 * ids[p] == v, and zeros for rows no id names. Both backends add in increasing p, without
 * atomics, so the result is deterministic. An id outside [0, rows) raises a RangeError on
 * the CPU; the WebGPU kernel cannot throw and drops it. The WebGPU pass reads every id once
 * per output row (see `scatterAddProgram`), so it suits modest sizes only. The gradient
 * with respect to `values` is `gather(grad, ids)`.
 */
export const scatterAddOp = defineOp<ScatterAddAttrs>({
  name: 'scatterAdd',
  shape(inputs, { rows }) {
    expectInputs('scatterAdd', inputs, 2);
    const [ids, values] = inputs;
    expectDType('scatterAdd', ids, ID_DTYPES, 'ids');
    expectDType('scatterAdd', values, ['f32'], 'values');
    expectNonNegativeInteger('scatterAdd', 'rows', rows);

    const prefix = values.shape.slice(0, ids.shape.length);
    if (values.shape.length < ids.shape.length || !shapesEqual(prefix, ids.shape)) {
      throw new ShapeError(
        `scatterAdd: values ${formatShape(values.shape)} must start with the ids shape ${formatShape(ids.shape)} ([...ids.shape, ...rowShape])`,
      );
    }
    return [{ shape: [rows, ...values.shape.slice(ids.shape.length)], dtype: 'f32' }];
  },
  cpu({ inputs: [ids, values], outputs: [out], inputSpecs, attrs }) {
    const rowSize = sizeOf(inputSpecs[1].shape.slice(inputSpecs[0].shape.length));
    checkIds('scatterAdd', ids, inputSpecs[0].shape, attrs.rows, 'output rows');

    out.fill(0);
    for (let p = 0; p < ids.length; p++) {
      const base = ids[p] * rowSize;
      for (let c = 0; c < rowSize; c++) out[base + c] += values[p * rowSize + c];
    }
  },
  webgpu({ inputSpecs, attrs }) {
    const [ids, values] = inputSpecs;
    const rowSize = sizeOf(values.shape.slice(ids.shape.length));
    return scatterAddProgram({ count: sizeOf(ids.shape), rowSize, rows: attrs.rows, idsDType: ids.dtype });
  },
  backward: ({ inputs: [ids], grads: [g] }) => [null, gather(g!, ids)],
  describeAttrs: (attrs) => `rows ${attrs.rows}`,
});

/** Sums the rows of `values` into `rows` output rows by id: see `scatterAddOp`. */
export function scatterAdd(ids: Tensor, values: Tensor, rows: number): Tensor {
  return runOp(scatterAddOp, [ids, values], { rows })[0];
}

// ---------------------------------------------------------------------------------------------
// oneHot

interface OneHotAttrs {
  depth: number;
}

/**
 * One-hot encoding: `ids` i32 or u32 of any shape, output f32 [...ids.shape, depth] with 1
 * at column ids[p] of row p and 0 elsewhere. An id outside [0, depth) raises a RangeError
 * on the CPU; the WebGPU kernel cannot throw and writes an all-zero row instead.
 */
export const oneHotOp = defineOp<OneHotAttrs>({
  name: 'oneHot',
  shape(inputs, { depth }) {
    expectInputs('oneHot', inputs, 1);
    expectDType('oneHot', inputs[0], ID_DTYPES, 'ids');
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`oneHot: depth must be a positive integer, got ${depth}`);
    return [{ shape: [...inputs[0].shape, depth], dtype: 'f32' }];
  },
  cpu({ inputs: [ids], outputs: [out], inputSpecs, attrs }) {
    checkIds('oneHot', ids, inputSpecs[0].shape, attrs.depth, 'classes (depth)');

    out.fill(0);
    for (let p = 0; p < ids.length; p++) out[p * attrs.depth + ids[p]] = 1;
  },
  webgpu: ({ inputSpecs, attrs }) => oneHotProgram({ count: sizeOf(inputSpecs[0].shape), rows: attrs.depth, idsDType: inputSpecs[0].dtype }),
  backward: { notDifferentiable: 'the input is integer ids, which have no gradient' },
  describeAttrs: (attrs) => `depth ${attrs.depth}`,
});

/** One-hot rows of width `depth` for integer `ids`: see `oneHotOp`. */
export function oneHot(ids: Tensor, depth: number): Tensor {
  return runOp(oneHotOp, [ids], { depth })[0];
}
