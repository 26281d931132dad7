// WGSL stable radix sort of u32 keys with their original positions as payload.

import type { DType } from '../tensor/dtype.js';
import type { BufferRef, KernelPass, KernelProgram } from './pass.js';
import { scanPasses, scanScratchSize } from './segment-scan.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

/** Bits sorted per pass: 16 buckets, whose counters pack two to a u32 in the rank scan. */
export const RADIX_BITS = 4;
const BUCKETS = 1 << RADIX_BITS;
/**
 * Layout of a sort workgroup. Each of its `invocations` ranks `items` consecutive keys, so a
 * workgroup ranks a block of invocations x items keys. There are at least 16 invocations (one
 * per digit for the histogram), and a block's digit counts must fit the 16-bit packed counters.
 */
export interface SortShape {
  invocations: number;
  items: number;
}

/**
 * The shape for adapters that run shaders on the CPU (llvmpipe, SwiftShader): few invocations
 * with many keys each. Such an adapter runs a workgroup on one thread, switches between all of
 * its invocations at every barrier, and the rank scan needs two barriers per doubling. On
 * llvmpipe, sorting 1.12 million keys of 14 and 20 bits took 47 and 59 ms with 16 x 64 against
 * 67 and 83 ms with 64 x 16 (medians of 11, alternating builds). The single-workgroup program
 * sorted 8,000 keys of 12 bits in 0.89 instead of 1.18 ms and compiled in 1.6 instead of 1.9 s.
 */
export const NARROW_SORT_SHAPE: SortShape = { invocations: 16, items: 64 };
/**
 * The shape for hardware GPUs, which need many invocations in flight: the same 1,024-key
 * blocks as NARROW_SORT_SHAPE. NOTE: not measured on a hardware GPU.
 */
export const WIDE_SORT_SHAPE: SortShape = { invocations: 128, items: 8 };

/** Choice of sort shape: `auto` takes NARROW_SORT_SHAPE on a CPU adapter and WIDE_SORT_SHAPE elsewhere. */
export type SortWorkgroup = 'auto' | 'narrow' | 'wide';

/** Resolves `workgroup` for an adapter that does (`cpuAdapter`) or does not run shaders on the CPU. */
export function sortShapeOf(workgroup: SortWorkgroup, cpuAdapter: boolean): SortShape {
  if (workgroup === 'narrow' || (workgroup === 'auto' && cpuAdapter)) return NARROW_SORT_SHAPE;
  return WIDE_SORT_SHAPE;
}

/**
 * Largest count sorted by the single-workgroup program. Up to it, one dispatch that loops over
 * the keys beats the 3 to 5 dispatches per digit of the multi-workgroup program. The fixed cost
 * of each dispatch dominates small sorts on the software adapters: on llvmpipe, 3,072 keys of
 * 12 bits took 0.57 ms against 0.94 ms. Larger sorts keep the multi-workgroup program, which
 * spreads the keys over a GPU's cores.
 */
export const SINGLE_WORKGROUP_SORT_LIMIT = 8192;

export interface SortOptions {
  count: number;
  /** Keys are sorted on bits [0, keyBits); larger keys are clamped to 2^keyBits - 1. */
  keyBits: number;
  keysDType: DType;
  /** `auto` (default) picks `single` up to SINGLE_WORKGROUP_SORT_LIMIT keys, `multi` above. */
  strategy?: SortStrategy;
  /** Workgroup layout; default NARROW_SORT_SHAPE. Every shape gives the same result. */
  shape?: SortShape;
}

/** Choice of WebGPU sort program; both give the same (stable) result. */
export type SortStrategy = 'auto' | 'single' | 'multi';

/** Number of digit passes for `keyBits`. */
export function radixPasses(keyBits: number): number {
  return Math.ceil(keyBits / RADIX_BITS);
}

const OUT_KEYS: BufferRef = { kind: 'output', index: 0, access: 'read_write' };
const OUT_POSITIONS: BufferRef = { kind: 'output', index: 1, access: 'read_write' };
const INPUT_KEYS: BufferRef = { kind: 'input', index: 0, access: 'read' };
// Scratch: ping-pong keys and positions, the digit histogram, its scan, and scan block totals.
// The single-workgroup program keeps keys and positions apart in temps 0 and 1. The
// multi-workgroup one stores (key, position) pairs side by side in them instead.
const TEMP_KEYS: BufferRef = { kind: 'temp', index: 0, access: 'read_write' };
const TEMP_POSITIONS: BufferRef = { kind: 'temp', index: 1, access: 'read_write' };
const PAIRS_A: BufferRef = TEMP_KEYS;
const PAIRS_B: BufferRef = TEMP_POSITIONS;
const HISTOGRAM: BufferRef = { kind: 'temp', index: 2, access: 'read_write' };
const HISTOGRAM_SCAN: BufferRef = { kind: 'temp', index: 3, access: 'read_write' };
const SCAN_BLOCKS: BufferRef = { kind: 'temp', index: 4, access: 'read_write' };

