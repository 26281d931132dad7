// Sort and segmented-sum ops, and the sort-and-segment scatter-add that makes row-sparse gradients.

import { segmentSumProgram } from '../kernels/segment.js';
import { sortProgram, sortShapeOf, type SortStrategy, type SortWorkgroup } from '../kernels/sort.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms, type UniformField } from '../kernels/wgsl.js';
import type { KernelPass } from '../kernels/pass.js';
import { ShapeError } from '../errors.js';
import { PADDING_ROW, RowSparse } from '../sparse/row-sparse.js';
import type { TypedArray } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { formatShape, sizeOf, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp } from './op.js';
import { concat } from './shape-ops.js';
import { expectDType, expectInputs, expectRank } from './validate.js';

/** Number of bits that represent every integer in [0, value]: the sort width for keys up to `value`. */
export function bitLength(value: number): number {
  return Math.max(1, 32 - Math.clz32(value));
}

/** Rounds each partial sum to the precision of `out`, so the CPU adds exactly as float32 hardware does. */
function roundingOf(out: TypedArray): (x: number) => number {
  return out instanceof Float64Array ? (x) => x : Math.fround;
}

// ---------------------------------------------------------------------------------------------
// sortPairs

interface SortAttrs {
  keyBits: number;
  /** WebGPU program choice; the result does not depend on it. */
  strategy: SortStrategy;
  /** WebGPU workgroup layout; the result does not depend on it. */
  workgroup: SortWorkgroup;
}

/**
 * Stable sort of u32 keys (i32 keys are reinterpreted bit for bit, so a negative key sorts
 * as a number of at least 2^31). Input: keys [N]. Outputs: the sorted keys u32 [N] and the
 * original position of each, u32 [N]; equal keys keep their input order. Only bits
 * [0, keyBits) are sorted: a key of 2^keyBits or more is first clamped to 2^keyBits - 1,
 * and the sorted keys hold the clamped value. The WebGPU program is a least-significant-digit
 * radix sort of 4 bits per pass, so fewer key bits mean fewer passes. Up to
 * SINGLE_WORKGROUP_SORT_LIMIT keys it runs as one workgroup in one dispatch. Deterministic on both
 * backends. Not differentiable.
 */
export const sortPairsOp = defineOp<SortAttrs>({
  name: 'sortPairs',
  shape(inputs, { keyBits }) {
    expectInputs('sortPairs', inputs, 1);
    expectDType('sortPairs', inputs[0], ['u32', 'i32'], 'keys');
    expectRank('sortPairs', inputs[0], 1, 'keys');
    if (!Number.isInteger(keyBits) || keyBits < 1 || keyBits > 32) {
      throw new RangeError(`sortPairs: keyBits must be an integer from 1 to 32, got ${keyBits}`);
    }
    const count = inputs[0].shape[0];
    return [
      { shape: [count], dtype: 'u32' },
      { shape: [count], dtype: 'u32' },
    ];
  },
  cpu({ inputs: [keys], outputs: [sortedKeys, positions], attrs }) {
    const max = attrs.keyBits >= 32 ? 0xffffffff : 2 ** attrs.keyBits - 1;
    const keyAt = (i: number) => Math.min(keys[i] >>> 0, max);

    for (let i = 0; i < positions.length; i++) positions[i] = i;
    // The position tie-break makes the order stable whatever sort algorithm the engine uses.
    positions.sort((a, b) => keyAt(a) - keyAt(b) || a - b);
    for (let i = 0; i < positions.length; i++) sortedKeys[i] = keyAt(positions[i]);
  },
  webgpu: ({ inputSpecs, attrs, cpuAdapter }) =>
    sortProgram({
      count: inputSpecs[0].shape[0],
      keyBits: attrs.keyBits,
      keysDType: inputSpecs[0].dtype,
      strategy: attrs.strategy,
      shape: sortShapeOf(attrs.workgroup, cpuAdapter),
    }),
  backward: { notDifferentiable: 'sorting returns integer keys and positions' },
  describeAttrs: (attrs) =>
    `keyBits ${attrs.keyBits}${attrs.strategy === 'auto' ? '' : `, ${attrs.strategy}`}${attrs.workgroup === 'auto' ? '' : `, ${attrs.workgroup}`}`,
});

