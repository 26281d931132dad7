// WGSL for element-wise maps over broadcast inputs: one invocation per output element.

import type { DType } from '../tensor/dtype.js';
import { broadcastStrides, sizeOf, type Shape } from '../tensor/shape.js';
import type { KernelProgram } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms, type UniformField } from './wgsl.js';

const WORKGROUP_SIZE = 256;

export interface MapKernelOptions {
  /** Kernel name for labels. */
  name: string;
  inputs: { shape: Shape; dtype: DType }[];
  output: { shape: Shape; dtype: DType };
  /**
   * WGSL expression of the result, reading inputs as `x0`, `x1`, ... (already loaded scalars),
   * uniform attrs as `u.<name>`, and the flat output index as `i`.
   */
  expression: string;
  /** Extra uniforms that the expression reads. */
  uniforms?: UniformField[];
  /** Helper WGSL functions that the expression calls. */
  helpers?: string;
}

/**
 * Generates a map kernel. Inputs whose shape equals the output are read at the flat index;
 * broadcast inputs are read through strides baked into the source, one constant per
 * dimension, so each distinct broadcast pattern compiles its own pipeline.
 */
export function mapProgram(options: MapKernelOptions): KernelProgram {
  const { name, inputs, output: out } = options;
  const size = sizeOf(out.shape);
  // An empty output needs no pass, and its shape would bake a constant `% 0u` into the source.
  if (size === 0) return { passes: [] };
  const bindings = [...inputs.map((spec, k) => input(k, `in${k}`, spec.dtype)), output(0, 'out', out.dtype)];
  const uniforms: UniformField[] = [['size', 'u32', size], ...(options.uniforms ?? [])];

  const outStrides = out.shape.map((_, d) => sizeOf(out.shape.slice(d + 1)));
  const loads = inputs.map((spec, k) => {
    if (sizeOf(spec.shape) === size && spec.shape.length === out.shape.length) return `  let x${k} = in${k}[i];`;
    if (sizeOf(spec.shape) === 1) return `  let x${k} = in${k}[0];`;

    const strides = broadcastStrides(spec.shape, out.shape);
    const terms = out.shape
      .map((_, d) => (strides[d] === 0 ? null : `((i / ${outStrides[d]}u) % ${out.shape[d]}u) * ${strides[d]}u`))
      .filter((term) => term !== null);
    return `  let x${k} = in${k}[${terms.length > 0 ? terms.join(' + ') : '0u'}];`;
  });

  const wgsl = `${declareBindings(bindings, uniforms)}
${options.helpers ?? ''}
${computeEntry(WORKGROUP_SIZE)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (i >= u.size) { return; }
${loads.join('\n')}
  out[i] = ${options.expression};
}
`;
  return {
    passes: [
      {
        label: `${name} ${inputs.map((spec) => `[${spec.shape.join(',')}]`).join(' ')}`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: grid1d(Math.ceil(size / WORKGROUP_SIZE)),
      },
    ],
  };
}
