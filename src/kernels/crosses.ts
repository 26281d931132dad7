// WGSL for hashed feature crosses: MurmurHash3 x86_32 over u32 words, crossed-bag offsets, crossed ids.

import type { DType } from '../tensor/dtype.js';
import type { BindingDecl } from './wgsl.js';
import type { KernelProgram } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms, type UniformField } from './wgsl.js';

const IDS_WORKGROUP = 256;
/** The offsets pass runs in one workgroup of this size; 256 is the most that core adapters must allow. */
const SCAN_WORKGROUP = 256;
/** Status value for "no error", and the value a saturated u32 count sticks at. */
export const CROSS_NO_ERROR = 0xffffffff;

/**
 * MurmurHash3 x86_32 over u32 words, the same function as `murmur3Words` on the host. WGSL u32
 * multiplication and addition wrap modulo 2^32, as `Math.imul(...) >>> 0` does.
 */
export const WGSL_MURMUR3 = `
fn murmur_scramble(k: u32) -> u32 {
  var x = k * 0xcc9e2d51u;
  x = (x << 15u) | (x >> 17u);
  return x * 0x1b873593u;
}

fn murmur_mix(h: u32, word: u32) -> u32 {
  var x = h ^ murmur_scramble(word);
  x = (x << 13u) | (x >> 19u);
  return x * 5u + 0xe6546b64u;
}

fn murmur_finalize(h: u32, byte_length: u32) -> u32 {
  var x = h ^ byte_length;
  x = x ^ (x >> 16u);
  x = x * 0x85ebca6bu;
  x = x ^ (x >> 13u);
  x = x * 0xc2b2ae35u;
  x = x ^ (x >> 16u);
  return x;
}
`;

export interface CrossOffsetsKernelOptions {
  /** Number of ids of each crossed field; the last offset of field f must equal idsLengths[f]. */
  idsLengths: number[];
  /** Bags per field, B; every offsets input is u32 [B + 1]. */
  bags: number;
}

/**
 * Generates the pass that computes the offsets of the crossed bags and a status.
 *
 * Inputs: the offsets of each field, u32 [B + 1]. Outputs: `offsets` u32 [B + 1], the exclusive
 * scan of count[b] = product over fields of the length of bag b; and `status` u32 [2]: the total
 * count (saturated at 2^32 - 1), then the first error key or 0xffffffff. The key of an error in
 * field f at offsets position p is f * (B + 2) + p, where p = 0 means offsets[0] != 0, p in 1..B
 * means offsets[p] < offsets[p - 1], and p = B + 1 means offsets[B] != the field's id count.
 * The smallest key wins, so the error reported is deterministic.
 *
 * Thread mapping: a single workgroup walks the bags in chunks of 256, one bag per invocation,
 * scans each chunk in workgroup memory (Hillis-Steele) and carries the chunk total to the next.
 * Counts add with saturation, so an overflowing total shows as 2^32 - 1 instead of wrapping.
 * NOTE: one workgroup does all the work, so the pass takes time linear in B / 256. That suits
 * batch-sized B; millions of bags would want a multi-workgroup scan.
 */
export function crossOffsetsProgram({ idsLengths, bags }: CrossOffsetsKernelOptions): KernelProgram {
  const fields = idsLengths.length;
  const bindings: BindingDecl[] = [
    ...idsLengths.map((_, f) => input(f, `offsets_${f}`, 'u32')),
    output(0, 'out', 'u32'),
    output(1, 'status', 'u32'),
  ];
  const uniforms: UniformField[] = [['bags', 'u32', bags], ...idsLengths.map((length, f): UniformField => [`nnz_${f}`, 'u32', length])];
  const fieldIndices = idsLengths.map((_, f) => f);

  const boundaryChecks = fieldIndices
    .map(
      (f) => `    if (offsets_${f}[0] != 0u) { atomicMin(&first_error, ${f}u * (u.bags + 2u)); }
    if (offsets_${f}[u.bags] != u.nnz_${f}) { atomicMin(&first_error, ${f}u * (u.bags + 2u) + u.bags + 1u); }`,
    )
    .join('\n');
  const bagCounts = fieldIndices
    .map(
      (f) => `      let begin_${f} = offsets_${f}[b];
      let end_${f} = offsets_${f}[b + 1u];
      if (end_${f} < begin_${f}) { atomicMin(&first_error, ${f}u * (u.bags + 2u) + b + 1u); }
      count = mul_saturated(count, end_${f} - begin_${f});`,
    )
    .join('\n');

  // Every barrier sits in control flow that depends on uniforms only: the chunk loop bound is
  // u.bags and the scan loop bound is a constant.
  const wgsl = `${declareBindings(bindings, uniforms)}
const WG = ${SCAN_WORKGROUP}u;
const SATURATED = 0xffffffffu;
var<workgroup> partial: array<u32, ${SCAN_WORKGROUP}>;
var<workgroup> first_error: atomic<u32>;

fn add_saturated(a: u32, b: u32) -> u32 {
  let total = a + b;
  return select(total, SATURATED, total < a);
}

fn mul_saturated(a: u32, b: u32) -> u32 {
  if (a != 0u && b > SATURATED / a) { return SATURATED; }
  return a * b;
}

${computeEntry(SCAN_WORKGROUP)} {
  if (lid == 0u) {
    atomicStore(&first_error, SATURATED);
  }
  workgroupBarrier();
  if (lid == 0u) {
${boundaryChecks}
  }

  var carry = 0u;
  for (var start = 0u; start < u.bags; start += WG) {
    let b = start + lid;
    var count = 0u;
    if (b < u.bags) {
      count = 1u;
${bagCounts}
    }
    partial[lid] = count;
    workgroupBarrier();

    for (var step = 1u; step < WG; step = step * 2u) {
      var left = 0u;
      if (lid >= step) { left = partial[lid - step]; }
      workgroupBarrier();
      partial[lid] = add_saturated(partial[lid], left);
      workgroupBarrier();
    }

    if (b < u.bags) { out[b] = add_saturated(carry, partial[lid] - count); }
    carry = add_saturated(carry, partial[WG - 1u]);
    workgroupBarrier();
  }

  if (lid == 0u) {
    out[u.bags] = carry;
    status[0] = carry;
    status[1] = atomicLoad(&first_error);
  }
}
`;
  return {
    passes: [
      {
        label: `crossOffsets ${fields} fields, ${bags} bags`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: [1, 1, 1],
      },
    ],
  };
}