export interface SortPairsOptions {
  /** Bits of the key that are sorted (default 32); fewer bits mean fewer passes. */
  keyBits?: number;
  /** Forces the WebGPU program: `single` workgroup or `multi` workgroup (default `auto`), for tests and benchmarks. */
  strategy?: SortStrategy;
  /**
   * Forces the workgroup layout of the WebGPU programs: `narrow` (16 invocations of 64 keys,
   * for adapters that run shaders on the CPU) or `wide` (128 of 8, for hardware GPUs). Default
   * `auto` picks by the adapter. For tests and benchmarks.
   */
  workgroup?: SortWorkgroup;
}

/** Sorts `keys` stably: returns [sorted keys, original positions]. See `sortPairsOp`. */
export function sortPairs(keys: Tensor, options: SortPairsOptions = {}): [Tensor, Tensor] {
  const attrs = { keyBits: options.keyBits ?? 32, strategy: options.strategy ?? 'auto', workgroup: options.workgroup ?? 'auto' };
  const [sorted, positions] = runOp(sortPairsOp, [keys], attrs);
  return [sorted, positions];
}

// ---------------------------------------------------------------------------------------------
// segmentSum

interface SegmentSumAttrs {
  keyLimit: number;
  /** WebGPU program choice; the result does not depend on it. */
  strategy: SortStrategy;
}

/**
 * Segmented sum over sorted keys. Inputs: `sortedKeys` u32 [N] in ascending order,
 * `positions` u32 [N] (a row of `values` for each key, as `sortPairs` returns them), and
 * `values` f32 [M, ...rowShape]. Keys of `keyLimit` or more are dropped. Output 0 is the U
 * distinct remaining keys in ascending order, then N - U entries of PADDING_ROW (u32 [N]).
 * Output 1 is f32 [N, ...rowShape]: row s is the sum of values[positions[i]] over the keys
 * i of segment s, added in sorted order, and the rows past U are zeros. Deterministic on
 * both backends, because one invocation sums each output element in a fixed order. A
 * position outside [0, M) raises a RangeError on the CPU, while the WebGPU kernel, which
 * cannot raise, reads what robust buffer access returns (zero or a clamped element). Neither
 * backend checks that the keys are sorted: unsorted keys give wrong segments (a key repeated
 * in the output), so sort them with `sortPairs` first. Not differentiable: gradients use it,
 * through `scatterAddRows`, and are not differentiated again.
 */
export const segmentSumOp = defineOp<SegmentSumAttrs>({
  name: 'segmentSum',
  shape(inputs, { keyLimit }) {
    expectInputs('segmentSum', inputs, 3);
    const [keys, positions, values] = inputs;
    expectDType('segmentSum', keys, ['u32'], 'sortedKeys');
    expectDType('segmentSum', positions, ['u32'], 'positions');
    expectDType('segmentSum', values, ['f32'], 'values');
    expectRank('segmentSum', keys, 1, 'sortedKeys');
    if (positions.shape.length !== 1 || positions.shape[0] !== keys.shape[0]) {
      throw new ShapeError(`segmentSum: positions ${formatShape(positions.shape)} must have the shape of sortedKeys ${formatShape(keys.shape)}`);
    }
    if (values.shape.length === 0) throw new ShapeError('segmentSum: values must have rank at least 1 ([M, ...rowShape])');
    if (!Number.isInteger(keyLimit) || keyLimit < 0 || keyLimit > PADDING_ROW) {
      throw new RangeError(`segmentSum: keyLimit must be an integer from 0 to 2^32 - 1, got ${keyLimit}`);
    }
    const count = keys.shape[0];
    return [
      { shape: [count], dtype: 'u32' },
      { shape: [count, ...values.shape.slice(1)], dtype: 'f32' },
    ];
  },
  cpu({ inputs: [keys, positions, values], outputs: [uniqueKeys, sums], inputSpecs, attrs }) {
    const rowSize = sizeOf(inputSpecs[2].shape.slice(1));
    const valueRows = inputSpecs[2].shape[0];
    const round = roundingOf(sums);
    uniqueKeys.fill(PADDING_ROW);
    sums.fill(0);

    let segment = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key >= attrs.keyLimit || (i > 0 && keys[i - 1] === key)) continue;
      uniqueKeys[segment] = key;
      for (let j = i; j < keys.length && keys[j] === key; j++) {
        const row = positions[j];
        if (row >= valueRows) throw new RangeError(`segmentSum: positions[${j}] is ${row}, outside the valid range [0, ${valueRows}) of value rows`);
        for (let c = 0; c < rowSize; c++) sums[segment * rowSize + c] = round(sums[segment * rowSize + c] + values[row * rowSize + c]);
      }
      segment++;
    }
  },
  webgpu({ inputSpecs, attrs }) {
    const rowSize = sizeOf(inputSpecs[2].shape.slice(1));
    return segmentSumProgram({
      label: 'segmentSum',
      count: inputSpecs[0].shape[0],
      rowSize,
      keyLimit: attrs.keyLimit,
      partRows: Math.max(1, attrs.keyLimit),
      capacities: [inputSpecs[0].shape[0]],
      strategy: attrs.strategy,
      extraBindings: [input(2, 'values', 'f32')],
      // NOTE: a position outside the value rows reads whatever robust buffer access returns
      // (zero or a clamped element), where the CPU reference raises a RangeError.
      valueFunction: `fn segment_value(position: u32, column: u32) -> f32 { return values[position * u.row_size + column]; }`,
      vector: {
        extraBindings: [input(2, 'values', 'vec4<f32>')],
        valueFunction: `fn segment_add4(position: u32, column: u32, total: ptr<function, array<vec4<f32>, SEGMENT_CHUNK>>) {
  let base = (position * u.row_size + column) / 4u;
  for (var k = 0u; k < SEGMENT_CHUNK; k++) { (*total)[k] = (*total)[k] + values[base + k]; }
}`,
      },
    });
  },
  backward: { notDifferentiable: 'segment sums are used on gradients; differentiate through scatterAddRows instead' },
  describeAttrs: (attrs) => `keyLimit ${attrs.keyLimit}${attrs.strategy === 'auto' ? '' : `, ${attrs.strategy}`}`,
});

