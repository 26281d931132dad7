// WGSL for softmax and log-softmax along the middle axis of an [outer, length, inner] view.

import type { BufferRef, KernelPass, KernelProgram } from './pass.js';
import { transposePass } from './transpose.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

export type SoftmaxKind = 'softmax' | 'logSoftmax';

const THREAD_WORKGROUP = 64;
const ROW_WORKGROUP = 64;
/** Rows at least this long get a whole workgroup each, and shorter rows one invocation each. */
const ROW_MIN_LENGTH = 64;

const LOWEST_F32 = '-3.402823466e+38';

/** WGSL statement that writes the result for element `index` from `value`, the row max `m` and the row sum `s`. */
function writeResult(kind: SoftmaxKind, index: string, value: string): string {
  return kind === 'softmax' ? `dst[${index}] = exp(${value} - m) / s;` : `dst[${index}] = ${value} - m - log(s);`;
}

/**
 * Builds a pass with one invocation per row, which makes three sweeps (max, sum of exp,
 * write) over `length` elements spaced `inner` apart. Neighbouring invocations read neighbouring addresses when inner > 1.
 */
function threadPerRowPass(kind: SoftmaxKind, outer: number, length: number, inner: number, source: BufferRef, target: BufferRef): KernelPass {
  const rows = outer * inner;
  const bindings: BindingDecl[] = [
    { name: 'src', dtype: 'f32', ref: { ...source, access: 'read' } },
    { name: 'dst', dtype: 'f32', ref: { ...target, access: 'read_write' } },
  ];
  const uniforms: UniformField[] = [
    ['rows', 'u32', rows],
    ['length', 'u32', length],
    ['inner', 'u32', inner],
  ];

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(THREAD_WORKGROUP)} {
  let row = ${flatWorkgroupIndex()} * ${THREAD_WORKGROUP}u + lid;
  if (row >= u.rows) { return; }
  let o = row / u.inner;
  let base = o * u.length * u.inner + (row - o * u.inner);
  var m = ${LOWEST_F32};
  for (var k = 0u; k < u.length; k++) {
    m = max(m, src[base + k * u.inner]);
  }
  var s = 0.0;
  for (var k = 0u; k < u.length; k++) {
    s += exp(src[base + k * u.inner] - m);
  }
  for (var k = 0u; k < u.length; k++) {
    ${writeResult(kind, 'base + k * u.inner', 'src[base + k * u.inner]')}
  }
}
`;
  return {
    label: `${kind}-rows [${outer},${length},${inner}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(Math.ceil(rows / THREAD_WORKGROUP)),
  };
}

/**
 * Builds a pass with one workgroup per contiguous row. Each sweep is a strided loop over the
 * row followed by a tree reduction in workgroup memory, first for the max, then for the sum of exp.
 */
function workgroupPerRowPass(kind: SoftmaxKind, rows: number, length: number, source: BufferRef, target: BufferRef): KernelPass {
  const bindings: BindingDecl[] = [
    { name: 'src', dtype: 'f32', ref: { ...source, access: 'read' } },
    { name: 'dst', dtype: 'f32', ref: { ...target, access: 'read_write' } },
  ];
  const uniforms: UniformField[] = [
    ['rows', 'u32', rows],
    ['length', 'u32', length],
  ];
  const tree = (combine: string) => `  for (var stride = ${ROW_WORKGROUP / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      partial[lid] = ${combine};
    }
    workgroupBarrier();
  }`;

  // The early return depends on the workgroup's row only, so it is uniform across the
  // workgroup and every invocation that stays reaches each barrier.
  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> partial: array<f32, ${ROW_WORKGROUP}>;
${computeEntry(ROW_WORKGROUP)} {
  let row = ${flatWorkgroupIndex()};
  if (row >= u.rows) { return; }
  let base = row * u.length;

  var localMax = ${LOWEST_F32};
  for (var k = lid; k < u.length; k += ${ROW_WORKGROUP}u) {
    localMax = max(localMax, src[base + k]);
  }
  partial[lid] = localMax;
  workgroupBarrier();
${tree('max(partial[lid], partial[lid + stride])')}
  let m = partial[0];
  workgroupBarrier();

  var localSum = 0.0;
  for (var k = lid; k < u.length; k += ${ROW_WORKGROUP}u) {
    localSum += exp(src[base + k] - m);
  }
  partial[lid] = localSum;
  workgroupBarrier();
${tree('partial[lid] + partial[lid + stride]')}
  let s = partial[0];

  for (var k = lid; k < u.length; k += ${ROW_WORKGROUP}u) {
    ${writeResult(kind, 'base + k', 'src[base + k]')}
  }
}
`;
  return {
    label: `${kind}-workgroup-rows [${rows},${length}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(rows),
  };
}

/**
 * Builds the program for softmax or log-softmax of input 0, viewed as [outer, length, inner], along the middle
 * axis into output 0. Short rows take one invocation each, reading with stride `inner`.
 * Long contiguous rows (inner = 1) take one workgroup each. Long strided rows are first
 * transposed to [outer, inner, length] in a scratch buffer, reduced as contiguous rows, and
 * transposed back. Every dimension must be non-zero, so the caller skips empty tensors.
 */
export function softmaxProgram(kind: SoftmaxKind, outer: number, length: number, inner: number): KernelProgram {
  const input: BufferRef = { kind: 'input', index: 0, access: 'read' };
  const output: BufferRef = { kind: 'output', index: 0, access: 'read_write' };
  if (length < ROW_MIN_LENGTH) return { passes: [threadPerRowPass(kind, outer, length, inner, input, output)] };
  if (inner === 1) return { passes: [workgroupPerRowPass(kind, outer, length, input, output)] };

  const size = outer * length * inner;
  const rowsFirst: BufferRef = { kind: 'temp', index: 0, access: 'read_write' };
  const resultRows: BufferRef = { kind: 'temp', index: 1, access: 'read_write' };
  return {
    temps: [
      { dtype: 'f32', size },
      { dtype: 'f32', size },
    ],
    passes: [
      transposePass([outer, length, inner], [0, 2, 1], 'f32', input, rowsFirst),
      workgroupPerRowPass(kind, outer * inner, length, rowsFirst, resultRows),
      transposePass([outer, inner, length], [0, 2, 1], 'f32', resultRows, output),
    ],
  };
}
