// WGSL segmented sum over sorted keys: unique keys and per-segment sums of value rows, split by key range.

import type { BufferRef, KernelPass, KernelProgram, TempSpec } from './pass.js';
import { scanPasses, scanScratchSize, workgroupScanWgsl } from './segment-scan.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

const SEGMENT_WORKGROUP = 256;

/**
 * Maximum number of keys that the single-workgroup program takes (one part only). Like the
 * small sort, it trades the five dispatches of the multi-workgroup program for one.
 */
export const SINGLE_WORKGROUP_SEGMENT_LIMIT = 8192;
/** Invocations of the single-workgroup program; few, since each barrier switches between all of them on the software adapters. */
const SINGLE_WORKGROUP = 64;
/** Consecutive keys per invocation in a chunk of the single-workgroup program. */
const SINGLE_ITEMS = 16;

export interface SegmentSumOptions {
  /** Name used in pass labels. */
  label: string;
  /** Number of sorted keys N. */
  count: number;
  /** Elements per value row D. */
  rowSize: number;
  /** Keys at or above this limit are dropped: they start no segment and add nothing. */
  keyLimit: number;
  /**
   * Keys per output part: part k takes the segments whose key is in
   * [k * partRows, (k + 1) * partRows), and the last part everything up to `keyLimit`.
   */
  partRows: number;
  /** Entries of each part's outputs; segments past a part's capacity are not written. */
  capacities: number[];
  /** `auto` (default) runs the single-workgroup program for one part of up to SINGLE_WORKGROUP_SEGMENT_LIMIT keys. */
  strategy?: 'auto' | 'single' | 'multi';
  /**
   * Bindings that `valueFunction` reads. The fixed ones are input 0 (sorted keys), input 1
   * (positions), and per part k outputs 2k (unique keys) and 2k + 1 (sums).
   */
  extraBindings: BindingDecl[];
  extraUniforms?: UniformField[];
  /**
   * WGSL `fn segment_value(position: u32, column: u32) -> f32`: the value that the key at
   * original position `position` adds to column `column` of its segment.
   */
  valueFunction: string;
  /**
   * A vec4 form, used instead of `extraBindings` and `valueFunction` when the row size is a
   * positive multiple of 4: one invocation then sums SEGMENT_CHUNK groups of 4 adjacent columns
   * (see `vectorChunk`), with vec4 loads and stores, and the sums output is bound as vec4.
   * `valueFunction` defines `fn segment_add4(position: u32, column: u32, total: ptr<function,
   * array<vec4<f32>, SEGMENT_CHUNK>>)`, which adds the value of columns column + 4k ..
   * column + 4k + 3 to `total[k]` for k below the WGSL constant SEGMENT_CHUNK. Reading what one
   * position shares (its row, its scale) once for the whole chunk saves loads, which the
   * software adapters execute lane by lane.
   */
  vector?: { extraBindings: BindingDecl[]; valueFunction: string };
}

const SORTED_KEYS: BufferRef = { kind: 'input', index: 0, access: 'read' };
const POSITIONS: BufferRef = { kind: 'input', index: 1, access: 'read' };

/** Invocations of a workgroup that numbers the segments of one block of keys. */
const HEAD_INVOCATIONS = 64;
/** Consecutive keys per invocation in the numbering passes; a block is HEAD_INVOCATIONS x HEAD_ITEMS keys. */
const HEAD_ITEMS = 16;
const HEAD_BLOCK = HEAD_INVOCATIONS * HEAD_ITEMS;

/**
 * Scratch buffers of `segmentSumProgram`: segments per block, their exclusive scan, segment
 * heads, part bounds, scan totals.
 */
export function segmentTemps(count: number, parts: number): TempSpec[] {
  const blocks = Math.max(1, Math.ceil(count / HEAD_BLOCK));
  return [
    { dtype: 'u32', size: blocks },
    { dtype: 'u32', size: blocks },
    { dtype: 'u32', size: Math.max(1, count) },
    { dtype: 'u32', size: parts + 1 },
    { dtype: 'u32', size: scanScratchSize(blocks) },
  ];
}

/**
 * WGSL that counts, in `own`, the heads among the HEAD_ITEMS consecutive keys from `start` (in
 * scope), loading each key once. With `record`, each head also runs `record` with its index
 * `i`. Pass `declare` false where an earlier count in the same scope declared `own` and
 * `previous`.
 */
