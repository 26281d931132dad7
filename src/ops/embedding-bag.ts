// Table-batched embedding bags: pooled lookups of many fields in one op, with a row-sparse gradient.

import {
  embeddingBagForwardProgram,
  embeddingGradProgram,
  embeddingKeysProgram,
  forwardInputIndex,
  NO_POSITION,
  type EmbeddingGradKernelOptions,
  type Pooling,
} from '../kernels/embedding-bag.js';
import { embeddingAtomicProgram } from '../kernels/embedding-atomic.js';
import { ShapeError } from '../errors.js';
import { PADDING_ROW, RowSparse } from '../sparse/row-sparse.js';
import { ShardedTable } from '../sparse/sharded-table.js';
import type { EmbeddingBatch } from '../sparse/embedding-batch.js';
import type { TypedArray } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp, type TensorSpec } from './op.js';
import { bitLength, sortPairs } from './sparse-sort.js';
import { expectDType } from './validate.js';

export type { Pooling };

const POOLINGS: readonly Pooling[] = ['sum', 'mean', 'max'];

interface EmbeddingBagAttrs {
  pooling: Pooling;
  batchSize: number;
  /** Field names, in layout order, for error messages. */
  fieldNames: string[];
  dim: number;
  shardCount: number;
  shardRows: number;
  totalRows: number;
  hasWeights: boolean;
  /** Shards bound per WebGPU pass; default: as many as the adapter's storage-buffer limit allows. */
  shardsPerPass?: number;
  /** Compute the gradient with float atomics instead of sort and segment (not deterministic). */
  atomicGrad?: boolean;
  /**
   * Entries of each shard's gradient: the number of distinct rows of the shard that the
   * batch names, when known on the host. Default: min(nnz, the shard's rows), which may
   * leave padding entries.
   */
  capacities?: number[];
}

/** Rows of shard k of the combined table. */
function shardRowsOf(attrs: EmbeddingBagAttrs, k: number): number {
  return k < attrs.shardCount - 1 ? attrs.shardRows : attrs.totalRows - attrs.shardRows * (attrs.shardCount - 1);
}

function capacitiesOf(attrs: EmbeddingBagAttrs, nnz: number): number[] {
  const capacities = attrs.capacities ?? Array.from({ length: attrs.shardCount }, (_, k) => Math.min(nnz, shardRowsOf(attrs, k)));
  if (capacities.length !== attrs.shardCount || capacities.some((c, k) => !Number.isInteger(c) || c < 0 || c > shardRowsOf(attrs, k))) {
    throw new RangeError(`embeddingBags: capacities [${capacities.join(', ')}] must hold one integer per shard, from 0 to the shard's rows`);
  }
  return capacities;
}

/** Output specs of a gradient op: rows u32 [C_k] and values f32 [C_k, D] per shard k. */
function gradSpecs(attrs: EmbeddingBagAttrs, nnz: number): TensorSpec[] {
  return capacitiesOf(attrs, nnz).flatMap((capacity): TensorSpec[] => [
    { shape: [capacity], dtype: 'u32' },
    { shape: [capacity, attrs.dim], dtype: 'f32' },
  ]);
}

/** Returns the shard that contains combined row `row`. */
function shardOf(attrs: EmbeddingBagAttrs, row: number): number {
  return Math.min(Math.floor(row / attrs.shardRows), attrs.shardCount - 1);
}

function describe(attrs: EmbeddingBagAttrs): string {
  return `${attrs.pooling}, batch ${attrs.batchSize}, ${attrs.fieldNames.length} fields, dim ${attrs.dim}, ${attrs.shardCount} shard(s) of ${attrs.shardRows} rows`;
}

/** Rounds a partial sum to the precision of `out`, as float32 hardware does. */
function roundingOf(out: TypedArray): (x: number) => number {
  return out instanceof Float64Array ? (x) => x : Math.fround;
}

/**
 * Checks the combined offsets and ids as the CPU reference reads them, naming the field and
 * the position within the field. `embeddingBatch` makes the same checks on the host before
 * upload, so this only fires for batches built another way.
 */
