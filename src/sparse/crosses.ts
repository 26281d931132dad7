// Hashed feature crosses of categorical bags (CSR), on the host and as device ops on both backends.

import { ShapeError, UnsupportedError } from '../errors.js';
import { CROSS_NO_ERROR, crossIdsProgram, crossOffsetsProgram } from '../kernels/crosses.js';
import { tensor } from '../ops/creation.js';
import { defineOp, type KernelLimits, type TensorSpec } from '../ops/op.js';
import { expectDType } from '../ops/validate.js';
import type { TypedArray } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { crossBucket } from './hash.js';

/**
 * Crossed bags. The definition of a hashed cross, the same on every path (host, CPU backend, WebGPU):
 *
 * - Input: k >= 2 categorical fields of one batch in CSR form. Field f has `ids` (i32 or u32
 *   [nnz_f]) and `offsets` (u32 [B + 1]); bag b of the field is ids[offsets[b] .. offsets[b + 1]).
 *   Offsets start at 0, never decrease and end at nnz_f. Every field has the same B.
 * - Output: crossed bags in CSR form, `ids` u32 [total] and `offsets` u32 [B + 1]. Crossed bag b
 *   contains one id per combination of one id from each field's bag b, so its length is the
 *   product of the fields' bag lengths. The combinations come in row-major order of the field
 *   list (the last field varies fastest). An empty bag in any field gives an empty crossed bag. Repeated ids are
 *   kept, so a repeated input id repeats its combinations.
 * - The id of a combination (x_0, ..., x_{k-1}) is `crossBucket([x_0, ..., x_{k-1}], seed,
 *   buckets)` of `hash.ts`: MurmurHash3 x86_32 of the ids' 32-bit two's-complement words,
 *   modulo `buckets`. Negative i32 ids hash by their bits, so -1 and the u32 id 4294967295 give
 *   the same crossed id. Both backends give the ids of `hashedCrossHost` bit for bit.
 * - Bad offsets and a total of 2^32 - 1 or more ids raise an error before any id is written.
 */
export interface CsrBags {
  ids: Tensor;
  offsets: Tensor;
}

/** One field's bags as host arrays, the form the data layer keeps them in. */
export interface HostBags {
  ids: ArrayLike<number>;
  offsets: ArrayLike<number>;
}

export interface HashedCrossOptions {
  /** Number of hash buckets: crossed ids are in [0, buckets). An integer from 1 to 2^32 - 1. */
  buckets: number;
  /** Hash seed, an integer from 0 to 2^32 - 1 (default 0). */
  seed?: number;
}

const MAX_U32 = 4294967295;

function checkOptions(op: string, options: HashedCrossOptions): { buckets: number; seed: number } {
  const { buckets } = options;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_U32) {
    throw new RangeError(`${op}: buckets is ${buckets}; expected an integer from 1 to 2^32 - 1`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_U32) {
    throw new RangeError(`${op}: seed is ${seed}; expected an integer from 0 to 2^32 - 1`);
  }
  return { buckets, seed };
}

function checkFieldCount(op: string, count: number): void {
  if (count < 2) throw new RangeError(`${op}: a cross needs at least 2 fields, got ${count}; hash the ids of a single field with crossBucket([id], seed, buckets) instead`);
}

// ---------------------------------------------------------------------------------------------
// Host loops, shared by the CPU backend and `hashedCrossHost`

/**
 * Writes the crossed offsets into `out` (length B + 1) and returns the total id count,
 * saturated at 2^32 - 1, and the key of the first invalid offset or CROSS_NO_ERROR. The key
 * convention is the one of `crossOffsetsProgram`: f * (B + 2) + p.
 */
