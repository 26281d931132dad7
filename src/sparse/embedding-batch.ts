// Embedding batches: per-field CSR ids checked on the host, then concatenated and uploaded once.

import type { BackendName } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TableLayout } from './table-layout.js';

/**
 * One field of a batch in CSR form: bag b is `ids[offsets[b] .. offsets[b + 1])`, and an
 * empty bag (equal offsets) is allowed. `weights`, when given, has one finite value per id.
 */
export interface SparseFieldInput {
  ids: ArrayLike<number>;
  offsets: ArrayLike<number>;
  weights?: ArrayLike<number>;
}

/**
 * The device form of a sparse batch for `embeddingBags`: B examples over the fields of a
 * TableLayout, on one backend, with the fields
 * concatenated in layout order: `ids` u32 [nnz] are local ids (field f's ids are
 * `ids[idStarts[f] .. idStarts[f + 1])`), `offsets` u32 [F * B + 1] index the combined ids
 * (bag b of field f is `ids[offsets[f * B + b] .. offsets[f * B + b + 1])`), and `weights`
 * f32 [nnz] is present when any field has weights (1 for the ids of fields without).
 */
export class EmbeddingBatch {
  private readonly distinctCache = new Map<number, number[]>();

  constructor(
    readonly layout: TableLayout,
    readonly batchSize: number,
    readonly ids: Tensor,
    readonly offsets: Tensor,
    readonly weights: Tensor | null,
    readonly idStarts: readonly number[],
    /** The concatenated local ids on the host, for counting distinct rows without a readback. */
    readonly hostIds: Uint32Array,
  ) {}

  /**
   * The number of distinct combined rows, padding ids excluded, that the batch names in
   * each shard of `shardRows` rows: the exact size of each shard's row-sparse gradient.
   * One pass over the ids with a bit set of the table's rows (totalRows / 8 bytes); the
   * result is cached per shard size.
   */
  distinctRowsPerShard(shardRows: number): number[] {
    const cached = this.distinctCache.get(shardRows);
    if (cached !== undefined) return cached;

    const { layout } = this;
    const shardCount = Math.ceil(layout.totalRows / shardRows);
    const counts = new Array<number>(shardCount).fill(0);
    const seen = new Uint32Array(Math.ceil(layout.totalRows / 32));
    layout.fields.forEach((field, f) => {
      const padding = field.paddingId ?? -1;
      for (let p = this.idStarts[f]; p < this.idStarts[f + 1]; p++) {
        const id = this.hostIds[p];
        if (id === padding) continue;
        const row = layout.rowStarts[f] + id;
        const word = row >>> 5;
        const bit = 1 << (row & 31);
        if ((seen[word] & bit) !== 0) continue;
        seen[word] |= bit;
        counts[Math.floor(row / shardRows)]++;
      }
    });
    this.distinctCache.set(shardRows, counts);
    return counts;
  }

  /** Number of ids over all fields. */
  get nnz(): number {
    return this.ids.shape[0];
  }

  dispose(): void {
    this.ids.dispose();
    this.offsets.dispose();
    this.weights?.dispose();
  }
}

/**
 * Checks one field of a batch and throws an error that names the field, the position and
 * the value: offsets of the wrong length, a first offset other than 0, decreasing offsets,
 * a last offset other than the number of ids, an id that is not an integer in [0, rows),
 * weights of the wrong length or not finite. Returns the field's batch size.
 */
