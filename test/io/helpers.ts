// Shared helpers of the I/O tests: temporary directories, tensors with special values, byte comparison.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

import type { HostTensor, TensorMap } from '../../src/io/index.js';

const created: string[] = [];

/** Creates a temporary directory, removed after the current test. */
export function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'sparrow-io-'));
  created.push(directory);
  return directory;
}

afterEach(() => {
  for (const directory of created.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** Float bit patterns that a lossy copy would change: NaN payloads, infinities, -0, subnormals. */
export function specialF32(): Float32Array {
  const bits = new Uint32Array([0x7fc00000, 0x7fa00001, 0xffc12345, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x807fffff, 0x3f800000, 0x7f7fffff]);
  return new Float32Array(bits.buffer);
}

export function specialF64(): Float64Array {
  const bits = new BigUint64Array([0x7ff8000000000000n, 0x7ff0000000000001n, 0xfff8000000abcdefn, 0x7ff0000000000000n, 0xfff0000000000000n, 0x8000000000000000n, 1n, 0x3ff0000000000000n]);
  return new Float64Array(bits.buffer);
}

/** Tensors of every dtype, with special values, empty shapes and a scalar. */
export function sampleTensors(): TensorMap {
  return {
    'deep.dense.weight': { dtype: 'f32', shape: [2, 5], data: specialF32() },
    'wide.bias': { dtype: 'f32', shape: [], data: new Float32Array([-0]) },
    'empty.f32': { dtype: 'f32', shape: [0], data: new Float32Array(0) },
    'empty.rows': { dtype: 'f32', shape: [3, 0], data: new Float32Array(0) },
    'ids.i32': { dtype: 'i32', shape: [5], data: new Int32Array([-2147483648, -1, 0, 1, 2147483647]) },
    'empty.i32': { dtype: 'i32', shape: [0, 4], data: new Int32Array(0) },
    'offsets.u32': { dtype: 'u32', shape: [2, 2], data: new Uint32Array([0, 1, 0x80000000, 0xffffffff]) },
    'empty.u32': { dtype: 'u32', shape: [0], data: new Uint32Array(0) },
    'stats.f64': { dtype: 'f64', shape: [8], data: specialF64() },
  };
}

function bytesOf(tensor: HostTensor): Uint8Array {
  return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
}

/** Asserts equal names, dtypes, shapes, typed-array classes and bytes. */
export function expectBitIdentical(expect: (value: unknown, message?: string) => any, actual: TensorMap, expected: TensorMap): void {
  expect(Object.keys(actual).sort(), 'tensor names').toEqual(Object.keys(expected).sort());
  for (const [name, tensor] of Object.entries(expected)) {
    expect(actual[name].dtype, `${name}: dtype`).toBe(tensor.dtype);
    expect(actual[name].shape, `${name}: shape`).toEqual(tensor.shape);
    expect(actual[name].data.constructor, `${name}: array class`).toBe(tensor.data.constructor);
    expect(Array.from(bytesOf(actual[name])), `${name}: bytes`).toEqual(Array.from(bytesOf(tensor)));
  }
}