/**
 * Sums rows of `values` per distinct sorted key: see `segmentSumOp`. Returns [unique keys, sums].
 * `strategy` forces the WebGPU program (`single` workgroup, up to any count, or `multi`;
 * default `auto`: single up to SINGLE_WORKGROUP_SEGMENT_LIMIT keys), for tests and benchmarks.
 */
export function segmentSum(
  sortedKeys: Tensor,
  positions: Tensor,
  values: Tensor,
  options: { keyLimit?: number; strategy?: SortStrategy } = {},
): [Tensor, Tensor] {
  const [keys, sums] = runOp(segmentSumOp, [sortedKeys, positions, values], { keyLimit: options.keyLimit ?? PADDING_ROW, strategy: options.strategy ?? 'auto' });
  return [keys, sums];
}

// ---------------------------------------------------------------------------------------------
// Row-sparse scatter-add: the one primitive behind every sparse gradient

/**
 * Sums the rows of `values` (f32 [N, ...rowShape]) by row id `ids` (u32 or i32 [N]) into a
 * RowSparse of shape `denseShape` ([rows, ...rowShape]): a stable sort of the ids, then a
 * segmented sum in sorted order, so the result is deterministic and bit-identical between
 * runs. Ids outside [0, rows) (negative i32 ids included) are dropped. The capacity of the
 * result is N. Cost O(N x row size) plus the sort, independent of `rows`.
 */
export function scatterAddRows(ids: Tensor, values: Tensor, denseShape: Shape, rowOffset = 0): RowSparse {
  const rows = denseShape[0];
  const count = ids.size;
  const flatIds = ids.rank === 1 ? ids : ids.reshape([count]);
  const flatValues = values.reshape([count, ...denseShape.slice(1)]);

  const [sorted, positions] = sortPairs(flatIds, { keyBits: bitLength(rowOffset + rows) });
  const [unique, sums] = segmentSum(sorted, positions, flatValues, { keyLimit: rowOffset + rows });
  sorted.dispose();
  positions.dispose();
  if (flatIds !== ids) flatIds.dispose();
  flatValues.dispose();
  return new RowSparse(unique, sums, denseShape, rowOffset);
}

/**
 * Adds two row-sparse gradients of one tensor (same dense shape and row offset): their
 * entries are concatenated and re-coalesced by `scatterAddRows` over the whole u32 range,
 * so padding entries are dropped and rows outside this tensor's range are kept. The
 * capacity of the result is the sum of both capacities.
 */