function countHeads(record = '', declare = true): string {
  const variable = declare ? 'var ' : '';
  return `
  ${variable}own = 0u;
  ${variable}previous = 0u;
  if (start > 0u && start < u.count) { previous = keys[start - 1u]; }
  for (var j = 0u; j < ${HEAD_ITEMS}u; j++) {
    let i = start + j;
    if (i < u.count) {
      let key = keys[i];
      if (key < u.key_limit && (i == 0u || key != previous)) {
        ${record}
        own = own + 1u;
      }
      previous = key;
    }
  }`;
}

/** WGSL helper `is_head(i)`: whether sorted key i starts a kept segment. */
const IS_HEAD = `fn is_head(i: u32) -> bool {
  let key = keys[i];
  return key < u.key_limit && (i == 0u || keys[i - 1u] != key);
}`;

/** Tells whether the sum passes run the vec4 form of `options`. */
function isVectorized(options: SegmentSumOptions): boolean {
  return options.vector !== undefined && options.rowSize > 0 && options.rowSize % 4 === 0;
}

/**
 * Returns the number of vec4 groups that one invocation of the vec4 form sums. It is the
 * largest of 16, 8, 4, 2 and 1 that divides the row's rowSize / 4 groups, so rows of up to 64
 * columns take one invocation per segment. On llvmpipe, 16 groups instead of 4 at 64 columns took the
 * embedding gradient's segmented sum from 94 to 73 ms per step (1.1 million ids, 10^4 rows).
 */
export function vectorChunk(rowSize: number): number {
  const groups = rowSize / 4;
  for (const chunk of [16, 8, 4, 2]) if (groups % chunk === 0) return chunk;
  return 1;
}

/** Bindings and value function that the sum passes read: the vec4 form or the scalar one. */
function valueParts(options: SegmentSumOptions): { extraBindings: BindingDecl[]; valueFunction: string; sumsType: 'f32' | 'vec4<f32>'; groups: number } {
  if (isVectorized(options)) {
    const chunk = vectorChunk(options.rowSize);
    const valueFunction = `const SEGMENT_CHUNK: u32 = ${chunk}u;\n${options.vector!.valueFunction}`;
    return { extraBindings: options.vector!.extraBindings, valueFunction, sumsType: 'vec4<f32>', groups: options.rowSize / 4 / chunk };
  }
  return { extraBindings: options.extraBindings, valueFunction: options.valueFunction, sumsType: 'f32', groups: Math.max(options.rowSize, 1) };
}

/**
 * WGSL that writes output entry `entry` of a part for invocation (entry, column group): the
 * key and sum of segment `segment`, or a padding entry where `padding` holds. `done` leaves
 * the invocation's work (`return` or `continue`). Expects `flat` and `width` (column groups
 * per entry) in scope. A column group is one column, or in the vec4 form SEGMENT_CHUNK vec4s.
 * `segments` is a WGSL expression of the number of segments, so that a segment other than the
 * last ends at the next segment's head.
 */
function sumEntry(vectorized: boolean, segment: string, padding: string, done: string, segments: string): string {
  const lanes = vectorized ? '4u * SEGMENT_CHUNK' : '1u';
  const zeroSums = vectorized
    ? `for (var k = 0u; k < SEGMENT_CHUNK; k++) { sums[sum_index + k] = vec4<f32>(0.0); }`
    : `sums[sum_index] = 0.0;`;
  // An explicit initializer: on SwiftShader a declaration without one was zeroed only once, not
  // on every pass of the enclosing loop of the single-workgroup program.
  const declareTotal = vectorized ? `var total = array<vec4<f32>, SEGMENT_CHUNK>();` : `var total = 0.0;`;
  const add = vectorized ? 'segment_add4(positions[j], column, &total);' : 'total = total + segment_value(positions[j], column);';
  const store = vectorized ? `for (var k = 0u; k < SEGMENT_CHUNK; k++) { sums[sum_index + k] = total[k]; }` : `sums[sum_index] = total;`;
  return `  let entry = flat / width;
  let column = (flat % width) * ${lanes};
  let sum_index = (entry * u.row_size + column) / ${vectorized ? '4u' : '1u'};
  if (${padding}) {
    if (column == 0u) { unique_keys[entry] = ${0xffffffff}u; }
    if (u.row_size > 0u) { ${zeroSums} }
    ${done};
  }

  let head = heads[${segment}];
  let key = keys[head];
  if (column == 0u) { unique_keys[entry] = key; }
  if (u.row_size == 0u) { ${done}; }
  ${declareTotal}
  // A segment ends where the next one starts; only the last one reads keys to find its end.
  let segment = ${segment};
  if (segment + 1u < ${segments}) {
    let end = heads[segment + 1u];
    for (var j = head; j < end; j++) {
      ${add}
    }
  } else {
    var j = head;
    loop {
      if (j >= u.count || keys[j] != key) { break; }
      ${add}
      j = j + 1u;
    }
  }
  ${store}`;
}

