// WGSL for permuting the axes of a tensor: one invocation per output element.

import type { DType } from '../tensor/dtype.js';
import { sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import type { BufferRef, KernelPass } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl } from './wgsl.js';

const WORKGROUP_SIZE = 256;

/**
 * A pass that writes `source` permuted by `perm` (output axis d is input axis perm[d]) into
 * `target`. Shapes are baked into the source.
 */
export function transposePass(shape: Shape, perm: readonly number[], dtype: DType, source: BufferRef, target: BufferRef): KernelPass {
  const size = sizeOf(shape);
  const outShape = perm.map((axis) => shape[axis]);
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  // An empty tensor gets no index terms: WGSL rejects a constant `% 0u`, and nothing runs anyway.
  const terms = size === 0 ? [] : outShape.map((dim, d) => `((i / ${outStrides[d]}u) % ${dim}u) * ${inStrides[perm[d]]}u`);
  const bindings: BindingDecl[] = [
    { name: 'src', dtype, ref: { ...source, access: 'read' } },
    { name: 'dst', dtype, ref: { ...target, access: 'read_write' } },
  ];

  const wgsl = `${declareBindings(bindings, [['size', 'u32', size]])}
${computeEntry(WORKGROUP_SIZE)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (i >= u.size) { return; }
  dst[i] = src[${terms.length > 0 ? terms.join(' + ') : '0u'}];
}
`;
  return {
    label: `transpose [${shape.join(',')}] perm [${perm.join(',')}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms([['size', 'u32', size]]),
    dispatch: size === 0 ? [0, 1, 1] : grid1d(Math.ceil(size / WORKGROUP_SIZE)),
  };
}