function scanCrossOffsets(offsets: ArrayLike<number>[], idsLengths: number[], out: TypedArray | Uint32Array): { total: number; errorKey: number } {
  const bags = offsets[0].length - 1;
  let errorKey = CROSS_NO_ERROR;
  search: for (let f = 0; f < offsets.length; f++) {
    const field = offsets[f];
    for (let p = 0; p <= bags + 1; p++) {
      let bad: boolean;
      if (p === 0) bad = field[0] !== 0;
      else if (p <= bags) bad = field[p] < field[p - 1];
      else bad = field[bags] !== idsLengths[f];
      if (bad) {
        errorKey = f * (bags + 2) + p;
        break search;
      }
    }
  }

  let total = 0;
  for (let b = 0; b < bags; b++) {
    out[b] = total;
    let count = 1;
    for (const field of offsets) count = Math.min(count * ((field[b + 1] - field[b]) >>> 0), MAX_U32);
    total = Math.min(total + count, MAX_U32);
  }
  out[bags] = total;
  return { total, errorKey };
}

/** Fills `out` with the crossed ids, walking each bag's combinations with an odometer. */
function fillCrossedIds(ids: ArrayLike<number>[], offsets: ArrayLike<number>[], crossed: ArrayLike<number>, seed: number, buckets: number, out: TypedArray | Uint32Array): void {
  const fields = ids.length;
  const bags = crossed.length - 1;
  const words = new Array<number>(fields);
  const picks = new Array<number>(fields);

  for (let b = 0; b < bags; b++) {
    let position = crossed[b];
    if (crossed[b + 1] === position) continue;

    picks.fill(0);
    for (;;) {
      for (let f = 0; f < fields; f++) words[f] = ids[f][offsets[f][b] + picks[f]];
      out[position++] = crossBucket(words, seed, buckets);

      let f = fields - 1;
      while (f >= 0 && ++picks[f] === offsets[f][b + 1] - offsets[f][b]) picks[f--] = 0;
      if (f < 0) break;
    }
  }
}

function crossError(op: string, key: number, offsets: ArrayLike<number>, bags: number, idsLength: number): Error {
  const field = Math.floor(key / (bags + 2));
  const p = key % (bags + 2);
  if (p === 0) return new RangeError(`${op}: field ${field} offsets[0] is ${offsets[0]}; offsets must start at 0`);
  if (p <= bags) {
    return new RangeError(`${op}: field ${field} offsets[${p}] is ${offsets[p]}, less than offsets[${p - 1}] = ${offsets[p - 1]}; offsets must not decrease`);
  }
  return new RangeError(`${op}: field ${field} offsets[${bags}] is ${offsets[bags]}, but the field has ${idsLength} ids; the last offset must equal the number of ids`);
}

function overflowError(op: string): RangeError {
  return new RangeError(`${op}: the crossed bags would hold 2^32 - 1 or more ids; cross fewer fields or split the batch`);
}

/**
 * Crosses host bags: the reference that the device ops match bit for bit, for the data layer
 * and for tests. See `CsrBags` for the definition.
 */
export function hashedCrossHost(fields: HostBags[], options: HashedCrossOptions): { ids: Uint32Array; offsets: Uint32Array } {
  const { buckets, seed } = checkOptions('hashedCrossHost', options);
  checkFieldCount('hashedCrossHost', fields.length);
  const bags = fields[0].offsets.length - 1;
  fields.forEach((field, f) => {
    if (field.offsets.length !== bags + 1) {
      throw new ShapeError(`hashedCrossHost: field ${f} has ${field.offsets.length} offsets and field 0 has ${bags + 1}; every field needs the same batch size`);
    }
  });

  const offsets = new Uint32Array(bags + 1);
  const idsLengths = fields.map((field) => field.ids.length);
  const { total, errorKey } = scanCrossOffsets(fields.map((field) => field.offsets), idsLengths, offsets);
  if (errorKey !== CROSS_NO_ERROR) {
    const field = Math.floor(errorKey / (bags + 2));
    throw crossError('hashedCrossHost', errorKey, fields[field].offsets, bags, idsLengths[field]);
  }
  if (total === MAX_U32) throw overflowError('hashedCrossHost');
  fields.forEach((field, f) => {
    for (let p = 0; p < field.ids.length; p++) {
      if (!Number.isInteger(field.ids[p])) {
        throw new RangeError(`hashedCrossHost: field ${f} ids[${p}] is ${JSON.stringify(field.ids[p])}; ids must be integers (any sign and size: the hash takes their low 32 bits)`);
      }
    }
  });

  const ids = new Uint32Array(total);
  fillCrossedIds(fields.map((field) => field.ids), fields.map((field) => field.offsets), offsets, seed, buckets, ids);
  return { ids, offsets };
}

