// WGSL for reducing the middle axis of a [outer, reduced, inner] view: sum or max.

import type { BufferRef, KernelPass } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

export type ReduceKind = 'sum' | 'max';

const THREAD_WORKGROUP = 64;
const TREE_WORKGROUP = 256;
/** Rows at least this long get a whole workgroup each; shorter ones one invocation each. */
const TREE_MIN_LENGTH = 512;

function identity(kind: ReduceKind): string {
  return kind === 'sum' ? '0.0' : '-3.402823466e+38';
}

function combine(kind: ReduceKind, a: string, b: string): string {
  return kind === 'sum' ? `${a} + ${b}` : `max(${a}, ${b})`;
}

/**
 * Generates the WGSL that combines each invocation's `value` over a workgroup of TREE_WORKGROUP
 * by a tree in the workgroup array `partial`, and stores the result to `target` from
 * invocation 0. Every invocation must run it, because it contains barriers.
 */
function workgroupTree(kind: ReduceKind, value: string, target: string): string {
  return `  partial[lid] = ${value};
  workgroupBarrier();
  for (var stride = ${TREE_WORKGROUP / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      partial[lid] = ${combine(kind, 'partial[lid]', 'partial[lid + stride]')};
    }
    workgroupBarrier();
  }
  if (lid == 0u) { ${target} = partial[0]; }`;
}

/**
 * Rows at least this long, when there are too few of them to keep the adapter's threads busy
 * (fewer than SPLIT_MAX_ROWS), are reduced in two passes: SPLIT_CHUNK-element chunks by one
 * workgroup each, then the chunks' partial results.
 */
const SPLIT_MIN_LENGTH = 65536;
const SPLIT_MAX_ROWS = 16;
const SPLIT_CHUNK = 16384;

/** Returns the number of chunks of a row in the two-pass reduction, or 0 when one pass reduces the rows. */
export function reduceChunks(outer: number, reduced: number, inner: number): number {
  if (inner !== 1 || reduced < SPLIT_MIN_LENGTH || outer >= SPLIT_MAX_ROWS) return 0;
  return Math.ceil(reduced / SPLIT_CHUNK);
}

/**
 * Returns the passes that reduce `source` viewed as [outer, reduced, inner] into `target`
 * [outer, inner]. That is one `reducePass`, except for few long rows (see `reduceChunks`): they
 * take a pass that reduces each chunk of each row into `partials` (f32 [outer, chunks]), then a
 * `reducePass` of those. A single workgroup per row would leave all but one of a CPU adapter's
 * threads idle: on llvmpipe, the sum of 6.8 million elements took 55 ms in one pass.
 */
export function reducePasses(kind: ReduceKind, outer: number, reduced: number, inner: number, source: BufferRef, target: BufferRef, partials: BufferRef): KernelPass[] {
  const chunks = reduceChunks(outer, reduced, inner);
  if (chunks === 0) return [reducePass(kind, outer, reduced, inner, source, target)];
  return [chunkPass(kind, outer, reduced, chunks, source, partials), reducePass(kind, outer, chunks, 1, { ...partials, access: 'read' }, target)];
}

/**
 * Generates the chunk pass: one workgroup per (row, chunk) runs a strided loop over the chunk,
 * with vec4 loads when the row length is a multiple of 4, and a tree in workgroup memory.
 */