function checkBatch(ids: TypedArray, offsets: TypedArray, fieldInfo: TypedArray, attrs: EmbeddingBagAttrs): void {
  const { batchSize, fieldNames } = attrs;
  const bags = batchSize * fieldNames.length;
  if (offsets[0] !== 0) throw new RangeError(`embeddingBags: offsets[0] is ${offsets[0]}; the first offset must be 0`);
  if (offsets[bags] !== ids.length) {
    throw new RangeError(`embeddingBags: offsets[${bags}] is ${offsets[bags]} but there are ${ids.length} ids; the last offset must equal the number of ids`);
  }
  for (let q = 0; q < bags; q++) {
    const field = Math.floor(q / batchSize);
    const name = fieldNames[field];
    if (offsets[q + 1] < offsets[q]) {
      throw new RangeError(`embeddingBags: field "${name}" offsets[${q + 1}] is ${offsets[q + 1]}, less than offsets[${q}] = ${offsets[q]}; offsets must not decrease`);
    }
    const rows = fieldInfo[field * 3 + 1];
    const fieldStart = offsets[field * batchSize];
    for (let p = offsets[q]; p < offsets[q + 1]; p++) {
      if (ids[p] >= rows) {
        throw new RangeError(`embeddingBags: field "${name}" ids[${p - fieldStart}] is ${ids[p]}, outside the valid range [0, ${rows}) of the field's table`);
      }
    }
  }
}

function expectIds(spec: TensorSpec, name: string, length?: number): void {
  expectDType('embeddingBags', spec, ['u32'], name);
  if (spec.shape.length !== 1 || (length !== undefined && spec.shape[0] !== length)) {
    const expected = length === undefined ? '[n]' : `[${length}]`;
    throw new ShapeError(`embeddingBags: ${name} must be u32 ${expected}, got ${formatShape(spec.shape)}`);
  }
}

/**
 * Embedding bags of several fields in one op (table batching). Every field's table is a
 * block of rows of one combined table f32 [totalRows, D] (see TableLayout), stored as
 * `shardCount` shards of `shardRows` rows (see ShardedTable). Inputs, in order: the shards,
 * `ids` u32 [nnz] (each field's local ids, fields concatenated), `offsets` u32 [F * B + 1]
 * (bag b of field f is ids[offsets[f * B + b] .. offsets[f * B + b + 1])), `fieldInfo`
 * u32 [F, 3] (first row, rows and padding id of each field, PADDING_ROW for none), and with
 * `hasWeights` `weights` f32 [nnz]. Output 0 is f32 [B, F, D]; `max` adds output 1, the
 * position in `ids` of each element's maximum, u32 [B, F, D] (NO_POSITION when none).
 *
 * Semantics, the same on both backends:
 * - An id is the local row of its field; the combined row is fieldInfo's first row + id.
 * - Ids that equal the field's padding id contribute nothing and do not count for `mean`.
 * - `sum` adds weight x row over the bag's ids in position order (weight 1 without weights).
 *   `mean` divides the sum by the number of ids counted. `max` takes each column's largest
 *   value, the first in position order on ties. It ignores NaN: a column whose values are all
 *   NaN gives 0 and no gradient, as an empty bag does. Weights need `sum`.
 * - An id repeated in a bag or across bags counts once per occurrence: its row is added
 *   (or compared) each time, and the row's gradient sums every occurrence.
 * - An empty bag, or one of padding ids only, gives zeros and no gradient.
 * - Out of range: an id at or above its field's row count is invalid. `embeddingBatch`
 *   rejects it on the host before upload (as it rejects bad offsets and weights), and the
 *   CPU reference raises a RangeError naming the field and position. The WebGPU kernels
 *   cannot raise, so they skip such an id: it reads nothing and counts for nothing. They
 *   compare the id with the field's row count, never a computed byte offset.
 * - Validation runs on the host, where the data layer builds batches, so no step reads
 *   anything back to validate. A NaN or infinity in a gradient is found by
 *   `assertFiniteGradient`, which reads back one u32, before an optimizer touches weights.
 * - Precision: each partial sum is rounded to f32 in position order. With more shards than
 *   one WebGPU pass can bind (the adapter's storage-buffer limit minus 6), the WebGPU
 *   forward adds each pass's shards separately, so sums can differ from the CPU in the
 *   last bits; they remain deterministic.
 *
 * Gradient: only the shards get one. Shard k gets a RowSparse of the distinct combined
 * rows it holds (row ids of the combined table, rowOffset = the shard's first row), with
 * the capacity that `capacities` gives: `embeddingBags` counts the distinct rows on the
 * host, so there is no padding; without it, min(nnz, shard rows) with padding. It is
 * computed by a stable radix sort of the combined rows followed by a segmented sum in
 * sorted order, so it is deterministic: two runs give identical bits. With `atomicGrad`
 * it is computed instead by a hash table of rows and float additions by compare-exchange
 * loops (see `embeddingGradAtomicOp`): NOT deterministic, in neither the order of the
 * rows, which are unique but unsorted, nor the last bits of the sums. Weights are
 * constants (no gradient), as are ids and offsets.
 */