// ---------------------------------------------------------------------------------------------
// Device ops

function checkOffsetsSpecs(op: string, offsets: TensorSpec[]): number {
  checkFieldCount(op, offsets.length);
  offsets.forEach((spec, f) => {
    expectDType(op, spec, ['u32'], `field ${f} offsets`);
    if (spec.shape.length !== 1 || spec.shape[0] < 1) {
      throw new ShapeError(`${op}: field ${f} offsets must be u32 [B + 1], got shape ${formatShape(spec.shape)}`);
    }
    if (spec.shape[0] !== offsets[0].shape[0]) {
      throw new ShapeError(
        `${op}: field ${f} offsets ${formatShape(spec.shape)} give ${spec.shape[0] - 1} bags and field 0 offsets ${formatShape(offsets[0].shape)} give ${offsets[0].shape[0] - 1}; every field needs the same batch size`,
      );
    }
  });
  return offsets[0].shape[0] - 1;
}

function checkStorageBuffers(op: string, needed: number, fields: number, limits: KernelLimits): void {
  if (needed > limits.maxStorageBuffersPerShaderStage) {
    throw new UnsupportedError(
      `${op}: crossing ${fields} fields needs ${needed} storage buffers, but this adapter allows ${limits.maxStorageBuffersPerShaderStage} per shader stage; cross fewer fields at once or use hashedCrossHost`,
    );
  }
}

interface CrossOffsetsAttrs {
  /** Number of ids of each field, which its last offset must equal. */
  idsLengths: number[];
}

/**
 * Offsets of the crossed bags: inputs the k fields' offsets (u32 [B + 1]); outputs the crossed
 * offsets u32 [B + 1] and a status u32 [2] = [total ids (saturated at 2^32 - 1), first error
 * key or 0xffffffff] (see `crossOffsetsProgram`). It does not throw on bad offsets, on either
 * backend: `hashedCross` reads the status and raises the error, so both backends report the
 * same one.
 */
export const crossOffsetsOp = defineOp<CrossOffsetsAttrs>({
  name: 'crossOffsets',
  shape(inputs, { idsLengths }) {
    const bags = checkOffsetsSpecs('crossOffsets', inputs);
    if (idsLengths.length !== inputs.length) {
      throw new ShapeError(`crossOffsets: ${idsLengths.length} ids lengths for ${inputs.length} fields`);
    }
    return [
      { shape: [bags + 1], dtype: 'u32' },
      { shape: [2], dtype: 'u32' },
    ];
  },
  cpu({ inputs, outputs: [out, status], attrs }) {
    const { total, errorKey } = scanCrossOffsets(inputs, attrs.idsLengths, out);
    status[0] = total;
    status[1] = errorKey;
  },
  webgpu({ inputSpecs, attrs, limits }) {
    checkStorageBuffers('crossOffsets', inputSpecs.length + 2, inputSpecs.length, limits);
    return crossOffsetsProgram({ idsLengths: attrs.idsLengths, bags: inputSpecs[0].shape[0] - 1 });
  },
  backward: { notDifferentiable: 'offsets are integers' },
  describeAttrs: (attrs) => `ids lengths [${attrs.idsLengths.join(',')}]`,
});

interface CrossIdsAttrs {
  /** Ids in all crossed bags, the last crossed offset. */
  total: number;
  buckets: number;
  seed: number;
}

/**
 * Crossed ids. Inputs: the k fields' ids (i32 or u32 [nnz_f]), the k fields' offsets and the
 * crossed offsets from `crossOffsets` (u32 [B + 1] each). Output: u32 [total]. The offsets must
 * already be valid. The CPU reference checks only that the crossed offsets end at `total`. The
 * WGSL pass never reads out of bounds, but it gives meaningless ids for offsets that
 * `crossOffsets` would reject.
 */
