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
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = ${TREE_WORKGROUP / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      partial[lid] = ${combine(kind, 'partial[lid]', 'partial[lid + stride]')};
    }
    workgroupBarrier();
  }
  if (lid == 0u) { dst[row] = partial[0]; }
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
