// WGSL exclusive prefix sums of u32 arrays, shared by the radix sort and the segmented reduction.

import type { BufferRef, KernelPass } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

/** Invocations per scan workgroup; 256 is the most that core-level adapters guarantee. */
export const SCAN_WORKGROUP = 256;
/** Values each invocation scans sequentially. */
const SCAN_ITEMS = 4;
/** Values one workgroup scans: a block. */
export const SCAN_BLOCK = SCAN_WORKGROUP * SCAN_ITEMS;

/**
 * Generates the WGSL helper `workgroup_exclusive_scan(lid, value)`: the exclusive prefix sum
 * of `value` over the invocations of a workgroup of `workgroupSize`, by Hillis-Steele steps in
 * workgroup memory. `scan_total` is the workgroup total afterwards. Every invocation must call
 * it from uniform control flow, because it contains barriers.
 */
export function workgroupScanWgsl(workgroupSize: number): string {
  return `
var<workgroup> scan_values: array<u32, ${workgroupSize}>;
var<workgroup> scan_total: u32;
fn workgroup_exclusive_scan(lid: u32, value: u32) -> u32 {
  workgroupBarrier();
  scan_values[lid] = value;
  workgroupBarrier();
  for (var offset = 1u; offset < ${workgroupSize}u; offset = offset << 1u) {
    var left = 0u;
    if (lid >= offset) { left = scan_values[lid - offset]; }
    workgroupBarrier();
    scan_values[lid] = scan_values[lid] + left;
    workgroupBarrier();
  }
  if (lid == ${workgroupSize - 1}u) { scan_total = scan_values[lid]; }
  workgroupBarrier();
  return scan_values[lid] - value;
}
`;
}

/** `workgroupScanWgsl` for the scan passes' workgroup of SCAN_WORKGROUP invocations. */
export const WORKGROUP_SCAN_WGSL = workgroupScanWgsl(SCAN_WORKGROUP);

/** Number of u32 block totals that `scanPasses` needs as scratch for `count` values. */
export function scanScratchSize(count: number): number {
  return Math.max(1, Math.ceil(count / SCAN_BLOCK));
}

function bindingsOf(source: BufferRef, target: BufferRef, blockSums: BufferRef): BindingDecl[] {
  return [
    { name: 'src', dtype: 'u32', ref: { ...source, access: 'read' } },
    { name: 'dst', dtype: 'u32', ref: { ...target, access: 'read_write' } },
    { name: 'block_sums', dtype: 'u32', ref: { ...blockSums, access: 'read_write' } },
  ];
}

/**
 * Builds the passes that write the exclusive prefix sum of `source[0..count)` into `target`
 * (a different buffer): a scan of each block of SCAN_BLOCK values that records block totals
 * in `blockSums` (scratch of `scanScratchSize(count)` u32), one workgroup that scans the
 * block totals in a loop, and a pass that adds each block's offset. The sums wrap modulo
 * 2^32, so callers keep totals below that.
 */
export function scanPasses(label: string, count: number, source: BufferRef, target: BufferRef, blockSums: BufferRef): KernelPass[] {
  if (count === 0) return [];
  const blocks = scanScratchSize(count);
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['blocks', 'u32', blocks],
  ];
  const bindings = bindingsOf(source, target, blockSums);
  const header = `${declareBindings(bindings, uniforms)}\n${WORKGROUP_SCAN_WGSL}`;

  // Each invocation scans SCAN_ITEMS consecutive values, so a block is contiguous and the
  // workgroup scan runs once per block. The early return is per workgroup, so it is uniform.
  const blockScan = `${header}
${computeEntry(SCAN_WORKGROUP)} {
  let block = ${flatWorkgroupIndex()};
  if (block >= u.blocks) { return; }
  let start = block * ${SCAN_BLOCK}u + lid * ${SCAN_ITEMS}u;
  var items: array<u32, ${SCAN_ITEMS}>;
  var running = 0u;
  for (var j = 0u; j < ${SCAN_ITEMS}u; j++) {
    var value = 0u;
    if (start + j < u.count) { value = src[start + j]; }
    items[j] = running;
    running = running + value;
  }
  let offset = workgroup_exclusive_scan(lid, running);
  for (var j = 0u; j < ${SCAN_ITEMS}u; j++) {
    if (start + j < u.count) { dst[start + j] = offset + items[j]; }
  }
  if (lid == 0u) { block_sums[block] = scan_total; }
}
`;

  // One workgroup walks the block totals a block at a time, carrying the running total.
  const totalsScan = `${header}
${computeEntry(SCAN_WORKGROUP)} {
  var carry = 0u;
  for (var base = 0u; base < u.blocks; base += ${SCAN_BLOCK}u) {
    let start = base + lid * ${SCAN_ITEMS}u;
    var items: array<u32, ${SCAN_ITEMS}>;
    var running = 0u;
    for (var j = 0u; j < ${SCAN_ITEMS}u; j++) {
      var value = 0u;
      if (start + j < u.blocks) { value = block_sums[start + j]; }
      items[j] = running;
      running = running + value;
    }
    let offset = workgroup_exclusive_scan(lid, running);
    for (var j = 0u; j < ${SCAN_ITEMS}u; j++) {
      if (start + j < u.blocks) { block_sums[start + j] = carry + offset + items[j]; }
    }
    carry = carry + scan_total;
  }
}
`;

  const addOffsets = `${header}
${computeEntry(SCAN_WORKGROUP)} {
  let i = ${flatWorkgroupIndex()} * ${SCAN_WORKGROUP}u + lid;
  if (i >= u.count) { return; }
  dst[i] = dst[i] + block_sums[i / ${SCAN_BLOCK}u];
}
`;

  const make = (stage: string, wgsl: string, dispatch: [number, number, number]): KernelPass => ({
    label: `${label} scan ${stage} [${count}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch,
  });
  const passes = [make('blocks', blockScan, grid1d(blocks))];
  if (blocks > 1) {
    passes.push(make('totals', totalsScan, [1, 1, 1]));
    passes.push(make('offsets', addOffsets, grid1d(Math.ceil(count / SCAN_WORKGROUP))));
  }
  return passes;
}