export const crossIdsOp = defineOp<CrossIdsAttrs>({
  name: 'crossIds',
  shape(inputs, { total }) {
    const fields = (inputs.length - 1) / 2;
    if (!Number.isInteger(fields)) throw new ShapeError(`crossIds: expected k ids, k offsets and the crossed offsets, got ${inputs.length} inputs`);
    const ids = inputs.slice(0, fields);
    const offsets = inputs.slice(fields, 2 * fields + 1);
    checkOffsetsSpecs('crossIds', offsets);
    ids.forEach((spec, f) => {
      expectDType('crossIds', spec, ['i32', 'u32'], `field ${f} ids`);
      if (spec.shape.length !== 1) throw new ShapeError(`crossIds: field ${f} ids must have rank 1 ([nnz]), got ${formatShape(spec.shape)}`);
    });
    if (!Number.isInteger(total) || total < 0 || total >= MAX_U32) throw new RangeError(`crossIds: total is ${total}; expected an integer from 0 to 2^32 - 2`);
    return [{ shape: [total], dtype: 'u32' }];
  },
  cpu({ inputs, outputs: [out], attrs }) {
    const fields = (inputs.length - 1) / 2;
    const crossed = inputs[2 * fields];
    if (crossed[crossed.length - 1] !== attrs.total) {
      throw new RangeError(`crossIds: the crossed offsets end at ${crossed[crossed.length - 1]} but total is ${attrs.total}`);
    }
    fillCrossedIds(inputs.slice(0, fields), inputs.slice(fields, 2 * fields), crossed, attrs.seed, attrs.buckets, out);
  },
  webgpu({ inputSpecs, attrs, limits }) {
    const fields = (inputSpecs.length - 1) / 2;
    checkStorageBuffers('crossIds', inputSpecs.length + 1, fields, limits);
    const ids = inputSpecs.slice(0, fields);
    return crossIdsProgram({
      idsDTypes: ids.map((spec) => spec.dtype),
      idsLengths: ids.map((spec) => spec.shape[0]),
      bags: inputSpecs[fields].shape[0] - 1,
      total: attrs.total,
      buckets: attrs.buckets,
      seed: attrs.seed,
    });
  },
  backward: { notDifferentiable: 'ids are integers' },
  describeAttrs: (attrs) => `total ${attrs.total} buckets ${attrs.buckets} seed ${attrs.seed}`,
});

// ---------------------------------------------------------------------------------------------
// Public entry points

/** Runs `crossIdsOp` and returns the crossed bags; disposes `crossed` when the op throws. */
function finishCross(fields: CsrBags[], crossed: Tensor, total: number, options: { buckets: number; seed: number }): CsrBags {
  const inputs = [...fields.map((field) => field.ids), ...fields.map((field) => field.offsets), crossed];
  try {
    return { ids: runOp(crossIdsOp, inputs, { total, ...options })[0], offsets: crossed };
  } catch (error) {
    crossed.dispose();
    throw error;
  }
}

/**
 * Crosses k >= 2 fields on their backend (see `CsrBags` for the definition): a pair, a
 * triple or more. The crossed offsets are computed on the device. Reading back their total,
 * which sizes the ids output, is one small readback that waits for the queued work. Use
 * `hashedCrossSync` to avoid it when the offsets are on the host.
 */
export async function hashedCross(fields: CsrBags[], options: HashedCrossOptions): Promise<CsrBags> {
  const checked = checkOptions('hashedCross', options);
  checkFieldCount('hashedCross', fields.length);
  const idsLengths = fields.map((field) => field.ids.shape[0] ?? 0);
  const [offsets, status] = runOp(crossOffsetsOp, fields.map((field) => field.offsets), { idsLengths });

  let values: ArrayLike<number>;
  try {
    values = await status.data();
  } finally {
    status.dispose();
  }
  const [total, errorKey] = [values[0], values[1]];
  if (errorKey !== CROSS_NO_ERROR || total === MAX_U32) {
    offsets.dispose();
    if (errorKey === CROSS_NO_ERROR) throw overflowError('hashedCross');
    const bags = offsets.shape[0] - 1;
    const field = Math.floor(errorKey / (bags + 2));
    throw crossError('hashedCross', errorKey, await fields[field].offsets.data(), bags, idsLengths[field]);
  }
  return finishCross(fields, offsets, total, checked);
}

