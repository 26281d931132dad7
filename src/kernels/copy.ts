// WGSL for copying regions between tensors: slice, its zero-padded adjoint, and concat's per-input copy.

import type { DType } from '../tensor/dtype.js';
import { sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import type { BufferRef, KernelPass } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

const WORKGROUP_SIZE = 256;

function copyBindings(dtype: DType, source: BufferRef, target: BufferRef): BindingDecl[] {
  return [
    { name: 'src', dtype, ref: { ...source, access: 'read' } },
    { name: 'dst', dtype, ref: { ...target, access: 'read_write' } },
  ];
}

function finishPass(label: string, wgsl: string, bindings: BindingDecl[], uniforms: UniformField[], invocations: number): KernelPass {
  return {
    label,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(Math.ceil(invocations / WORKGROUP_SIZE)),
  };
}

/**
 * WGSL terms `idx_d * factor_d` for the multi-index of flat index `i` in `shape`, skipping
 * dimensions of size 1. Every dimension of `shape` must be non-zero, so the baked divisors
 * are never zero (WGSL rejects a constant zero divisor).
 */
function indexTerms(shape: Shape, factors: readonly number[]): string[] {
  const strides = stridesOf(shape);
  const terms: string[] = [];
  shape.forEach((dim, d) => {
    if (dim === 1 || factors[d] === 0) return;
    terms.push(`((i / ${strides[d]}u) % ${dim}u) * ${factors[d]}u`);
  });
  return terms;
}

/**
 * Builds a pass that copies the box of shape `outShape` starting at `begin` in `source` (of shape
 * `inShape`) into `target`, one invocation per output element. Shapes are baked into the
 * source and the start offset is a uniform, so the pieces of a split share one pipeline.
 * The caller skips empty outputs.
 */
export function slicePass(inShape: Shape, begin: readonly number[], outShape: Shape, dtype: DType, source: BufferRef, target: BufferRef): KernelPass {
  const size = sizeOf(outShape);
  const inStrides = stridesOf(inShape);
  const start = begin.reduce((offset, b, d) => offset + b * inStrides[d], 0);
  const terms = indexTerms(outShape, inStrides);
  const bindings = copyBindings(dtype, source, target);
  const uniforms: UniformField[] = [
    ['size', 'u32', size],
    ['start', 'u32', start],
  ];

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(WORKGROUP_SIZE)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (i >= u.size) { return; }
  dst[i] = src[u.start${terms.map((term) => ` + ${term}`).join('')}];
}
`;
  const label = `slice [${inShape.join(',')}] begin [${begin.join(',')}] size [${outShape.join(',')}]`;
  return finishPass(label, wgsl, bindings, uniforms, size);
}

/**
 * Builds a pass that writes `target` of shape `outShape` with `source` (of shape `regionShape`)
 * placed at `begin` and zeros everywhere else, one invocation per output element, so every
 * output element is written. The caller skips empty outputs.
 */
export function padSlicePass(regionShape: Shape, begin: readonly number[], outShape: Shape, dtype: DType, source: BufferRef, target: BufferRef): KernelPass {
  const size = sizeOf(outShape);
  const outStrides = stridesOf(outShape);
  const regionStrides = stridesOf(regionShape);
  const bindings = copyBindings(dtype, source, target);
  const uniforms: UniformField[] = [['size', 'u32', size]];
  begin.forEach((b, d) => uniforms.push([`begin${d}`, 'u32', b]));

  // Unsigned subtraction wraps below begin, so one comparison per axis checks both bounds.
  const lines = outShape.map(
    (dim, d) => `  let r${d} = ((i / ${outStrides[d]}u) % ${dim}u) - u.begin${d};\n  inside = inside && r${d} < ${regionShape[d]}u;`,
  );
  const offset = regionShape.map((_, d) => `r${d} * ${regionStrides[d]}u`).join(' + ') || '0u';

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(WORKGROUP_SIZE)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (i >= u.size) { return; }
  var inside = true;
${lines.join('\n')}
  if (inside) {
    dst[i] = src[${offset}];
  } else {
    dst[i] = ${dtype}(0);
  }
}
`;
  const label = `padSlice [${regionShape.join(',')}] begin [${begin.join(',')}] into [${outShape.join(',')}]`;
  return finishPass(label, wgsl, bindings, uniforms, size);
}

/**
 * Builds a pass that copies `source`, viewed as [outer, length, inner], into `target` viewed as
 * [outer, total, inner] at positions offset .. offset + length of the middle axis, one
 * invocation per source element. Everything is a uniform, so one pipeline per dtype serves
 * every concat.
 */
export function concatPass(outer: number, length: number, inner: number, total: number, offset: number, dtype: DType, source: BufferRef, target: BufferRef): KernelPass {
  const size = outer * length * inner;
  const bindings = copyBindings(dtype, source, target);
  const uniforms: UniformField[] = [
    ['size', 'u32', size],
    ['chunk', 'u32', length * inner],
    ['outChunk', 'u32', total * inner],
    ['start', 'u32', offset * inner],
  ];

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(WORKGROUP_SIZE)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (i >= u.size) { return; }
  let o = i / u.chunk;
  dst[o * u.outChunk + u.start + (i - o * u.chunk)] = src[i];
}
`;
  const label = `concat [${outer},${length},${inner}] at ${offset} of ${total}`;
  return finishPass(label, wgsl, bindings, uniforms, size);
}
