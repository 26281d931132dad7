// Small typed helpers that generate the repeated parts of WGSL kernels: bindings, uniforms, grids.

import type { DType } from '../tensor/dtype.js';
import type { BufferRef } from './pass.js';

/** Maximum workgroups per grid dimension that WebGPU guarantees on every adapter. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** One binding of a kernel: the WGSL variable name, its element type and which buffer it is. */
export interface BindingDecl {
  name: string;
  dtype: DType | 'vec4<f32>' | 'vec4<u32>' | 'vec4<i32>' | 'vec2<u32>';
  ref: BufferRef;
}

export type UniformField = [name: string, type: 'u32' | 'i32' | 'f32', value: number];

export function input(index: number, name: string, dtype: BindingDecl['dtype']): BindingDecl {
  return { name, dtype, ref: { kind: 'input', index, access: 'read' } };
}

export function output(index: number, name: string, dtype: BindingDecl['dtype']): BindingDecl {
  return { name, dtype, ref: { kind: 'output', index, access: 'read_write' } };
}

export function temp(index: number, name: string, dtype: BindingDecl['dtype'], access: BufferRef['access'] = 'read_write'): BindingDecl {
  return { name, dtype, ref: { kind: 'temp', index, access } };
}

/**
 * Generates the `@group(0)` declarations for `bindings`, then a `U` uniform struct bound as `u`
 * after them when `uniforms` has fields.
 */
export function declareBindings(bindings: BindingDecl[], uniforms: UniformField[] = []): string {
  const lines = bindings.map((binding, i) => {
    const access = binding.ref.access === 'read' ? 'read' : 'read_write';
    return `@group(0) @binding(${i}) var<storage, ${access}> ${binding.name}: array<${binding.dtype}>;`;
  });

  if (uniforms.length > 0) {
    const fields = uniforms.map(([name, type]) => `  ${name}: ${type},`).join('\n');
    lines.push(`struct U {\n${fields}\n};`);
    lines.push(`@group(0) @binding(${bindings.length}) var<uniform> u: U;`);
  }
  return lines.join('\n');
}

/** Packs uniform values in declaration order, padded to the 16-byte size that uniform blocks need. */
export function packUniforms(fields: UniformField[]): ArrayBuffer | undefined {
  if (fields.length === 0) return undefined;

  const size = Math.ceil((fields.length * 4) / 16) * 16;
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  fields.forEach(([name, type, value], i) => {
    if (!Number.isFinite(value)) throw new RangeError(`uniform ${name}: value ${value} is not a finite number`);
    if (type === 'f32') view.setFloat32(i * 4, value, true);
    else if (type === 'i32') view.setInt32(i * 4, value, true);
    else view.setUint32(i * 4, value, true);
  });
  return buffer;
}

/**
 * Spreads `workgroups` over x and y so that neither exceeds 65,535. Kernels recover the flat
 * workgroup index with `flatWorkgroupIndex()`, and must guard against the padding the
 * rectangle adds.
 */
export function grid1d(workgroups: number): [number, number, number] {
  const count = Math.max(1, Math.ceil(workgroups));
  if (count <= MAX_WORKGROUPS_PER_DIMENSION) return [count, 1, 1];

  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIMENSION);
  const x = Math.ceil(count / y);
  if (y > MAX_WORKGROUPS_PER_DIMENSION) throw new RangeError(`grid1d: ${count} workgroups exceed 65535 x 65535`);
  return [x, y, 1];
}

/** WGSL expression for the flat workgroup index of a `grid1d` dispatch. */
export function flatWorkgroupIndex(workgroupId = 'wid', numWorkgroups = 'nwg'): string {
  return `(${workgroupId}.x + ${workgroupId}.y * ${numWorkgroups}.x)`;
}

/** Entry-point signature with the builtins that the grid helpers expect. */
export function computeEntry(workgroupSize: number | [number, number, number]): string {
  const size = typeof workgroupSize === 'number' ? `${workgroupSize}` : workgroupSize.join(', ');
  return `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32,
        @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(global_invocation_id) gid: vec3<u32>)`;
}
