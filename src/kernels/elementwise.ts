// WGSL for element-wise maps over broadcast inputs: one invocation per output element, or per 4.

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
 * dimension, so each distinct broadcast pattern compiles its own pipeline. When the size is a
 * multiple of 4 and every input is full-size or a single element, the vec4 form runs instead
 * (see `vectorMapProgram`).
 */
export function mapProgram(options: MapKernelOptions): KernelProgram {
  const { name, inputs, output: out } = options;
  const size = sizeOf(out.shape);
  // An empty output needs no pass, and its shape would bake a constant `% 0u` into the source.
  if (size === 0) return { passes: [] };
  const bindings = [...inputs.map((spec, k) => input(k, `in${k}`, spec.dtype)), output(0, 'out', out.dtype)];
  const uniforms: UniformField[] = [['size', 'u32', size], ...(options.uniforms ?? [])];

  if (isVectorizable(inputs, size, out.shape.length)) return vectorMapProgram(options, size);

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

/**
 * Tells whether the vec4 form applies: the size is a multiple of 4 and every input is read at
 * the flat index (same size and rank as the output) or is a single element.
 */
function isVectorizable(inputs: MapKernelOptions['inputs'], size: number, rank: number): boolean {
  return size % 4 === 0 && inputs.every((spec) => sizeOf(spec.shape) === 1 || (sizeOf(spec.shape) === size && spec.shape.length === rank));
}

const COMPONENTS = ['x', 'y', 'z', 'w'];

/**
 * Generates the vec4 form of a map kernel. One invocation loads 4 adjacent elements of each
 * full-size input with one vec4 load and evaluates the scalar expression for each of them
 * (with `i` the element's flat index). It stores the 4 results with one vec4 store. The
 * software adapters execute every storage access lane by lane, so this cuts the accesses by 4:
 * on llvmpipe an element-wise product of 6.8 million elements took 9 to 13 ms instead of 19.
 */
function vectorMapProgram(options: MapKernelOptions, size: number): KernelProgram {
  const { name, inputs, output: out } = options;
  const full = inputs.map((spec) => sizeOf(spec.shape) === size);
  const bindings = [
    ...inputs.map((spec, k) => input(k, `in${k}`, full[k] ? (`vec4<${spec.dtype}>` as const) : spec.dtype)),
    output(0, 'out', `vec4<${out.dtype}>` as const),
  ];
  const uniforms: UniformField[] = [['size', 'u32', size], ...(options.uniforms ?? [])];
  const loads = inputs.map((_, k) => (full[k] ? `  let v${k} = in${k}[q];` : `  let x${k} = in${k}[0];`));
  const lanes = COMPONENTS.map((component, c) => {
    const elements = inputs.map((_, k) => (full[k] ? `    let x${k} = v${k}.${component};\n` : '')).join('');
    return `  {\n    let i = q * 4u + ${c}u;\n${elements}    result.${component} = ${options.expression};\n  }`;
  });

  const wgsl = `${declareBindings(bindings, uniforms)}
${options.helpers ?? ''}
${computeEntry(WORKGROUP_SIZE)} {
  let q = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (q >= u.size / 4u) { return; }
${loads.join('\n')}
  var result: vec4<${out.dtype}>;
${lanes.join('\n')}
  out[q] = result;
}
`;
  return {
    passes: [
      {
        label: `${name} vec4 ${inputs.map((spec) => `[${spec.shape.join(',')}]`).join(' ')}`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: grid1d(Math.ceil(size / 4 / WORKGROUP_SIZE)),
      },
    ],
  };
}