/**
 * Generates the segmented sum. A segment starts at its head: a key below the limit that
 * differs from its predecessor. Pass 1 counts the heads of each block of HEAD_BLOCK keys, a
 * scan of the counts gives each block its first segment number, and pass 2 records where
 * each segment starts (`heads`, in key order). Pass 3 finds, by binary search of the heads,
 * the first segment of each part. Then one pass per part runs one invocation per (entry j,
 * column group c), where entry j is the part's j-th segment. That invocation walks the segment
 * in sorted order and writes its key and sum. Past the part's last segment it writes a padding
 * entry (key PADDING_ROW, zero sums). Every output element is written by exactly one invocation,
 * summed in sorted order, so the result is deterministic. A segment is summed by one
 * invocation per column group, so a key repeated many times serializes.
 */
export function segmentSumProgram(options: SegmentSumOptions): KernelProgram {
  const { count, rowSize, keyLimit, capacities } = options;
  const parts = capacities.length;
  const temps = segmentTemps(count, parts);
  if (count === 0) {
    return { temps, passes: capacities.map((capacity, k) => paddingOnlyPass(options, k, capacity)) };
  }
  const strategy = options.strategy ?? 'auto';
  if (strategy === 'single' && parts !== 1) throw new RangeError(`${options.label}: the single-workgroup segmented sum takes one part, got ${parts}`);
  if (strategy === 'single' || (strategy === 'auto' && parts === 1 && count <= SINGLE_WORKGROUP_SEGMENT_LIMIT)) {
    return { temps, passes: [singleWorkgroupPass(options)] };
  }
  const blockCounts: BufferRef = { kind: 'temp', index: 0, access: 'read_write' };
  const blockOffsets: BufferRef = { kind: 'temp', index: 1, access: 'read_write' };
  const heads: BufferRef = { kind: 'temp', index: 2, access: 'read_write' };
  const bounds: BufferRef = { kind: 'temp', index: 3, access: 'read_write' };
  const scanBlocks: BufferRef = { kind: 'temp', index: 4, access: 'read_write' };
  const blocks = Math.ceil(count / HEAD_BLOCK);

  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['row_size', 'u32', rowSize],
    ['key_limit', 'u32', keyLimit],
    ['part_rows', 'u32', options.partRows],
    ['parts', 'u32', parts],
    ['blocks', 'u32', blocks],
  ];
  const pass = (stage: string, bindings: BindingDecl[], body: string, invocations: number, passUniforms = uniforms, helpers = ''): KernelPass => ({
    label: `${options.label} segment ${stage} [${count},${rowSize}]`,
    wgsl: `${declareBindings(bindings, passUniforms)}\n${IS_HEAD}\n${helpers}\n${computeEntry(SEGMENT_WORKGROUP)} {\n  let flat = ${flatWorkgroupIndex()} * ${SEGMENT_WORKGROUP}u + lid;\n${body}\n}\n`,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(passUniforms),
    dispatch: invocations === 0 ? [0, 1, 1] : grid1d(Math.ceil(invocations / SEGMENT_WORKGROUP)),
  });
  const keysBinding: BindingDecl = { name: 'keys', dtype: 'u32', ref: SORTED_KEYS };
  // A numbering pass: one workgroup per block of HEAD_BLOCK keys. The early return depends on
  // the workgroup only, so every invocation that reaches the scan's barriers reaches all of them.
  const blockPass = (stage: string, bindings: BindingDecl[], body: string): KernelPass => ({
    label: `${options.label} segment ${stage} [${count},${rowSize}]`,
    wgsl: `${declareBindings(bindings, uniforms)}
${workgroupScanWgsl(HEAD_INVOCATIONS)}
${computeEntry(HEAD_INVOCATIONS)} {
  let block = ${flatWorkgroupIndex()};
  if (block >= u.blocks) { return; }
  let start = block * ${HEAD_BLOCK}u + lid * ${HEAD_ITEMS}u;
${body}
}
`,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(blocks),
  });

  // Numbering: count each block's segment heads, scan the counts, then let each head write its
  // index at its segment's number. Each pass loads every key once.
  const countPass = blockPass(
    'head counts',
    [keysBinding, { name: 'block_counts', dtype: 'u32', ref: blockCounts }],
    `${countHeads()}
  workgroup_exclusive_scan(lid, own);
  if (lid == 0u) { block_counts[block] = scan_total; }`,
  );
  const headPass = blockPass(
    'starts',
    [keysBinding, { name: 'block_offsets', dtype: 'u32', ref: { ...blockOffsets, access: 'read' } }, { name: 'heads', dtype: 'u32', ref: heads }],
    `${countHeads()}
  var segment = block_offsets[block] + workgroup_exclusive_scan(lid, own);
${countHeads('heads[segment] = i;\n        segment = segment + 1u;', false)}`,
  );

  // bounds[k] is the number of segments whose key is below part k's first key, so part k
  // contains segments [bounds[k], bounds[k + 1]): a binary search of the heads, whose keys
  // ascend. k * part_rows stays below key_limit < 2^32.
  const boundsPass = pass(
    'bounds',
    [
      keysBinding,
      { name: 'block_counts', dtype: 'u32', ref: { ...blockCounts, access: 'read' } },
      { name: 'block_offsets', dtype: 'u32', ref: { ...blockOffsets, access: 'read' } },
      { name: 'heads', dtype: 'u32', ref: { ...heads, access: 'read' } },
      { name: 'bounds', dtype: 'u32', ref: bounds },
    ],
    `  if (flat > u.parts) { return; }
  var first_key = u.key_limit;
  if (flat < u.parts) { first_key = min(flat * u.part_rows, u.key_limit); }
  var low = 0u;
  var high = block_offsets[u.blocks - 1u] + block_counts[u.blocks - 1u];
  loop {
    if (low >= high) { break; }
    let middle = (low + high) / 2u;
    if (keys[heads[middle]] < first_key) { low = middle + 1u; } else { high = middle; }
  }
  bounds[flat] = low;`,
    parts + 1,
  );

  const vectorized = isVectorized(options);
  const { extraBindings, valueFunction, sumsType, groups } = valueParts(options);
  const partPasses = capacities.map((capacity, k) => {
    const partUniforms: UniformField[] = [...uniforms, ['part', 'u32', k], ['capacity', 'u32', capacity], ...(options.extraUniforms ?? [])];
    const bindings: BindingDecl[] = [
      keysBinding,
      { name: 'positions', dtype: 'u32', ref: POSITIONS },
      { name: 'heads', dtype: 'u32', ref: { ...heads, access: 'read' } },
      { name: 'bounds', dtype: 'u32', ref: { ...bounds, access: 'read' } },
      { name: 'unique_keys', dtype: 'u32', ref: { kind: 'output', index: 2 * k, access: 'read_write' } },
      { name: 'sums', dtype: sumsType, ref: { kind: 'output', index: 2 * k + 1, access: 'read_write' } },
      ...extraBindings,
    ];
    return pass(
      `sums part ${k}`,
      bindings,
      `  let width = ${groups}u;
  if (flat >= u.capacity * width) { return; }
${sumEntry(vectorized, 'bounds[u.part] + entry', 'bounds[u.part] + entry >= bounds[u.part + 1u]', 'return', 'bounds[u.parts]')}`,
      capacity * groups,
      partUniforms,
      valueFunction,
    );
  });

  return {
    temps,
    passes: [countPass, ...scanPasses(`${options.label} segments`, blocks, blockCounts, blockOffsets, scanBlocks), headPass, boundsPass, ...partPasses],
  };
}