export const embeddingBagsOp = defineOp<EmbeddingBagAttrs>({
  name: 'embeddingBags',
  shape(inputs, attrs) {
    const { shardCount, shardRows, totalRows, dim, batchSize, fieldNames, pooling, hasWeights } = attrs;
    const fields = fieldNames.length;
    const expectedInputs = shardCount + 3 + (hasWeights ? 1 : 0);
    if (inputs.length !== expectedInputs) throw new ShapeError(`embeddingBags: expected ${expectedInputs} inputs, got ${inputs.length}`);
    if (!POOLINGS.includes(pooling)) {
      throw new RangeError(`embeddingBags: invalid pooling ${JSON.stringify(pooling)}; use one of ${POOLINGS.map((name) => `'${name}'`).join(', ')}`);
    }
    if (hasWeights && pooling !== 'sum') throw new ShapeError(`embeddingBags: per-id weights need pooling 'sum', got '${pooling}'`);
    if (!Number.isInteger(batchSize) || batchSize < 0) throw new RangeError(`embeddingBags: batch size must be a non-negative integer, got ${batchSize}`);

    for (let k = 0; k < shardCount; k++) {
      const spec = inputs[k];
      const rows = k < shardCount - 1 ? shardRows : totalRows - shardRows * (shardCount - 1);
      expectDType('embeddingBags', spec, ['f32'], `shard ${k}`);
      if (spec.shape.length !== 2 || spec.shape[0] !== rows || spec.shape[1] !== dim) {
        throw new ShapeError(`embeddingBags: shard ${k} must be f32 [${rows}, ${dim}], got ${formatShape(spec.shape)}`);
      }
    }
    const index = forwardInputIndex(shardCount);
    expectIds(inputs[index.ids], 'ids');
    const nnz = inputs[index.ids].shape[0];
    expectIds(inputs[index.offsets], 'offsets', fields * batchSize + 1);
    expectDType('embeddingBags', inputs[index.fieldInfo], ['u32'], 'fieldInfo');
    if (formatShape(inputs[index.fieldInfo].shape) !== formatShape([fields, 3])) {
      throw new ShapeError(`embeddingBags: fieldInfo must be u32 [${fields}, 3], got ${formatShape(inputs[index.fieldInfo].shape)}`);
    }
    if (hasWeights) {
      expectDType('embeddingBags', inputs[index.weights], ['f32'], 'weights');
      if (formatShape(inputs[index.weights].shape) !== formatShape([nnz])) {
        throw new ShapeError(`embeddingBags: weights must be f32 [${nnz}] (one per id), got ${formatShape(inputs[index.weights].shape)}`);
      }
    }

    const outShape = [batchSize, fields, dim];
    const outputs: TensorSpec[] = [{ shape: outShape, dtype: 'f32' }];
    if (pooling === 'max') outputs.push({ shape: outShape, dtype: 'u32' });
    return outputs;
  },
  cpu({ inputs, outputs, attrs }) {
    const { shardCount, shardRows, dim, batchSize, pooling, hasWeights } = attrs;
    const fields = attrs.fieldNames.length;
    const index = forwardInputIndex(shardCount);
    const ids = inputs[index.ids];
    const offsets = inputs[index.offsets];
    const fieldInfo = inputs[index.fieldInfo];
    const weights = hasWeights ? inputs[index.weights] : null;
    const [out, argmax] = outputs;
    const round = roundingOf(out);
    checkBatch(ids, offsets, fieldInfo, attrs);

    for (let f = 0; f < fields; f++) {
      const [rowStart, , padding] = [fieldInfo[f * 3], fieldInfo[f * 3 + 1], fieldInfo[f * 3 + 2]];
      for (let b = 0; b < batchSize; b++) {
        const q = f * batchSize + b;
        const base = (b * fields + f) * dim;
        for (let c = 0; c < dim; c++) {
          let total = 0;
          let best = 0;
          let bestPosition = NO_POSITION;
          let count = 0;
          for (let p = offsets[q]; p < offsets[q + 1]; p++) {
            if (ids[p] === padding) continue;
            count++;
            const row = rowStart + ids[p];
            const shard = Math.floor(row / shardRows);
            const value = inputs[shard][(row - shard * shardRows) * dim + c];
            if (pooling === 'max') {
              if (!Number.isNaN(value) && (bestPosition === NO_POSITION || value > best)) {
                best = value;
                bestPosition = p;
              }
            } else {
              total = round(total + (weights === null ? value : round(weights[p] * value)));
            }
          }
          if (pooling === 'max') {
            out[base + c] = bestPosition === NO_POSITION ? 0 : best;
            argmax[base + c] = bestPosition;
          } else {
            const mean = count > 0 ? total / count : 0;
            out[base + c] = pooling === 'mean' ? mean : total;
          }
        }
      }
    }
  },
  webgpu({ attrs, limits }) {
    // Ids, offsets, field info, weights, output and argmax take up to 6 bindings.
    const available = limits.maxStorageBuffersPerShaderStage - 6;
    const shardsPerPass = Math.max(1, Math.min(attrs.shardsPerPass ?? available, available));
    return embeddingBagForwardProgram({
      pooling: attrs.pooling,
      batchSize: attrs.batchSize,
      fields: attrs.fieldNames.length,
      dim: attrs.dim,
      shardCount: attrs.shardCount,
      shardRows: attrs.shardRows,
      hasWeights: attrs.hasWeights,
      shardsPerPass,
    });
  },
  backward({ inputs, outputs, grads: [g], attrs, needsInputGrad }) {
    const { shardCount, shardRows, totalRows, dim } = attrs;
    const nulls = inputs.map(() => null);
    if (g === null || !needsInputGrad.slice(0, shardCount).some(Boolean)) return nulls;

    const index = forwardInputIndex(shardCount);
    const keyInputs = [inputs[index.ids], inputs[index.offsets], inputs[index.fieldInfo]];
    if (attrs.hasWeights) keyInputs.push(inputs[index.weights]);
    const [keys, bags, scales] = runOp(embeddingKeysOp, keyInputs, attrs);
    let parts: Tensor[];
    if (attrs.atomicGrad) {
      const gradInputs = [keys, bags, scales, g];
      if (attrs.pooling === 'max') gradInputs.push(outputs[1]);
      parts = runOp(embeddingGradAtomicOp, gradInputs, attrs);
    } else {
      const [sorted, positions] = sortPairs(keys, { keyBits: bitLength(totalRows) });
      const gradInputs = [sorted, positions, bags, scales, g];
      if (attrs.pooling === 'max') gradInputs.push(outputs[1]);
      parts = runOp(embeddingGradOp, gradInputs, attrs);
    }

    return inputs.map((shard, k) => {
      if (k >= shardCount || !needsInputGrad[k]) return null;
      return new RowSparse(parts[2 * k], parts[2 * k + 1], [shard.shape[0], dim], k * shardRows);
    });
  },
  describeAttrs: describe,
});

