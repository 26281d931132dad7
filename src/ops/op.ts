// The op record: shape rule, CPU reference, WebGPU program and backward of one op, in one place.

import type { KernelProgram } from '../kernels/pass.js';
import type { RowSparse } from '../sparse/row-sparse.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** Shape and dtype of a tensor, without its data. */
export interface TensorSpec {
  shape: Shape;
  dtype: DType;
}

/** Adapter limits that kernels size their grids and workgroups by. */
export interface KernelLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
}

export interface CpuArgs<A> {
  /** Input data. `f32` tensors are `Float64Array` while `withFloat64` is active, else `Float32Array`. */
  inputs: TypedArray[];
  /** Output arrays, already allocated at the sizes the shape rule gave; the op fills every element. */
  outputs: TypedArray[];
  inputSpecs: TensorSpec[];
  outputSpecs: TensorSpec[];
  attrs: A;
}

export interface WebGPUArgs<A> {
  inputSpecs: TensorSpec[];
  outputSpecs: TensorSpec[];
  attrs: A;
  limits: KernelLimits;
  features: ReadonlySet<string>;
  /**
   * Whether the adapter runs shaders on the CPU (Mesa's llvmpipe or lavapipe, SwiftShader). Such
   * an adapter runs each workgroup on one thread and pays for every barrier, so a kernel may
   * choose fewer invocations with more work each. The result must not depend on it.
   */
  cpuAdapter: boolean;
}

export interface BackwardArgs<A> {
  inputs: Tensor[];
  outputs: Tensor[];
  /** Gradient of the loss with respect to each output, or null for an output that did not reach the loss. */
  grads: (Tensor | null)[];
  attrs: A;
  /** Whether each input takes a gradient, so a backward can skip work for the others. */
  needsInputGrad: boolean[];
}

/**
 * Gradients with respect to each input, or null for an input that gets none (ids, masks).
 * A table's gradient may be a RowSparse: a leaf then receives it in `sparseGrad`, and any
 * other tensor receives it densified.
 */
export type BackwardFn<A> = (args: BackwardArgs<A>) => (Tensor | RowSparse | null)[];

/** An op that has no gradient says why, so the record is complete either way. */
export interface NotDifferentiable {
  notDifferentiable: string;
}

export interface OpDef<A = Record<string, never>> {
  /** Unique name, used in errors, debug output and kernel labels. */
  name: string;
  /** Validates the inputs and returns the output specs; throws ShapeError or DTypeError. */
  shape(inputs: TensorSpec[], attrs: A): TensorSpec[];
  /** Plain TypeScript loops that define what the op computes. */
  cpu(args: CpuArgs<A>): void;
  /** The WGSL program that computes the same function as `cpu`. */
  webgpu(args: WebGPUArgs<A>): KernelProgram;
  backward: BackwardFn<A> | NotDifferentiable;
  /** Describes attrs for kernel labels; defaults to JSON of the attrs. */
  describeAttrs?(attrs: A): string;
}

/** Defines an op. This is the same mechanism every built-in op uses; see docs/custom-ops.md. */
export function defineOp<A = Record<string, never>>(def: OpDef<A>): OpDef<A> {
  if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(def.name)) {
    throw new TypeError(`defineOp: invalid op name "${def.name}"; use letters, digits, '_', '.' or '-'`);
  }
  for (const field of ['shape', 'cpu', 'webgpu'] as const) {
    if (typeof def[field] !== 'function') throw new TypeError(`defineOp: op "${def.name}" has no ${field} function; every op needs shape, cpu and webgpu`);
  }
  const backward: unknown = def.backward;
  const marked = typeof backward === 'object' && backward !== null && typeof (backward as { notDifferentiable?: unknown }).notDifferentiable === 'string';
  if (typeof backward !== 'function' && !marked) {
    throw new TypeError(`defineOp: op "${def.name}" needs a backward function, or { notDifferentiable: 'reason' } when it has no gradient`);
  }
  return Object.freeze(def);
}