/**
 * Generates the WGSL that loads key `index` of the source as a u32. The first pass reads
 * the op's input, reinterpreting i32 bits (a negative key becomes at least 2^31) and
 * clamping to 2^keyBits - 1, so the digit passes see every bit that matters.
 */
function loadKey(first: boolean, index: string, keyBits: number): string {
  if (!first) return `keys_in[${index}]`;
  const max = keyBits >= 32 ? 0xffffffff : 2 ** keyBits - 1;
  return `min(bitcast<u32>(keys_in[${index}]), ${max}u)`;
}

const PACKED_COUNT_FUNCTIONS = `
fn packed_count(low: vec4<u32>, high: vec4<u32>, digit: u32) -> u32 {
  let word = digit >> 1u;
  var value = 0u;
  if (word < 4u) { value = low[word]; } else { value = high[word - 4u]; }
  return (value >> ((digit & 1u) * 16u)) & 0xffffu;
}

fn packed_one(digit: u32) -> array<vec4<u32>, 2> {
  var result: array<vec4<u32>, 2>;
  let word = digit >> 1u;
  let bit = 1u << ((digit & 1u) * 16u);
  if (word < 4u) { result[0][word] = bit; } else { result[1][word - 4u] = bit; }
  return result;
}
`;

/**
 * Generates the WGSL that turns each invocation's packed digit counts (`low`, `high`) into the
 * counts of earlier invocations (`before_low`, `before_high`): an inclusive Hillis-Steele scan
 * of the workgroup arrays `packed_low` and `packed_high`, minus the own counts.
 */
function packedScan(workgroupSize: number): string {
  return `
  packed_low[lid] = low;
  packed_high[lid] = high;
  workgroupBarrier();
  for (var offset = 1u; offset < ${workgroupSize}u; offset = offset << 1u) {
    var left_low = vec4<u32>(0u);
    var left_high = vec4<u32>(0u);
    if (lid >= offset) {
      left_low = packed_low[lid - offset];
      left_high = packed_high[lid - offset];
    }
    workgroupBarrier();
    packed_low[lid] = packed_low[lid] + left_low;
    packed_high[lid] = packed_high[lid] + left_high;
    workgroupBarrier();
  }
  let before_low = packed_low[lid] - low;
  let before_high = packed_high[lid] - high;`;
}

/**
 * Generates the histogram pass of one digit: each workgroup counts its block's keys of each
 * digit. The first pass reads the input keys; later ones read (key, position) pairs, two per
 * vec4 load.
 */
function histogramPass(shape: SortShape, count: number, blocks: number, shift: number, first: boolean, keyBits: number, keysDType: DType, source: BufferRef): KernelPass {
  const { invocations, items } = shape;
  const blockSize = invocations * items;
  const bindings: BindingDecl[] = [
    first ? { name: 'keys_in', dtype: keysDType, ref: { ...source, access: 'read' } } : { name: 'pairs_in', dtype: 'vec4<u32>', ref: { ...source, access: 'read' } },
    { name: 'histogram', dtype: 'u32', ref: HISTOGRAM },
  ];
  const add = (index: string, key: string) => `
    if (${index} < u.count) { atomicAdd(&counts[(${key} >> u.shift) & ${BUCKETS - 1}u], 1u); }`;
  const countLoop = first
    ? `for (var j = 0u; j < ${items}u; j++) {${add('start + j', loadKey(true, 'start + j', keyBits))}
  }`
    : `for (var j = 0u; j < ${items}u; j = j + 2u) {
    let quad = pairs_in[(start + j) / 2u];${add('start + j', 'quad.x')}${add('start + j + 1u', 'quad.z')}
  }`;
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['blocks', 'u32', blocks],
    ['shift', 'u32', shift],
  ];
  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> counts: array<atomic<u32>, ${BUCKETS}>;