/** Kernel options of the sorted and the atomic gradient programs, for `count` ids. */
function gradKernelOptions(attrs: EmbeddingBagAttrs, count: number): EmbeddingGradKernelOptions {
  return {
    pooling: attrs.pooling,
    batchSize: attrs.batchSize,
    fields: attrs.fieldNames.length,
    dim: attrs.dim,
    count,
    totalRows: attrs.totalRows,
    shardRows: attrs.shardRows,
    capacities: capacitiesOf(attrs, count),
    hasWeights: attrs.hasWeights,
  };
}

/**
 * The gradient's per-id keys: combined row (totalRows for a skipped id), bag index, and
 * scale (weight for `sum`, 1 / count for `mean`, 1 for `max`). Inputs: ids, offsets, field
 * info and, with `hasWeights`, weights. Outputs u32 [nnz], u32 [nnz], f32 [nnz].
 */
export const embeddingKeysOp = defineOp<EmbeddingBagAttrs>({
  name: 'embeddingBagKeys',
  shape(inputs) {
    const nnz = inputs[0].shape[0];
    return [
      { shape: [nnz], dtype: 'u32' },
      { shape: [nnz], dtype: 'u32' },
      { shape: [nnz], dtype: 'f32' },
    ];
  },
  cpu({ inputs: [ids, offsets, fieldInfo, weights], outputs: [keys, bags, scales], attrs }) {
    const fields = attrs.fieldNames.length;
    for (let q = 0; q < fields * attrs.batchSize; q++) {
      const f = Math.floor(q / attrs.batchSize);
      const [rowStart, rows, padding] = [fieldInfo[f * 3], fieldInfo[f * 3 + 1], fieldInfo[f * 3 + 2]];
      const counted = (p: number) => ids[p] < rows && ids[p] !== padding;
      let count = 0;
      for (let p = offsets[q]; p < offsets[q + 1]; p++) if (counted(p)) count++;
      for (let p = offsets[q]; p < offsets[q + 1]; p++) {
        keys[p] = counted(p) ? rowStart + ids[p] : attrs.totalRows;
        bags[p] = q;
        if (attrs.pooling === 'mean') scales[p] = 1 / Math.max(count, 1);
        else scales[p] = attrs.pooling === 'sum' && attrs.hasWeights ? weights[p] : 1;
      }
    }
  },
  webgpu: ({ inputSpecs, attrs }) =>
    embeddingKeysProgram({
      pooling: attrs.pooling,
      batchSize: attrs.batchSize,
      fields: attrs.fieldNames.length,
      count: inputSpecs[0].shape[0],
      totalRows: attrs.totalRows,
      hasWeights: attrs.hasWeights,
    }),
  backward: { notDifferentiable: 'it computes integer keys and constant scales for a gradient' },
  describeAttrs: describe,
});