/**
 * Generates the single-workgroup segmented sum of one part, in one dispatch. The workgroup
 * walks the sorted keys in chunks of SINGLE_WORKGROUP x SINGLE_ITEMS: each invocation flags
 * the heads among its consecutive keys, a workgroup scan of the flag counts numbers them, and
 * each head records where its segment starts (`heads`). Then the invocations take the
 * (entry, column) pairs of the output in turn and sum each segment in sorted order, as the
 * part passes of the multi-workgroup program do, so both give the same bits.
 */
function singleWorkgroupPass(options: SegmentSumOptions): KernelPass {
  const { count, rowSize, keyLimit } = options;
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['row_size', 'u32', rowSize],
    ['key_limit', 'u32', keyLimit],
    ['capacity', 'u32', options.capacities[0]],
    ...(options.extraUniforms ?? []),
  ];
  const vectorized = isVectorized(options);
  const { extraBindings, valueFunction, sumsType, groups } = valueParts(options);
  const bindings: BindingDecl[] = [
    { name: 'keys', dtype: 'u32', ref: SORTED_KEYS },
    { name: 'positions', dtype: 'u32', ref: POSITIONS },
    { name: 'heads', dtype: 'u32', ref: { kind: 'temp', index: 2, access: 'read_write' } },
    { name: 'unique_keys', dtype: 'u32', ref: { kind: 'output', index: 0, access: 'read_write' } },
    { name: 'sums', dtype: sumsType, ref: { kind: 'output', index: 1, access: 'read_write' } },
    ...extraBindings,
  ];
  const chunk = SINGLE_WORKGROUP * SINGLE_ITEMS;
  const wgsl = `${declareBindings(bindings, uniforms)}
${IS_HEAD}
${valueFunction}
${workgroupScanWgsl(SINGLE_WORKGROUP)}
var<workgroup> segments: u32;
${computeEntry(SINGLE_WORKGROUP)} {
  if (lid == 0u) { segments = 0u; }
  for (var base = 0u; base < u.count; base = base + ${chunk}u) {
    let start = base + lid * ${SINGLE_ITEMS}u;
    var own = 0u;
    for (var j = 0u; j < ${SINGLE_ITEMS}u; j++) {
      if (start + j < u.count && is_head(start + j)) { own = own + 1u; }
    }
    var segment = segments + workgroup_exclusive_scan(lid, own);
    for (var j = 0u; j < ${SINGLE_ITEMS}u; j++) {
      if (start + j < u.count && is_head(start + j)) {
        heads[segment] = start + j;
        segment = segment + 1u;
      }
    }
    workgroupBarrier();
    if (lid == 0u) { segments = segments + scan_total; }
  }
  storageBarrier();
  workgroupBarrier();
  let found = segments;

  let width = ${groups}u;
  for (var flat = lid; flat < u.capacity * width; flat = flat + ${SINGLE_WORKGROUP}u) {
${sumEntry(vectorized, 'entry', 'entry >= found', 'continue', 'found').replace(/^/gm, '  ')}
  }
}
`;
  return {
    label: `${options.label} segment single workgroup [${count},${rowSize}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: [1, 1, 1],
  };
}

/** With no keys, a part of non-zero capacity is all padding. */
function paddingOnlyPass(options: SegmentSumOptions, part: number, capacity: number): KernelPass {
  const bindings: BindingDecl[] = [
    { name: 'unique_keys', dtype: 'u32', ref: { kind: 'output', index: 2 * part, access: 'read_write' } },
    { name: 'sums', dtype: 'f32', ref: { kind: 'output', index: 2 * part + 1, access: 'read_write' } },
  ];
  const uniforms: UniformField[] = [
    ['capacity', 'u32', capacity],
    ['row_size', 'u32', options.rowSize],
  ];
  const width = Math.max(options.rowSize, 1);
  return {
    label: `${options.label} segment padding part ${part} [${capacity},${options.rowSize}]`,
    wgsl: `${declareBindings(bindings, uniforms)}
${computeEntry(SEGMENT_WORKGROUP)} {
  let flat = ${flatWorkgroupIndex()} * ${SEGMENT_WORKGROUP}u + lid;
  let width = max(u.row_size, 1u);
  if (flat >= u.capacity * width) { return; }
  if (flat % width == 0u) { unique_keys[flat / width] = ${0xffffffff}u; }
  if (u.row_size > 0u) { sums[flat] = 0.0; }
}
`,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: capacity * width === 0 ? [0, 1, 1] : grid1d(Math.ceil((capacity * width) / SEGMENT_WORKGROUP)),
  };
}
