// The CPU backend: tensors in typed arrays, each op computed by its plain TypeScript reference.

import type { AdapterDescription, Backend, DataHandle, MemoryInfo } from '../backend.js';
import type { OpDef, TensorSpec } from '../../ops/op.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';

export interface CpuHandle extends DataHandle {
  data: TypedArray | null;
}

let float64Depth = 0;

/**
 * Runs `fn` with `f32` tensors created on the CPU backend stored as float64, so that
 * finite-difference gradient checks are not limited by float32 rounding. Kernels see
 * `Float64Array` inputs and outputs during the call.
 */
export function withFloat64<T>(fn: () => T): T {
  float64Depth++;
  try {
    return fn();
  } finally {
    float64Depth--;
  }
}

export function isFloat64Active(): boolean {
  return float64Depth > 0;
}

function allocate(dtype: DType, size: number): TypedArray {
  if (dtype === 'i32') return new Int32Array(size);
  if (dtype === 'u32') return new Uint32Array(size);
  return float64Depth > 0 ? new Float64Array(size) : new Float32Array(size);
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly adapter: AdapterDescription = {
    vendor: 'sparrow',
    architecture: 'typescript',
    device: 'cpu',
    description: 'Sparrow CPU backend (plain TypeScript loops, single thread)',
    featureLevel: 'cpu',
    dawnBackend: 'none',
  };
  readonly limits: Record<string, number> = {};

  private tensorBytes = 0;
  private peakTensorBytes = 0;

  upload(values: ArrayLike<number>, dtype: DType): DataHandle {
    const data = allocate(dtype, values.length);
    for (let i = 0; i < values.length; i++) data[i] = values[i];
    return this.wrap(data, dtype);
  }

  write(handle: DataHandle, values: ArrayLike<number>): void {
    const data = this.arrayOf(handle);
    if (values.length !== data.length) {
      throw new RangeError(`write: ${values.length} values do not match the ${data.length} elements of the storage`);
    }
    for (let i = 0; i < values.length; i++) data[i] = values[i];
  }

  run<A>(def: OpDef<A>, inputs: DataHandle[], inputSpecs: TensorSpec[], outputSpecs: TensorSpec[], attrs: A): DataHandle[] {
    const inputArrays = inputs.map((handle) => this.arrayOf(handle));
    const outputArrays = outputSpecs.map((spec) => allocate(spec.dtype, sizeOf(spec.shape)));
    def.cpu({ inputs: inputArrays, outputs: outputArrays, inputSpecs, outputSpecs, attrs });
    return outputArrays.map((data, i) => this.wrap(data, outputSpecs[i].dtype));
  }

  async read(handle: DataHandle): Promise<TypedArray> {
    return this.readSync(handle);
  }

  /** Returns a copy of the data. */
  readSync(handle: DataHandle): TypedArray {
    return this.arrayOf(handle).slice();
  }

  release(handle: DataHandle): void {
    const cpuHandle = handle as CpuHandle;
    if (cpuHandle.data === null) return;
    this.tensorBytes -= cpuHandle.data.byteLength;
    cpuHandle.data = null;
  }

  async sync(): Promise<void> {}

  memory(): MemoryInfo {
    return {
      allocatedBytes: this.tensorBytes,
      peakAllocatedBytes: this.peakTensorBytes,
      tensorBytes: this.tensorBytes,
      peakTensorBytes: this.peakTensorBytes,
    };
  }

  /** The live array of a handle; kernels must not keep it. */
  arrayOf(handle: DataHandle): TypedArray {
    const data = (handle as CpuHandle).data;
    if (data === null) throw new Error('cpu backend: storage was already released');
    return data;
  }

  private wrap(data: TypedArray, dtype: DType): CpuHandle {
    this.tensorBytes += data.byteLength;
    this.peakTensorBytes = Math.max(this.peakTensorBytes, this.tensorBytes);
    return { backend: this, dtype, size: data.length, refs: 0, data };
  }
}