/**
 * The gradient's segmented sum: inputs sorted keys, positions, bags, scales, the output
 * gradient [B, F, D] and for `max` the argmax. Outputs per shard k: its distinct combined
 * rows in ascending order, u32 [C_k], then PADDING_ROW, and their summed gradients f32
 * [C_k, D], then zeros (C_k from `capacitiesOf`). Splitting by shard keeps every output
 * within one storage binding, since a shard's gradient has at most the shard's rows.
 */
export const embeddingGradOp = defineOp<EmbeddingBagAttrs>({
  name: 'embeddingBagGrad',
  shape: (inputs, attrs) => gradSpecs(attrs, inputs[0].shape[0]),
  cpu({ inputs: [keys, positions, bags, scales, grad, argmax], outputs, attrs }) {
    const { dim, batchSize } = attrs;
    const fields = attrs.fieldNames.length;
    const round = roundingOf(outputs[1]);
    for (let k = 0; k < attrs.shardCount; k++) {
      outputs[2 * k].fill(PADDING_ROW);
      outputs[2 * k + 1].fill(0);
    }

    const entries = new Array<number>(attrs.shardCount).fill(0);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key >= attrs.totalRows || (i > 0 && keys[i - 1] === key)) continue;
      const shard = shardOf(attrs, key);
      const entry = entries[shard]++;
      const [rows, values] = [outputs[2 * shard], outputs[2 * shard + 1]];
      if (entry >= rows.length) continue;
      rows[entry] = key;
      for (let j = i; j < keys.length && keys[j] === key; j++) {
        const p = positions[j];
        const q = bags[p];
        const base = ((q % batchSize) * fields + Math.floor(q / batchSize)) * dim;
        for (let c = 0; c < dim; c++) {
          if (attrs.pooling === 'max' && argmax[base + c] !== p) continue;
          values[entry * dim + c] = round(values[entry * dim + c] + round(scales[p] * grad[base + c]));
        }
      }
    }
  },
  webgpu: ({ inputSpecs, attrs }) => embeddingGradProgram(gradKernelOptions(attrs, inputSpecs[0].shape[0])),
  backward: { notDifferentiable: 'it is itself a gradient' },
  describeAttrs: describe,
});

/**
 * The atomic gradient: inputs per-id keys, bags and scales (from `embeddingKeysOp`), the
 * output gradient [B, F, D] and for `max` the argmax. Outputs per shard like
 * `embeddingGradOp`, but with each shard's rows in no particular order. The WebGPU program
 * adds with float atomics, so the rows' order and the sums' last bits vary between runs.
 * The CPU reference adds in position order and lists rows in order of first appearance.
 */
