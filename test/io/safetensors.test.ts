// Safetensors: bit-exact round trips, a file built by hand from the format, and every kind of invalid file.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { SafetensorsError, decodeSafetensors, encodeSafetensors, readSafetensors, writeFileAtomic, writeSafetensors, type TensorMap } from '../../src/io/index.js';
import { expectBitIdentical, sampleTensors, temporaryDirectory } from './helpers.js';

/** Builds a file from its parts: the 8-byte little-endian header length, the header text, the data bytes. */
function buildFile(header: string, data: number[] = [], headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

describe('safetensors round trip', () => {
  test('in memory, every dtype', () => {
    const tensors = sampleTensors();
    const decoded = decodeSafetensors(encodeSafetensors(tensors, { producer: 'sparrow test' }));
    expectBitIdentical(expect, decoded.tensors, tensors);
    expect(decoded.metadata).toEqual({ producer: 'sparrow test' });
  });

  test('through a file, every dtype', () => {
    const path = join(temporaryDirectory(), 'model.safetensors');
    const tensors = sampleTensors();
    const written = writeSafetensors(path, tensors);
    const read = readSafetensors(path);

    expectBitIdentical(expect, read.tensors, tensors);
    expect(read.metadata).toEqual({});
    expect(read.bytes).toBe(readFileSync(path).length);
    expect(read.sha256).toBe(written.sha256);
    expect(readFileSync(path)).toEqual(Buffer.from(encodeSafetensors(tensors)));
  });

  test('typed array views at an offset', () => {
    const backing = new Float32Array([9, 1.5, -2.5, 9]);
    const tensors: TensorMap = { view: { dtype: 'f32', shape: [2], data: backing.subarray(1, 3) } };
    expect(Array.from(decodeSafetensors(encodeSafetensors(tensors)).tensors.view.data)).toEqual([1.5, -2.5]);
  });

  test('no tensors', () => {
    const decoded = decodeSafetensors(encodeSafetensors({}));
    expect(decoded.tensors).toEqual({});
  });
});

describe('safetensors layout', () => {
  test('writer output byte for byte', () => {
    // Expected bytes built from the format: length, JSON header padded with spaces to a
    // multiple of 8, then f64 tensors first and the rest by name, little-endian.
    const tensors: TensorMap = {
      b: { dtype: 'i32', shape: [1], data: new Int32Array([-2]) },
      a: { dtype: 'f32', shape: [2], data: new Float32Array([1, -2]) },
      c: { dtype: 'f64', shape: [], data: new Float64Array([0.5]) },
    };
    const header =
      '{"__metadata__":{"k":"v"},' +
      '"c":{"dtype":"F64","shape":[],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"b":{"dtype":"I32","shape":[1],"data_offsets":[16,20]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const data = [
      ...[0, 0, 0, 0, 0, 0, 0xe0, 0x3f], // 0.5 as f64
      ...[0, 0, 0x80, 0x3f], // 1 as f32
      ...[0, 0, 0, 0xc0], // -2 as f32
      ...[0xfe, 0xff, 0xff, 0xff], // -2 as i32
    ];

    const bytes = encodeSafetensors(tensors, { k: 'v' });
    expect(padded.length % 8).toBe(0);
    expect(Array.from(bytes)).toEqual(Array.from(buildFile(padded, data)));
  });

  test('hand-built file is read', () => {
    // Keys out of offset order, no padding, a scalar, and metadata.
    const header =
      '{"u":{"dtype":"U32","shape":[],"data_offsets":[12,16]},' +
      '"__metadata__":{"format":"pt","note":"built by hand"},' +
      '"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
      '"i":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
    const data = [
      ...[0, 0, 0x80, 0x3f], // 1.0
      ...[0, 0, 0xc0, 0x7f], // NaN
      ...[0xff, 0xff, 0xff, 0xff], // -1
      ...[0x04, 0x03, 0x02, 0x01], // 0x01020304
    ];
    const path = join(temporaryDirectory(), 'hand.safetensors');
    writeFileSync(path, buildFile(header, data));

    const read = readSafetensors(path);
    expect(Object.keys(read.tensors)).toEqual(['w', 'i', 'u']);
    expect(read.tensors.w).toEqual({ dtype: 'f32', shape: [1, 2], data: new Float32Array([1, NaN]) });
    expect(read.tensors.i).toEqual({ dtype: 'i32', shape: [1], data: new Int32Array([-1]) });
    expect(read.tensors.u).toEqual({ dtype: 'u32', shape: [], data: new Uint32Array([0x01020304]) });
    expect(read.metadata).toEqual({ format: 'pt', note: 'built by hand' });
  });
});