${computeEntry(invocations)} {
  let block = ${flatWorkgroupIndex()};
  if (block >= u.blocks) { return; }
  if (lid < ${BUCKETS}u) { atomicStore(&counts[lid], 0u); }
  workgroupBarrier();
  let start = block * ${blockSize}u + lid * ${items}u;
  ${countLoop}
  workgroupBarrier();
  // Digit-major layout: all blocks' counts of digit 0, then of digit 1, and so on, so an
  // exclusive scan gives each (digit, block) its first output position.
  if (lid < ${BUCKETS}u) { histogram[lid * u.blocks + block] = atomicLoad(&counts[lid]); }
}
`;
  return {
    label: `sortPairs histogram bits ${shift}.. [${count}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(blocks),
  };
}

/**
 * Generates the ranking of one block of the shape's invocations x items keys from `start` (in
 * scope). Each invocation loads its `items` keys with `load` (a WGSL expression of index
 * `start + j`) and counts the earlier keys of each key's digit among its own (`local_rank`).
 * An inclusive scan of the packed counts, minus the own counts, then gives the counts of
 * earlier invocations (`before_low`, `before_high`). `shift` is the digit's first bit as a WGSL
 * expression. With `pairs` (the name of a vec4 binding of (key, position) pairs), the keys come
 * from it instead, two per load, and their positions go to `own_positions`.
 */
function rankBlock(shape: SortShape, load: string, shift: string, pairs?: string): string {
  const { invocations, items } = shape;
  const rankKey = (j: string, key: string, position: string) => `
    if (start + ${j} < u.count) {
      let key = ${key};
      let digit = (key >> ${shift}) & ${BUCKETS - 1}u;
      keys[${j}] = key;${position === '' ? '' : `
      own_positions[${j}] = ${position};`}
      local_rank[${j}] = packed_count(low, high, digit);
      let one = packed_one(digit);
      low = low + one[0];
      high = high + one[1];
    }`;
  const loop =
    pairs === undefined
      ? `for (var j = 0u; j < ${items}u; j++) {${rankKey('j', load, '')}
  }`
      : `for (var j = 0u; j < ${items}u; j = j + 2u) {
    let quad = ${pairs}[(start + j) / 2u];${rankKey('j', 'quad.x', 'quad.y')}${rankKey('(j + 1u)', 'quad.z', 'quad.w')}
  }`;
  return `
  var keys: array<u32, ${items}>;
  var local_rank: array<u32, ${items}>;${pairs === undefined ? '' : `
  var own_positions: array<u32, ${items}>;`}
  var low = vec4<u32>(0u);
  var high = vec4<u32>(0u);
  ${loop}
${packedScan(invocations)}`;
}

/**
 * Generates the writes of a block ranked by `rankBlock`: key j of an invocation goes to
 * `digitStart` (a WGSL expression of `digit`: the block's first position for that digit) plus
 * the earlier keys of its digit in the block. `store` gives the statements that write `key` and
 * its original position (`loadPosition`, an expression of `index` and `j`) at `destination`.
 */
function scatterBlock(shape: SortShape, digitStart: string, shift: string, store: (key: string, position: string) => string, loadPosition: string): string {
  const { items } = shape;
  return `
  for (var j = 0u; j < ${items}u; j++) {
    let index = start + j;
    if (index < u.count) {
      let digit = (keys[j] >> ${shift}) & ${BUCKETS - 1}u;
      let destination = ${digitStart} + packed_count(before_low, before_high, digit) + local_rank[j];
      ${store('keys[j]', loadPosition)}
    }
  }`;
}

/** Store of a key and its position into separate arrays `keys` and `positions`. */
function storeApart(target: { keys: string; positions: string }): (key: string, position: string) => string {
  return (key, position) => `${target.keys}[destination] = ${key};
      ${target.positions}[destination] = ${position};`;
}

/**
 * Generates the scatter pass of one digit. Each invocation takes the shape's `items`
 * consecutive keys.
 * Per-digit counts are packed as 16-bit fields (two digits per u32, eight u32 in two vec4),
 * so one workgroup scan of the packed vectors gives every invocation the number of earlier
 * keys of each digit in its block. A key's output position is the scanned histogram entry
 * of (digit, block) plus that count plus the earlier keys of its digit within the
 * invocation, which keeps equal keys in input order: the sort is stable.
 *
 * Between passes, keys and positions travel as (key, position) pairs: read two per vec4 load,
 * written with one vec2 store. The software adapters execute each storage access lane by
 * lane, so this halves the stores and quarters the loads of a pass. The first pass reads the
 * input keys (positions are their indices) and the last one writes the outputs apart.
 */