export const embeddingGradAtomicOp = defineOp<EmbeddingBagAttrs>({
  name: 'embeddingBagGradAtomic',
  shape: (inputs, attrs) => gradSpecs(attrs, inputs[0].shape[0]),
  cpu({ inputs: [keys, bags, scales, grad, argmax], outputs, attrs }) {
    const { dim, batchSize } = attrs;
    const fields = attrs.fieldNames.length;
    const round = roundingOf(outputs[1]);
    const entries = new Map<number, number>();
    const used = new Array<number>(attrs.shardCount).fill(0);
    for (let k = 0; k < attrs.shardCount; k++) {
      outputs[2 * k].fill(PADDING_ROW);
      outputs[2 * k + 1].fill(0);
    }

    for (let p = 0; p < keys.length; p++) {
      const key = keys[p];
      if (key >= attrs.totalRows) continue;
      const shard = shardOf(attrs, key);
      const [rows, values] = [outputs[2 * shard], outputs[2 * shard + 1]];
      let entry = entries.get(key);
      if (entry === undefined) {
        entry = used[shard]++;
        entries.set(key, entry);
        if (entry < rows.length) rows[entry] = key;
      }
      if (entry >= rows.length) continue;
      const q = bags[p];
      const base = ((q % batchSize) * fields + Math.floor(q / batchSize)) * dim;
      for (let c = 0; c < dim; c++) {
        if (attrs.pooling === 'max' && argmax[base + c] !== p) continue;
        values[entry * dim + c] = round(values[entry * dim + c] + round(scales[p] * grad[base + c]));
      }
    }
  },
  webgpu: ({ inputSpecs, attrs }) => embeddingAtomicProgram(gradKernelOptions(attrs, inputSpecs[0].shape[0])),
  backward: { notDifferentiable: 'it is itself a gradient' },
  describeAttrs: describe,
});

export interface EmbeddingBagsOptions {
  /** Default `sum`. */
  pooling?: Pooling;
  /** Shards bound per WebGPU pass, to exercise the multi-pass path in tests. */
  shardsPerPass?: number;
  /**
   * Compute the table's gradient with float atomics (a hash table of rows, then additions
   * by compare-exchange loops) instead of sort and segment. NOT deterministic: the order of
   * the gradient's rows and the last bits of its values vary between runs.
   */
  atomicGrad?: boolean;
}

/**
 * Pools the embeddings of every field of `batch` from `table`, the combined table of
 * `batch.layout` (a ShardedTable, or one tensor [totalRows, D]). Returns f32 [B, F, D].
 * See `embeddingBagsOp` for the semantics, the out-of-range policy and the gradient.
 */
export function embeddingBags(table: ShardedTable | Tensor, batch: EmbeddingBatch, options: EmbeddingBagsOptions = {}): Tensor {
  const sharded = table instanceof Tensor ? ShardedTable.fromTensor(table) : table;
  const layout = batch.layout;
  if (sharded.rows !== layout.totalRows) {
    throw new ShapeError(`embeddingBags: the table has ${sharded.rows} rows but the batch's layout has ${layout.totalRows} rows over ${layout.fieldCount} fields`);
  }
  const backend = batch.ids.backend.name;
  const attrs: EmbeddingBagAttrs = {
    pooling: options.pooling ?? 'sum',
    batchSize: batch.batchSize,
    fieldNames: layout.fields.map((field) => field.name),
    dim: sharded.dim,
    shardCount: sharded.shards.length,
    shardRows: sharded.shardRows,
    totalRows: sharded.rows,
    hasWeights: batch.weights !== null,
    shardsPerPass: options.shardsPerPass,
    atomicGrad: options.atomicGrad ?? false,
    capacities: batch.distinctRowsPerShard(sharded.shardRows),
  };
  const inputs = [...sharded.shards, batch.ids, batch.offsets, layout.fieldInfo(backend)];
  if (batch.weights !== null) inputs.push(batch.weights);
  const outputs = runOp(embeddingBagsOp, inputs, attrs);
  if (outputs.length > 1) outputs[1].dispose();
  return outputs[0];
}

