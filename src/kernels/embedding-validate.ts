// WGSL that finds the first non-finite value of a gradient, so a check reads back one u32.

import type { KernelProgram } from './pass.js';
import { computeEntry, flatWorkgroupIndex, grid1d, packUniforms, type UniformField } from './wgsl.js';

const WORKGROUP = 256;

/**
 * Generates two passes: one invocation sets out[0] to 0xffffffff, then one invocation per
 * value lowers out[0] to its index with `atomicMin` when the value is NaN or infinite
 * (exponent bits all ones). The minimum makes the result the first such index, whatever
 * order the invocations run in.
 */
export function firstNonFiniteProgram(count: number): KernelProgram {
  const uniforms: UniformField[] = [['count', 'u32', count]];
  const header = `@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read_write> first_index: array<atomic<u32>>;
struct U { count: u32, };
@group(0) @binding(2) var<uniform> u: U;`;
  const buffers = [
    { kind: 'input', index: 0, access: 'read' },
    { kind: 'output', index: 0, access: 'read_write' },
  ] as const;
  return {
    passes: [
      {
        label: `firstNonFinite reset [${count}]`,
        wgsl: `${header}
${computeEntry(1)} {
  atomicStore(&first_index[0], 0xffffffffu);
}
`,
        buffers: [...buffers],
        uniforms: packUniforms(uniforms),
        dispatch: [1, 1, 1],
      },
      {
        label: `firstNonFinite scan [${count}]`,
        wgsl: `${header}
${computeEntry(WORKGROUP)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP}u + lid;
  if (i >= u.count) { return; }
  if ((bitcast<u32>(values[i]) & 0x7f800000u) == 0x7f800000u) { atomicMin(&first_index[0], i); }
}
`,
        buffers: [...buffers],
        uniforms: packUniforms(uniforms),
        dispatch: count === 0 ? [0, 1, 1] : grid1d(Math.ceil(count / WORKGROUP)),
      },
    ],
  };
}