export function validateSparseField(layout: TableLayout, fieldIndex: number, input: SparseFieldInput, batchSize?: number): number {
  const field = layout.fields[fieldIndex];
  const where = `embeddingBatch: field "${field.name}"`;
  const { ids, offsets, weights } = input;
  const isNumberArray = (value: unknown) => Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
  for (const [name, value] of [['ids', ids], ['offsets', offsets]] as const) {
    if (!isNumberArray(value)) {
      throw new TypeError(`${where}: ${name} is ${describeValue(value)}; expected an array or typed array of integers (host data, not a Tensor)`);
    }
  }
  if (weights !== undefined && !isNumberArray(weights)) {
    throw new TypeError(`${where}: weights is ${describeValue(weights)}; expected an array or typed array of numbers, one per id`);
  }

  if (offsets.length < 1) throw new ShapeError(`${where}: offsets is empty; it needs batch size + 1 entries, starting at 0`);
  const bags = offsets.length - 1;
  if (batchSize !== undefined && bags !== batchSize) {
    throw new ShapeError(`${where}: offsets has ${offsets.length} entries, expected ${batchSize + 1} (batch size ${batchSize} + 1, as the first field has)`);
  }
  if (offsets[0] !== 0) throw new RangeError(`${where}: offsets[0] is ${offsets[0]}; the first offset must be 0`);
  for (let b = 1; b <= bags; b++) {
    const offset = offsets[b];
    if (!Number.isInteger(offset)) throw new RangeError(`${where}: offsets[${b}] is ${offset}; offsets must be integers`);
    if (offset < offsets[b - 1]) {
      throw new RangeError(`${where}: offsets[${b}] is ${offset}, less than offsets[${b - 1}] = ${offsets[b - 1]}; offsets must not decrease`);
    }
  }
  if (offsets[bags] !== ids.length) {
    throw new RangeError(`${where}: offsets[${bags}] is ${offsets[bags]} but there are ${ids.length} ids; the last offset must equal the number of ids`);
  }

  for (let p = 0; p < ids.length; p++) {
    const id = ids[p];
    if (!Number.isInteger(id)) throw new RangeError(`${where}: ids[${p}] is ${id}; ids must be integers`);
    if (id < 0 || id >= field.rows) {
      throw new RangeError(`${where}: ids[${p}] is ${id}, outside the valid range [0, ${field.rows}) of the field's table`);
    }
  }

  if (weights !== undefined) {
    if (weights.length !== ids.length) {
      throw new ShapeError(`${where}: weights has ${weights.length} entries but there are ${ids.length} ids; give one weight per id`);
    }
    for (let p = 0; p < weights.length; p++) {
      if (!Number.isFinite(weights[p])) throw new RangeError(`${where}: weights[${p}] is ${weights[p]}; weights must be finite`);
    }
  }
  return bags;
}

/** Describes a value that should have been an array, for error messages. */
function describeValue(value: unknown): string {
  if (value === undefined || value === null) return 'missing';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Builds a EmbeddingBatch: checks every field on the host with `validateSparseField` (one
 * pass over the ids, so no device readback is ever needed to validate), then uploads the
 * concatenated ids, offsets and weights. `fields` is in layout order, or keyed by field name
 * (the `fields` of the data layer's host batch fit as they are).
 */
export function embeddingBatch(
  layout: TableLayout,
  fields: SparseFieldInput[] | Record<string, SparseFieldInput>,
  options: { backend?: BackendName } = {},
): EmbeddingBatch {
  const list = Array.isArray(fields) ? fields : layout.fields.map((field) => fields[field.name]);
  if (!Array.isArray(fields)) {
    const unknown = Object.keys(fields).filter((name) => !layout.fields.some((field) => field.name === name));
    if (unknown.length > 0) throw new RangeError(`embeddingBatch: unknown field "${unknown[0]}"; the layout has ${layout.fields.map((f) => `"${f.name}"`).join(', ')}`);
  }
  if (list.length !== layout.fieldCount || list.some((field) => field === undefined)) {
    const missing = layout.fields.find((_, f) => list[f] === undefined);
    throw new ShapeError(
      missing ? `embeddingBatch: field "${missing.name}" is missing` : `embeddingBatch: got ${list.length} fields, the layout has ${layout.fieldCount}`,
    );
  }

  let batchSize: number | undefined;
  list.forEach((input, f) => {
    batchSize = validateSparseField(layout, f, input, batchSize);
  });
  const bags = batchSize!;

  const idStarts = [0];
  for (const input of list) idStarts.push(idStarts[idStarts.length - 1] + input.ids.length);
  const nnz = idStarts[idStarts.length - 1];
  if (nnz > 0xffffffff) throw new RangeError(`embeddingBatch: ${nnz} ids in all exceed the 2^32 - 1 that u32 offsets allow`);

  const ids = new Uint32Array(nnz);
  const offsets = new Uint32Array(layout.fieldCount * bags + 1);
  const anyWeights = list.some((input) => input.weights !== undefined);
  const weights = anyWeights ? new Float32Array(nnz).fill(1) : null;
  list.forEach((input, f) => {
    ids.set(input.ids, idStarts[f]);
    for (let b = 0; b < bags; b++) offsets[f * bags + b] = idStarts[f] + input.offsets[b];
    if (weights !== null && input.weights !== undefined) weights.set(input.weights, idStarts[f]);
  });
  offsets[layout.fieldCount * bags] = nnz;

  const backend = options.backend;
  return new EmbeddingBatch(
    layout,
    bags,
    tensor(ids, [nnz], { backend }),
    tensor(offsets, [offsets.length], { backend }),
    weights === null ? null : tensor(weights, [nnz], { backend }),
    idStarts,
    ids,
  );
}
