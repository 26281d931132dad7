// The data that describes one WGSL compute dispatch: source, buffers, uniforms and grid.

import type { DType } from '../tensor/dtype.js';

/** Which buffer a binding refers to: an op input, an op output, or a scratch buffer of the op. */
export interface BufferRef {
  kind: 'input' | 'output' | 'temp';
  index: number;
  /** `read` binds as `var<storage, read>`, `read_write` as `var<storage, read_write>`. */
  access: 'read' | 'read_write';
}

/** A scratch buffer that lives for the duration of one op's passes. */
export interface TempSpec {
  dtype: DType;
  size: number;
}

/** One compute dispatch. Pipelines are cached by `wgsl`, so the source is the cache key. */
export interface KernelPass {
  /** Kernel name and shapes, used as the pipeline label and in every error about this pass. */
  label: string;
  wgsl: string;
  /** Bound in order at `@group(0) @binding(i)`. */
  buffers: BufferRef[];
  /** Packed uniform block bound after the buffers, or absent when the kernel has none. */
  uniforms?: ArrayBuffer;
  /** Workgroup counts; each must be at most the adapter's `maxComputeWorkgroupsPerDimension`. */
  dispatch: [number, number, number];
}

/** What an op's WebGPU implementation returns: its scratch buffers and its passes, run in order. */
export interface KernelProgram {
  temps?: TempSpec[];
  passes: KernelPass[];
}