function scatterPass(
  shape: SortShape,
  count: number,
  blocks: number,
  shift: number,
  first: boolean,
  keyBits: number,
  keysDType: DType,
  source: BufferRef,
  target: BufferRef | { keys: BufferRef; positions: BufferRef },
): KernelPass {
  const { invocations, items } = shape;
  const blockSize = invocations * items;
  const toPairs = !('keys' in target);
  const bindings: BindingDecl[] = [
    first ? { name: 'keys_in', dtype: keysDType, ref: { ...source, access: 'read' } } : { name: 'pairs_in', dtype: 'vec4<u32>', ref: { ...source, access: 'read' } },
    { name: 'histogram_scan', dtype: 'u32', ref: { ...HISTOGRAM_SCAN, access: 'read' } },
  ];
  if (toPairs) {
    bindings.push({ name: 'pairs_out', dtype: 'vec2<u32>', ref: target });
  } else {
    bindings.push({ name: 'keys_out', dtype: 'u32', ref: target.keys }, { name: 'positions_out', dtype: 'u32', ref: target.positions });
  }
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['blocks', 'u32', blocks],
    ['shift', 'u32', shift],
  ];
  const loadPosition = first ? 'index' : 'own_positions[j]';
  const store = toPairs
    ? (key: string, position: string) => `pairs_out[destination] = vec2<u32>(${key}, ${position});`
    : storeApart({ keys: 'keys_out', positions: 'positions_out' });

  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> packed_low: array<vec4<u32>, ${invocations}>;
var<workgroup> packed_high: array<vec4<u32>, ${invocations}>;

${PACKED_COUNT_FUNCTIONS}
${computeEntry(invocations)} {
  let block = ${flatWorkgroupIndex()};
  if (block >= u.blocks) { return; }
  let start = block * ${blockSize}u + lid * ${items}u;
${rankBlock(shape, loadKey(true, 'start + j', keyBits), 'u.shift', first ? undefined : 'pairs_in')}
${scatterBlock(shape, 'histogram_scan[digit * u.blocks + block]', 'u.shift', store, loadPosition)}
}
`;
  return {
    label: `sortPairs scatter bits ${shift}.. [${count}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(blocks),
  };
}

/**
 * Generates one digit pass of the single-workgroup sort. The workgroup first counts the keys
 * of each digit, which gives each digit's first output position. Then it walks the keys in
 * chunks of one block (invocations x items) and ranks each chunk as the multi-workgroup
 * scatter ranks a block. After a chunk, each digit's next position moves past the chunk's keys
 * of that digit. Chunks are taken in order, so the pass is stable.
 */
function singleWorkgroupDigit(
  shape: SortShape,
  shift: number,
  first: boolean,
  keyBits: number,
  source: { keys: string; positions: string },
  target: { keys: string; positions: string },
): string {
  const { invocations, items } = shape;
  const blockSize = invocations * items;
  const load = (index: string) => (first ? loadKey(true, index, keyBits).replace('keys_in', source.keys) : `${source.keys}[${index}]`);
  const loadPosition = first ? 'index' : `${source.positions}[index]`;
  return `
  // Digit bits ${shift}..${shift + RADIX_BITS - 1}
  if (lid < ${BUCKETS}u) { atomicStore(&counts[lid], 0u); }
  workgroupBarrier();
  for (var i = lid; i < u.count; i = i + ${invocations}u) {
    atomicAdd(&counts[(${load('i')} >> ${shift}u) & ${BUCKETS - 1}u], 1u);
  }
  workgroupBarrier();
  if (lid == 0u) {
    var running = 0u;
    for (var digit = 0u; digit < ${BUCKETS}u; digit++) {
      next_position[digit] = running;
      running = running + atomicLoad(&counts[digit]);
    }
  }
  workgroupBarrier();
  for (var chunk = 0u; chunk < u.count; chunk = chunk + ${blockSize}u) {
    let start = chunk + lid * ${items}u;
${rankBlock(shape, load('start + j'), `${shift}u`)}
${scatterBlock(shape, 'next_position[digit]', `${shift}u`, storeApart(target), loadPosition)}
    workgroupBarrier();
    // The last invocation's inclusive scan is the chunk's count of each digit.
    if (lid < ${BUCKETS}u) {
      next_position[lid] = next_position[lid] + packed_count(packed_low[${invocations - 1}], packed_high[${invocations - 1}], lid);
    }
    workgroupBarrier();
  }
  // The next digit reads what this one wrote to storage.
  storageBarrier();
`;
}

/**
 * Generates the radix sort as one workgroup in one dispatch, for counts up to
 * SINGLE_WORKGROUP_SORT_LIMIT: the digit passes follow each other in the shader, ping-ponging
 * between scratch and the outputs like the multi-workgroup program.
 */