/**
 * Crosses k >= 2 fields like `hashedCross`, without a readback: the crossed offsets are
 * computed from `hostOffsets`, which must hold the same values as the fields' offsets tensors
 * (the data layer has both), and uploaded. NOTE: only the host copies are validated; device
 * offsets that differ from them give meaningless ids, though never an out-of-bounds read.
 */
export function hashedCrossSync(fields: CsrBags[], options: HashedCrossOptions & { hostOffsets: ArrayLike<number>[] }): CsrBags {
  const checked = checkOptions('hashedCrossSync', options);
  checkFieldCount('hashedCrossSync', fields.length);
  const { hostOffsets } = options;
  if (hostOffsets.length !== fields.length) {
    throw new ShapeError(`hashedCrossSync: ${hostOffsets.length} host offsets arrays for ${fields.length} fields`);
  }
  hostOffsets.forEach((host, f) => {
    const expected = fields[f].offsets.shape[0];
    if (host.length !== expected) {
      throw new ShapeError(`hashedCrossSync: host offsets of field ${f} have ${host.length} entries, its offsets tensor ${expected}; they must hold the same values`);
    }
  });
  checkOffsetsSpecs('hashedCrossSync', fields.map((field) => ({ shape: field.offsets.shape, dtype: field.offsets.dtype })));

  const bags = hostOffsets[0].length - 1;
  const idsLengths = fields.map((field) => field.ids.shape[0] ?? 0);
  const crossedHost = new Uint32Array(bags + 1);
  const { total, errorKey } = scanCrossOffsets(hostOffsets, idsLengths, crossedHost);
  if (errorKey !== CROSS_NO_ERROR) {
    const field = Math.floor(errorKey / (bags + 2));
    throw crossError('hashedCrossSync', errorKey, hostOffsets[field], bags, idsLengths[field]);
  }
  if (total === MAX_U32) throw overflowError('hashedCrossSync');

  const offsets = tensor(crossedHost, [bags + 1], { backend: fields[0].offsets.backend.name });
  return finishCross(fields, offsets, total, checked);
}

/** Lists the n(n - 1) / 2 index pairs (i, j) with i < j in row-major order: (0, 1), (0, 2), ..., (n - 2, n - 1). */
export function allPairs(fieldCount: number): [number, number][] {
  if (!Number.isInteger(fieldCount) || fieldCount < 0) throw new RangeError(`allPairs: fieldCount is ${fieldCount}; expected an integer >= 0`);
  const pairs: [number, number][] = [];
  for (let i = 0; i < fieldCount; i++) {
    for (let j = i + 1; j < fieldCount; j++) pairs.push([i, j]);
  }
  return pairs;
}

/**
 * Crosses every pair of `fields`, in the order of `allPairs(fields.length)`, each pair into
 * its own bucket space. With `hostOffsets` (one array per field) no readback happens.
 */
export async function hashedAllPairs(fields: CsrBags[], options: HashedCrossOptions & { hostOffsets?: ArrayLike<number>[] }): Promise<CsrBags[]> {
  checkOptions('hashedAllPairs', options);
  checkFieldCount('hashedAllPairs', fields.length);
  const { hostOffsets } = options;
  if (hostOffsets !== undefined && hostOffsets.length !== fields.length) {
    throw new ShapeError(`hashedAllPairs: ${hostOffsets.length} host offsets arrays for ${fields.length} fields`);
  }

  const results: CsrBags[] = [];
  const crossOptions = { buckets: options.buckets, seed: options.seed };
  try {
    for (const [i, j] of allPairs(fields.length)) {
      const pair = [fields[i], fields[j]];
      if (hostOffsets === undefined) results.push(await hashedCross(pair, crossOptions));
      else results.push(hashedCrossSync(pair, { ...crossOptions, hostOffsets: [hostOffsets[i], hostOffsets[j]] }));
    }
  } catch (error) {
    // Free the crosses made before the failing pair, since the caller never receives them.
    for (const result of results) {
      result.ids.dispose();
      result.offsets.dispose();
    }
    throw error;
  }
  return results;
}