export interface CrossIdsKernelOptions {
  idsDTypes: DType[];
  idsLengths: number[];
  bags: number;
  /** Ids in all crossed bags: the last crossed offset. */
  total: number;
  buckets: number;
  seed: number;
}

/**
 * Generates the pass that writes the crossed ids.
 *
 * Inputs: the ids of each field (i32 or u32), then the offsets of each field (u32 [B + 1]),
 * then the crossed offsets (u32 [B + 1]). Output: u32 [total].
 *
 * Thread mapping: one invocation per crossed id e. A binary search over the crossed offsets
 * finds its bag b (the last b with crossed[b] <= e, which skips empty bags). The rank of e in
 * the bag, taken in mixed radix with the last field varying fastest, picks one id from each
 * field's bag. So a bag lists the cross product in row-major order of the field list. The id
 * is murmur3(words = the picked ids as u32 bits, seed) % buckets. A picked position outside
 * a field's ids (only possible with offsets that the offsets pass would reject) reads word 0,
 * so no read is out of bounds.
 */
export function crossIdsProgram({ idsDTypes, idsLengths, bags, total, buckets, seed }: CrossIdsKernelOptions): KernelProgram {
  const fields = idsDTypes.length;
  if (total === 0) return { passes: [] };

  const bindings: BindingDecl[] = [
    ...idsDTypes.map((dtype, f) => input(f, `ids_${f}`, dtype)),
    ...idsDTypes.map((_, f) => input(fields + f, `offsets_${f}`, 'u32')),
    input(2 * fields, 'crossed', 'u32'),
    output(0, 'out', 'u32'),
  ];
  const uniforms: UniformField[] = [
    ['total', 'u32', total],
    ['bags', 'u32', bags],
    ['buckets', 'u32', buckets],
    ['seed', 'u32', seed],
    ...idsLengths.map((length, f): UniformField => [`nnz_${f}`, 'u32', length]),
  ];
  const fieldIndices = idsDTypes.map((_, f) => f);

  // Fields from last to first, so the last field's position varies fastest.
  const picks = [...fieldIndices]
    .reverse()
    .map(
      (f) => `  let begin_${f} = offsets_${f}[b];
  let length_${f} = offsets_${f}[b + 1u] - begin_${f};
  let position_${f} = begin_${f} + rank % length_${f};
  rank = rank / length_${f};
  var word_${f} = 0u;
  if (position_${f} < u.nnz_${f}) { word_${f} = bitcast<u32>(ids_${f}[position_${f}]); }`,
    )
    .join('\n');
  const mixes = fieldIndices.map((f) => `  h = murmur_mix(h, word_${f});`).join('\n');

  const wgsl = `${declareBindings(bindings, uniforms)}
${WGSL_MURMUR3}
${computeEntry(IDS_WORKGROUP)} {
  let e = ${flatWorkgroupIndex()} * ${IDS_WORKGROUP}u + lid;
  if (e >= u.total) { return; }

  var low = 0u;
  var high = u.bags - 1u;
  while (low < high) {
    let middle = (low + high + 1u) / 2u;
    if (crossed[middle] <= e) { low = middle; } else { high = middle - 1u; }
  }
  let b = low;

  var rank = e - crossed[b];
${picks}

  var h = u.seed;
${mixes}
  out[e] = murmur_finalize(h, ${fields * 4}u) % u.buckets;
}
`;
  return {
    passes: [
      {
        label: `crossIds ${fields} fields (${idsDTypes.join(', ')}), ${bags} bags, ${total} ids`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: grid1d(Math.ceil(total / IDS_WORKGROUP)),
      },
    ],
  };
}