export function addRowSparse(a: RowSparse, b: RowSparse): RowSparse {
  if (formatShape(a.denseShape) !== formatShape(b.denseShape) || a.rowOffset !== b.rowOffset) {
    throw new ShapeError(
      `addRowSparse: gradients of ${formatShape(a.denseShape)} at row offset ${a.rowOffset} and ${formatShape(b.denseShape)} at row offset ${b.rowOffset} do not belong to one tensor`,
    );
  }
  const rows = concat([a.rows, b.rows]);
  const values = concat([a.values, b.values]);
  const [sorted, positions] = sortPairs(rows, { keyBits: 32 });
  const [unique, sums] = segmentSum(sorted, positions, values, { keyLimit: PADDING_ROW });
  [rows, values, sorted, positions].forEach((t) => t.dispose());
  return new RowSparse(unique, sums, a.denseShape, a.rowOffset);
}

// ---------------------------------------------------------------------------------------------
// rowSparseToDense

interface ToDenseAttrs {
  rows: number;
  rowOffset: number;
}

/**
 * Writes a row-sparse gradient into a dense f32 [rows, ...rowShape] tensor: zeros, then
 * out[rows[i] - rowOffset] = values[i] for each entry whose local row is in range (padding
 * and other shards' rows are skipped). The rows must be unique, as every RowSparse's are.
 * This costs O(rows x row size): it is for tensors that are not tables, and for tests.
 */
export const rowSparseToDenseOp = defineOp<ToDenseAttrs>({
  name: 'rowSparseToDense',
  shape(inputs, { rows }) {
    expectInputs('rowSparseToDense', inputs, 2);
    expectDType('rowSparseToDense', inputs[0], ['u32'], 'rows');
    expectDType('rowSparseToDense', inputs[1], ['f32'], 'values');
    return [{ shape: [rows, ...inputs[1].shape.slice(1)], dtype: 'f32' }];
  },
  cpu({ inputs: [rows, values], outputs: [out], attrs }) {
    const rowSize = rows.length === 0 ? 0 : values.length / rows.length;
    out.fill(0);
    for (let i = 0; i < rows.length; i++) {
      const local = (rows[i] - attrs.rowOffset) >>> 0;
      if (local >= attrs.rows) continue;
      for (let c = 0; c < rowSize; c++) out[local * rowSize + c] = values[i * rowSize + c];
    }
  },
  webgpu({ inputSpecs, attrs }) {
    const count = inputSpecs[0].shape[0];
    const rowSize = sizeOf(inputSpecs[1].shape.slice(1));
    const bindings = [input(0, 'rows', 'u32'), input(1, 'values', 'f32'), output(0, 'out', 'f32')];
    const uniforms: UniformField[] = [
      ['count', 'u32', count],
      ['row_size', 'u32', rowSize],
      ['rows_dense', 'u32', attrs.rows],
      ['row_offset', 'u32', attrs.rowOffset],
    ];
    const header = declareBindings(bindings, uniforms);
    const denseSize = attrs.rows * rowSize;
    const passes: KernelPass[] = [
      {
        label: `rowSparseToDense zeros [${attrs.rows},${rowSize}]`,
        wgsl: `${header}
${computeEntry(256)} {
  let i = ${flatWorkgroupIndex()} * 256u + lid;
  if (i < u.rows_dense * u.row_size) { out[i] = 0.0; }
}
`,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: denseSize === 0 ? [0, 1, 1] : grid1d(Math.ceil(denseSize / 256)),
      },
      {
        label: `rowSparseToDense scatter [${count},${rowSize}]`,
        wgsl: `${header}
${computeEntry(256)} {
  let i = ${flatWorkgroupIndex()} * 256u + lid;
  if (i >= u.count * u.row_size) { return; }
  let entry = i / u.row_size;
  let local = rows[entry] - u.row_offset;
  if (local >= u.rows_dense) { return; }
  out[local * u.row_size + i % u.row_size] = values[i];
}
`,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: count * rowSize === 0 ? [0, 1, 1] : grid1d(Math.ceil((count * rowSize) / 256)),
      },
    ];
    return { passes };
  },
  backward: { notDifferentiable: 'it densifies gradients, which are not differentiated again' },
  describeAttrs: (attrs) => `rows ${attrs.rows} offset ${attrs.rowOffset}`,
});

/** Densifies a row-sparse gradient: see `rowSparseToDenseOp`. */
export function rowSparseToDense(grad: RowSparse): Tensor {
  return runOp(rowSparseToDenseOp, [grad.rows, grad.values], { rows: grad.denseShape[0], rowOffset: grad.rowOffset })[0];
}