function singleWorkgroupSortProgram(shape: SortShape, count: number, keyBits: number, keysDType: DType): KernelProgram {
  const invocations = shape.invocations;
  const digitPasses = radixPasses(keyBits);
  const bindings: BindingDecl[] = [
    { name: 'keys_in', dtype: keysDType, ref: INPUT_KEYS },
    { name: 'keys_out', dtype: 'u32', ref: OUT_KEYS },
    { name: 'positions_out', dtype: 'u32', ref: OUT_POSITIONS },
  ];
  if (digitPasses > 1) {
    bindings.push({ name: 'keys_scratch', dtype: 'u32', ref: TEMP_KEYS }, { name: 'positions_scratch', dtype: 'u32', ref: TEMP_POSITIONS });
  }
  const uniforms: UniformField[] = [['count', 'u32', count]];

  const digits: string[] = [];
  let source = { keys: 'keys_in', positions: '' };
  for (let pass = 0; pass < digitPasses; pass++) {
    const toOutput = (digitPasses - 1 - pass) % 2 === 0;
    const target = toOutput ? { keys: 'keys_out', positions: 'positions_out' } : { keys: 'keys_scratch', positions: 'positions_scratch' };
    digits.push(singleWorkgroupDigit(shape, pass * RADIX_BITS, pass === 0, keyBits, source, target));
    source = target;
  }

  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> packed_low: array<vec4<u32>, ${invocations}>;
var<workgroup> packed_high: array<vec4<u32>, ${invocations}>;
var<workgroup> counts: array<atomic<u32>, ${BUCKETS}>;
var<workgroup> next_position: array<u32, ${BUCKETS}>;
${PACKED_COUNT_FUNCTIONS}
${computeEntry(invocations)} {
${digits.join('')}}
`;
  const size = digitPasses > 1 ? count : 1;
  return {
    temps: [
      { dtype: 'u32', size },
      { dtype: 'u32', size },
    ],
    passes: [
      {
        label: `sortPairs single workgroup [${count}]`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: [1, 1, 1],
      },
    ],
  };
}

/**
 * Generates the sort: the single-workgroup program for small counts (see SortStrategy), else
 * the multi-workgroup least-significant-digit radix sort: per digit of RADIX_BITS bits, a
 * histogram pass, a scan of the histogram and a stable scatter, ping-ponging between the
 * outputs and scratch buffers so that the last pass writes the outputs. Output 0 is the
 * sorted keys, output 1 the original position of each.
 */
export function sortProgram({ count, keyBits, keysDType, strategy = 'auto', shape = NARROW_SORT_SHAPE }: SortOptions): KernelProgram {
  if (count === 0) return { passes: [] };
  if (strategy === 'single' || (strategy === 'auto' && count <= SINGLE_WORKGROUP_SORT_LIMIT)) {
    return singleWorkgroupSortProgram(shape, count, keyBits, keysDType);
  }
  const blocks = Math.ceil(count / (shape.invocations * shape.items));
  const histogramSize = BUCKETS * blocks;
  const digitPasses = radixPasses(keyBits);
  // Pairs of u32, rounded up to an even number of pairs so that vec4 loads stay in bounds.
  const pairsSize = digitPasses > 1 ? 2 * (count + (count % 2)) : 1;
  const temps = [
    { dtype: 'u32' as const, size: pairsSize },
    { dtype: 'u32' as const, size: digitPasses > 2 ? pairsSize : 1 },
    { dtype: 'u32' as const, size: histogramSize },
    { dtype: 'u32' as const, size: histogramSize },
    { dtype: 'u32' as const, size: scanScratchSize(histogramSize) },
  ];

  const passes: KernelPass[] = [];
  let source: BufferRef = INPUT_KEYS;
  for (let pass = 0; pass < digitPasses; pass++) {
    const shift = pass * RADIX_BITS;
    const first = pass === 0;
    // The last pass writes the outputs; the others alternate between the two pair buffers.
    const last = pass === digitPasses - 1;
    const target = last ? { keys: OUT_KEYS, positions: OUT_POSITIONS } : pass % 2 === 0 ? PAIRS_A : PAIRS_B;

    passes.push(histogramPass(shape, count, blocks, shift, first, keyBits, keysDType, source));
    passes.push(...scanPasses(`sortPairs bits ${shift}..`, histogramSize, HISTOGRAM, HISTOGRAM_SCAN, SCAN_BLOCKS));
    passes.push(scatterPass(shape, count, blocks, shift, first, keyBits, keysDType, source, target));
    if (!('keys' in target)) source = target;
  }
  return { temps, passes };
}
