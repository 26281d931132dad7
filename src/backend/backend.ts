// The narrow interface between tensors and the devices that store and compute them.

import type { OpDef, TensorSpec } from '../ops/op.js';
import type { DType, TypedArray } from '../tensor/dtype.js';

export type BackendName = 'webgpu' | 'cpu';

/** One backend-owned block of tensor data; tensors that share storage (views) share one handle. */
export interface DataHandle {
  readonly backend: Backend;
  readonly dtype: DType;
  readonly size: number;
  /** Number of tensors and tape records that keep this data alive. */
  refs: number;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `core`, `compatibility`, or `cpu` for the CPU backend. */
  featureLevel: string;
  /** The Dawn backend that was asked for (`default`, `opengles`, `vulkan`), or `none`. */
  dawnBackend: string;
}

/** Tells whether an adapter runs shaders on the CPU: Mesa's llvmpipe, lavapipe or softpipe, or SwiftShader. */
export function isCpuAdapter(adapter: AdapterDescription): boolean {
  return /llvmpipe|lavapipe|softpipe|swiftshader/i.test(`${adapter.vendor} ${adapter.architecture} ${adapter.device} ${adapter.description}`);
}

export interface MemoryInfo {
  /** Bytes of device buffers created and not yet destroyed, including the pool's free buffers. */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  /** Bytes that live tensors hold. */
  tensorBytes: number;
  peakTensorBytes: number;
}

export interface Backend {
  readonly name: BackendName;
  readonly adapter: AdapterDescription;
  /** Limits that matter to Sparrow, as the device grants them. */
  readonly limits: Record<string, number>;

  /** Uploads values (converted to `dtype`) into new storage. */
  upload(values: ArrayLike<number>, dtype: DType): DataHandle;
  /**
   * Overwrites existing storage with `values` (converted to its dtype), in order with the
   * ops already issued. Used to load weights and optimizer state into live tensors.
   */
  write(handle: DataHandle, values: ArrayLike<number>): void;
  /** Runs one op and returns new storage for each output. */
  run<A>(def: OpDef<A>, inputs: DataHandle[], inputSpecs: TensorSpec[], outputSpecs: TensorSpec[], attrs: A): DataHandle[];
  /** Reads data back: `Float32Array`, `Int32Array` or `Uint32Array` by dtype. */
  read(handle: DataHandle): Promise<TypedArray>;
  /** Frees the storage once no tensor uses it. Idempotent per handle. */
  release(handle: DataHandle): void;
  /** Waits for all submitted work and throws the first kernel error that it reported. */
  sync(): Promise<void>;
  memory(): MemoryInfo;
}