describe('safetensors invalid files', () => {
  const entry = (dtype: string, shape: number[], offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets });

  // Each case: the file's bytes, the tensor the error must name (or none), and a part of the message.
  const cases: { name: string; file: Uint8Array; tensor?: string; message: string }[] = [
    { name: 'shorter than 8 bytes', file: new Uint8Array([1, 0, 0]), message: 'file is 3 bytes, shorter than the 8-byte header length' },
    { name: 'header length past the end', file: buildFile('{}', [], 100n), message: 'header length 100 bytes runs past the end of the file (10 bytes)' },
    { name: 'header length over the limit', file: buildFile('{}', [], 1n << 40n), message: `header length ${1n << 40n} bytes is over the limit of 100000000` },
    { name: 'header not UTF-8', file: (() => { const f = buildFile('{"a"}'); f[9] = 0xff; return f; })(), message: 'header is not valid UTF-8' },
    { name: 'header not JSON', file: buildFile('{"w": '), message: 'header is not valid JSON' },
    { name: 'header an array', file: buildFile('[]'), message: 'header is not a JSON object' },
    { name: 'entry not an object', file: buildFile('{"w": 3}'), tensor: 'w', message: 'entry is not a JSON object' },
    { name: 'unknown dtype', file: buildFile(`{"w":${entry('Q7', [1], [0, 4])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'unknown dtype "Q7"; Sparrow reads F64, F32, I32, U32' },
    { name: 'prototype key as dtype', file: buildFile(`{"w":${entry('constructor', [1], [0, 4])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'unknown dtype "constructor"' },
    { name: 'I64 not supported', file: buildFile(`{"ids":${entry('I64', [1], [0, 8])}}`, [0, 0, 0, 0, 0, 0, 0, 0]), tensor: 'ids', message: 'dtype I64 is not supported; Sparrow reads F64, F32, I32, U32' },
    { name: 'BF16 not supported', file: buildFile(`{"w":${entry('BF16', [2], [0, 4])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'dtype BF16 is not supported' },
    { name: 'negative dimension', file: buildFile(`{"w":${entry('F32', [-1], [0, 4])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'shape [-1] has dimension -1; expected integers >= 0' },
    { name: 'offsets not a pair', file: buildFile(`{"w":${entry('F32', [1], [4])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'data_offsets [4] is not a pair [begin, end]' },
    { name: 'offsets reversed', file: buildFile(`{"w":${entry('F32', [0], [4, 0])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'data_offsets [4,0] is not a pair [begin, end] of integers with 0 <= begin <= end' },
    { name: 'offsets past the data', file: buildFile(`{"w":${entry('F32', [2], [0, 8])}}`, [0, 0, 0, 0]), tensor: 'w', message: 'data_offsets [0, 8] run past the end of the data buffer (4 bytes)' },
    { name: 'size not shape times dtype', file: buildFile(`{"w":${entry('F32', [2, 2], [0, 12])}}`, new Array(12).fill(0)), tensor: 'w', message: 'data_offsets [0, 12] span 12 bytes but shape [2, 2] of F32 needs 16' },
    {
      name: 'overlapping offsets',
      file: buildFile(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('I32', [2], [4, 12])}}`, new Array(12).fill(0)),
      tensor: 'b',
      message: 'data_offsets [4, 12] overlap tensor "a" at [0, 8]',
    },
    {
      name: 'gap between tensors',
      file: buildFile(`{"a":${entry('F32', [1], [0, 4])},"b":${entry('U32', [1], [8, 12])}}`, new Array(12).fill(0)),
      tensor: 'b',
      message: 'bytes [4, 8) of the data belong to no tensor',
    },
    { name: 'bytes after the last tensor', file: buildFile(`{"a":${entry('F32', [1], [0, 4])}}`, new Array(8).fill(0)), message: 'the last 4 bytes belong to no tensor' },
    { name: 'metadata value not a string', file: buildFile('{"__metadata__":{"epoch":3}}'), message: 'metadata "epoch" is a number; the format stores strings only' },
  ];

  for (const { name, file, tensor, message } of cases) {
    test(name, () => {
      const path = join(temporaryDirectory(), 'bad.safetensors');
      writeFileSync(path, file);

      let error: unknown;
      try {
        readSafetensors(path);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      const failure = error as SafetensorsError;
      expect(failure.source).toBe(path);
      expect(failure.tensor).toBe(tensor);
      expect(failure.message).toContain(message);
      expect(failure.message.startsWith(`${path}: ${tensor === undefined ? '' : `tensor "${tensor}": `}`)).toBe(true);

      // The in-memory reader applies the same checks.
      expect(() => decodeSafetensors(file)).toThrow(message);
    });
  }
});

describe('safetensors write checks', () => {
  const cases: { name: string; tensors: TensorMap; message: string }[] = [
    { name: 'dtype and array differ', tensors: { w: { dtype: 'f32', shape: [1], data: new Int32Array(1) } }, message: 'tensor "w": dtype f32 needs its data in a Float32Array, got Int32Array' },
    { name: 'shape and length differ', tensors: { w: { dtype: 'u32', shape: [2, 3], data: new Uint32Array(5) } }, message: 'tensor "w": shape [2, 3] has 6 elements but data has 5' },
    { name: 'unknown dtype', tensors: { w: { dtype: 'f16' as 'f32', shape: [1], data: new Float32Array(1) } }, message: 'tensor "w": dtype f16 is not one of f64, f32, i32, u32' },
    { name: 'reserved name', tensors: { __metadata__: { dtype: 'f32', shape: [1], data: new Float32Array(1) } }, message: 'tensor "__metadata__": the name is reserved for the metadata map' },
    { name: 'fractional dimension', tensors: { w: { dtype: 'f32', shape: [1.5], data: new Float32Array(1) } }, message: 'tensor "w": shape [1.5] has dimension 1.5' },
  ];

  for (const { name, tensors, message } of cases) {
    test(name, () => {
      const directory = temporaryDirectory();
      const path = join(directory, 'model.safetensors');
      expect(() => writeSafetensors(path, tensors)).toThrow(`${path}: ${message}`);
      expect(readdirSync(directory)).toEqual([]);
    });
  }

  test('metadata value not a string', () => {
    expect(() => encodeSafetensors({}, { epoch: 3 as unknown as string })).toThrow('metadata "epoch" is a number; the format stores strings only');
  });
});

describe('writeFileAtomic', () => {
  test('failed write keeps the old file', () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'model.safetensors');
    writeSafetensors(path, sampleTensors());
    const before = readFileSync(path);

    expect(() =>
      writeFileAtomic(path, () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(directory)).toEqual(['model.safetensors']);
  });
});