function chunkPass(kind: ReduceKind, outer: number, reduced: number, chunks: number, source: BufferRef, partials: BufferRef): KernelPass {
  const lanes = reduced % 4 === 0 ? 4 : 1;
  const type = lanes === 4 ? 'vec4<f32>' : 'f32';
  const bindings: BindingDecl[] = [
    { name: 'src', dtype: type, ref: { ...source, access: 'read' } },
    { name: 'dst', dtype: 'f32', ref: { ...partials, access: 'read_write' } },
  ];
  const uniforms: UniformField[] = [
    ['outer', 'u32', outer],
    ['reduced', 'u32', reduced / lanes],
    ['chunks', 'u32', chunks],
  ];
  const chunk = SPLIT_CHUNK / lanes;
  const fold = lanes === 4 ? combine(kind, combine(kind, 'acc.x', 'acc.y'), combine(kind, 'acc.z', 'acc.w')) : 'acc';
  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> partial: array<f32, ${TREE_WORKGROUP}>;
${computeEntry(TREE_WORKGROUP)} {
  let group = ${flatWorkgroupIndex()};
  if (group >= u.outer * u.chunks) { return; }
  let row = group / u.chunks;
  let start = (group % u.chunks) * ${chunk}u;
  let end = min(start + ${chunk}u, u.reduced);
  let base = row * u.reduced;
  var acc = ${type}(${identity(kind)});
  for (var k = start + lid; k < end; k += ${TREE_WORKGROUP}u) {
    acc = ${combine(kind, 'acc', 'src[base + k]')};
  }
${workgroupTree(kind, fold, 'dst[group]')}
}
`;
  // The early return depends on the workgroup only, so every invocation that reaches a barrier
  // reaches all of them.
  return {
    label: `reduce-${kind} chunks [${outer},${reduced}] in ${chunks}`,
    wgsl,
    buffers: bindings.map((b) => b.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(outer * chunks),
  };
}

/**
 * Reduces `source` viewed as [outer, reduced, inner] into `target` [outer, inner]. When
 * inner is 1 and rows are long, one workgroup sums each row with a strided loop and a
 * tree in workgroup memory; otherwise each invocation loops over one output's row.
 * Summation order differs from the CPU's left-to-right loop, so results match within
 * float32 rounding, not bit for bit.
 */
export function reducePass(kind: ReduceKind, outer: number, reduced: number, inner: number, source: BufferRef, target: BufferRef): KernelPass {
  const bindings: BindingDecl[] = [
    { name: 'src', dtype: 'f32', ref: { ...source, access: 'read' } },
    { name: 'dst', dtype: 'f32', ref: { ...target, access: 'read_write' } },
  ];
  const uniforms: UniformField[] = [
    ['outer', 'u32', outer],
    ['reduced', 'u32', reduced],
    ['inner', 'u32', inner],
  ];
  const label = `reduce-${kind} [${outer},${reduced},${inner}]`;

  if (inner === 1 && reduced >= TREE_MIN_LENGTH) {
    const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> partial: array<f32, ${TREE_WORKGROUP}>;
${computeEntry(TREE_WORKGROUP)} {
  let row = ${flatWorkgroupIndex()};
  if (row >= u.outer) { return; }
  let base = row * u.reduced;
  var acc = ${identity(kind)};
  for (var k = lid; k < u.reduced; k += ${TREE_WORKGROUP}u) {
    acc = ${combine(kind, 'acc', 'src[base + k]')};
  }
${workgroupTree(kind, 'acc', 'dst[row]')}
}
`;
    // The early return above is uniform across a workgroup (it depends on the row only), so
    // every invocation that reaches a barrier reaches all of them.
    return { label, wgsl, buffers: bindings.map((b) => b.ref), uniforms: packUniforms(uniforms), dispatch: grid1d(outer) };
  }

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(THREAD_WORKGROUP)} {
  let index = ${flatWorkgroupIndex()} * ${THREAD_WORKGROUP}u + lid;
  if (index >= u.outer * u.inner) { return; }
  let o = index / u.inner;
  let i = index % u.inner;
  let base = o * u.reduced * u.inner + i;
  var acc = ${identity(kind)};
  for (var k = 0u; k < u.reduced; k++) {
    acc = ${combine(kind, 'acc', 'src[base + k * u.inner]')};
  }
  dst[index] = acc;
}
`;
  return {
    label,
    wgsl,
    buffers: bindings.map((b) => b.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(Math.ceil((outer * inner) / THREAD_WORKGROUP)),
  };
}
