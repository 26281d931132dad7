// Importing safetensors written by other tools: a file built byte for byte, dtype conversion, name mapping and every error.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import * as sp from '../../src/index.js';
import { SafetensorsError, WeightImportError, decodeForeignSafetensors, importSafetensors, importWeights, readForeignSafetensors } from '../../src/index.js';
import { WideAndDeep } from '../../src/models/wide-deep.js';
import { MLP } from '../../src/nn/layers.js';
import { testBackends } from '../../src/testing/index.js';
import { temporaryDirectory } from './helpers.js';

const backends = await testBackends();

/** One tensor of a hand-built file: its header entry and its little-endian bytes. */
interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Little-endian bytes of `count` elements of `size` bytes each, written by `write(view, byteOffset, i)`. */
function littleEndian(count: number, size: number, write: (view: DataView, offset: number, i: number) => void): Uint8Array {
  const bytes = new Uint8Array(count * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) write(view, i * size, i);
  return bytes;
}

const f16 = (bits: number[]) => littleEndian(bits.length, 2, (view, offset, i) => view.setUint16(offset, bits[i], true));
const f32 = (values: number[]) => littleEndian(values.length, 4, (view, offset, i) => view.setFloat32(offset, values[i], true));
const f64 = (values: number[]) => littleEndian(values.length, 8, (view, offset, i) => view.setFloat64(offset, values[i], true));
const i32 = (values: number[]) => littleEndian(values.length, 4, (view, offset, i) => view.setInt32(offset, values[i], true));
const i64 = (values: bigint[]) => littleEndian(values.length, 8, (view, offset, i) => view.setBigInt64(offset, values[i], true));

/**
 * Builds a safetensors file from the format's definition. It writes an unsigned 64-bit
 * little-endian header length N and N bytes of JSON, padded with spaces to a multiple of 8 as
 * the reference writer does. Then come the tensors' bytes back to back in `dataOrder`. The JSON
 * lists the tensors in `tensors` order, which may differ from the data order.
 */
function buildFile(tensors: RawTensor[], options: { dataOrder?: string[]; metadata?: Record<string, string> } = {}): Uint8Array {
  const order = options.dataOrder ?? tensors.map((tensor) => tensor.name);
  const offsets = new Map<string, [number, number]>();
  let offset = 0;
  for (const name of order) {
    const tensor = tensors.find((candidate) => candidate.name === name)!;
    offsets.set(name, [offset, offset + tensor.bytes.length]);
    offset += tensor.bytes.length;
  }

  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  for (const tensor of tensors) header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: offsets.get(tensor.name) };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  return assemble(new TextEncoder().encode(json), order.map((name) => tensors.find((tensor) => tensor.name === name)!.bytes));
}

/** Joins the 8-byte length of `header` (or `headerLength`), the header and the data parts. */
function assemble(header: Uint8Array, data: Uint8Array[], headerLength?: bigint): Uint8Array {
  const dataBytes = data.reduce((total, part) => total + part.length, 0);
  const bytes = new Uint8Array(8 + header.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, headerLength ?? BigInt(header.length), true);
  bytes.set(header, 8);
  let position = 8 + header.length;
  for (const part of data) {
    bytes.set(part, position);
    position += part.length;
  }
  return bytes;
}

function writeFile(bytes: Uint8Array, name = 'weights.safetensors'): string {
  const path = join(temporaryDirectory(), name);
  writeFileSync(path, bytes);
  return path;
}

/** Builds an MLP 3 -> 4 (relu) -> 2 on the CPU: layer0.weight [3, 4], layer0.bias [4], output.weight [4, 2], output.bias [2]. */
function smallMlp(): MLP {
  return new MLP(3, [4], { outFeatures: 2, seed: 9, backend: 'cpu' });
}

async function stateValues(module: MLP): Promise<Record<string, number[]>> {
  const state = await module.stateDict();
  return Object.fromEntries(Object.entries(state).map(([name, record]) => [name, Array.from(record.data)]));
}

// binary16 bit patterns and their values, from the IEEE 754 definition: 1 sign, 5 exponent (bias 15), 10 fraction bits.
const HALF_BITS = [0x3c00, 0xc000, 0x3800, 0x3400, 0xb000, 0x4200, 0x6400, 0x9400, 0x7bff, 0x0001, 0xbe00, 0x0000];
const HALF_VALUES = [1, -2, 0.5, 0.25, -0.125, 3, 1024, -(2 ** -10), 65504, 2 ** -24, -1.5, 0];
// bfloat16 bit patterns: the upper 16 bits of an f32.
const BF16_BITS = [0x3f80, 0x4049, 0xbf00, 0x0000];
const BF16_VALUES = [1, 3.140625, -0.5, 0];
const OUTPUT_WEIGHT = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8];
const OUTPUT_BIAS = [0.1, -1e-3];

/** Builds a file as PyTorch would save `nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2))` in mixed precision. */
function torchStyleFile(): Uint8Array {
  const tensors: RawTensor[] = [
    { name: 'net.0.weight', dtype: 'F16', shape: [4, 3], bytes: f16(HALF_BITS) },
    { name: 'net.0.bias', dtype: 'BF16', shape: [4], bytes: f16(BF16_BITS) },
    { name: 'net.2.weight', dtype: 'F32', shape: [2, 4], bytes: f32(OUTPUT_WEIGHT) },
    { name: 'net.2.bias', dtype: 'F64', shape: [2], bytes: f64(OUTPUT_BIAS) },
    { name: 'num_batches_tracked', dtype: 'I64', shape: [], bytes: i64([7n]) },
  ];
  return buildFile(tensors, { dataOrder: ['net.2.bias', 'num_batches_tracked', 'net.0.weight', 'net.2.weight', 'net.0.bias'], metadata: { format: 'pt' } });
}

const TORCH_MAP = {
  'net.0.weight': 'layer0.weight',
  'net.0.bias': 'layer0.bias',
  'net.2.weight': 'output.weight',
  'net.2.bias': 'output.bias',
  num_batches_tracked: null,
};
const TORCH_TRANSPOSE = ['net.0.weight', 'net.2.weight'];

/** Transposes a row-major [rows, columns] list. */
function transposed(values: number[], rows: number, columns: number): number[] {
  return Array.from({ length: values.length }, (_, i) => values[(i % rows) * columns + Math.floor(i / rows)]);
}

describe('reading foreign files', () => {
  test('hand-built file decodes every tensor', () => {
    const bytes = torchStyleFile();
    const file = decodeForeignSafetensors(bytes, 'torch.safetensors');
    expect(Object.keys(file.tensors)).toEqual(['net.2.bias', 'num_batches_tracked', 'net.0.weight', 'net.2.weight', 'net.0.bias']);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.tensors['net.0.weight'].dtype).toBe('F16');
    expect(file.tensors['net.0.weight'].shape).toEqual([4, 3]);
    expect(Array.from(file.tensors['net.0.weight'].bytes)).toEqual(Array.from(f16(HALF_BITS)));
    expect(Array.from(sp.convertForeignTensor(file.tensors['net.0.weight'], 'f32', file.source, 'net.0.weight'))).toEqual(HALF_VALUES);
    expect(Array.from(sp.convertForeignTensor(file.tensors['net.0.bias'], 'f32', file.source, 'net.0.bias'))).toEqual(BF16_VALUES);
    expect(Array.from(sp.convertForeignTensor(file.tensors['net.2.bias'], 'f32', file.source, 'net.2.bias'))).toEqual(OUTPUT_BIAS.map(Math.fround));
  });

  test('file reader matches the buffer decoder', () => {
    const bytes = torchStyleFile();
    const path = writeFile(bytes);
    const fromFile = readForeignSafetensors(path);
    const fromBuffer = decodeForeignSafetensors(bytes, path);
    expect(fromFile.source).toBe(path);
    expect(fromFile).toEqual(fromBuffer);
  });

  test('special f16 values', () => {
    // +infinity, -infinity, a NaN, -0 and the largest subnormal 1023 x 2^-24.
    const file = decodeForeignSafetensors(buildFile([{ name: 'x', dtype: 'F16', shape: [5], bytes: f16([0x7c00, 0xfc00, 0x7e00, 0x8000, 0x03ff]) }]));
    const values = Array.from(sp.convertForeignTensor(file.tensors.x, 'f32', file.source, 'x'));
    expect(values.slice(0, 2)).toEqual([Infinity, -Infinity]);
    expect(Number.isNaN(values[2])).toBe(true);
    expect(Object.is(values[3], -0)).toBe(true);
    expect(values[4]).toBe(1023 * 2 ** -24);
  });
});

describe('importing into a module', () => {
  test('PyTorch-style names, dtypes and layouts load exactly', async () => {
    const path = writeFile(torchStyleFile());
    const module = smallMlp();
    const report = importSafetensors(module, path, { map: TORCH_MAP, transpose: TORCH_TRANSPOSE });

    expect(report.source).toBe(path);
    expect(report.loaded.map(({ tensor, target, dtype, transposed: flipped }) => [tensor, target, dtype, flipped])).toEqual([
      ['net.2.bias', 'output.bias', 'F64', false],
      ['net.0.weight', 'layer0.weight', 'F16', true],
      ['net.2.weight', 'output.weight', 'F32', true],
      ['net.0.bias', 'layer0.bias', 'BF16', false],
    ]);
    expect(report.skipped).toEqual(['num_batches_tracked']);
    expect(report.unmapped).toEqual([]);
    expect(report.missing).toEqual([]);
    expect(report.metadata).toEqual({ format: 'pt' });

    const state = await stateValues(module);
    expect(state['layer0.weight']).toEqual(transposed(HALF_VALUES, 4, 3));
    expect(state['layer0.bias']).toEqual(BF16_VALUES);
    expect(state['output.weight']).toEqual(transposed(OUTPUT_WEIGHT.map(Math.fround), 2, 4));
    expect(state['output.bias']).toEqual(OUTPUT_BIAS.map(Math.fround));
    module.dispose();
  });

  test('imported MLP computes the PyTorch formula', async () => {
    const module = smallMlp();
    importWeights(module, decodeForeignSafetensors(torchStyleFile()), { map: TORCH_MAP, transpose: TORCH_TRANSPOSE });
    const x = [0.5, -1, 2];
    const output = Array.from(await module.forward(sp.tensor([x], [1, 3], { backend: 'cpu' })).data());

    // PyTorch's Linear computes y = x W^T + b with W stored [out, in], as the file has it.
    const hidden = [0, 1, 2, 3].map((j) => Math.max(0, BF16_VALUES[j] + x.reduce((total, value, k) => total + value * HALF_VALUES[j * 3 + k], 0)));
    const expected = [0, 1].map((j) => Math.fround(OUTPUT_BIAS[j]) + hidden.reduce((total, value, k) => total + value * Math.fround(OUTPUT_WEIGHT[j * 4 + k]), 0));
    // The expected values are in float64, the module's in f32: a few f32 roundings apart.
    output.forEach((value, j) => expect(Math.abs(value - expected[j]), `output ${j}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[j]))));
    module.dispose();
  });

  test('integer tensors within 2^24 load into f32 parameters', async () => {
    const module = new MLP(2, [], { outFeatures: 2, seed: 1, backend: 'cpu' });
    const file = buildFile([
      { name: 'output.weight', dtype: 'I32', shape: [2, 2], bytes: i32([-3, 16777216, 0, 5]) },
      { name: 'output.bias', dtype: 'I64', shape: [2], bytes: i64([-16777216n, 9n]) },
    ]);
    const report = importWeights(module, decodeForeignSafetensors(file));
    expect(report.loaded.map(({ target }) => target)).toEqual(['output.weight', 'output.bias']);
    const state = await stateValues(module);
    expect(state['output.weight']).toEqual([-3, 16777216, 0, 5]);
    expect(state['output.bias']).toEqual([-16777216, 9]);
    module.dispose();
  });

  test('a map function renames and skips', async () => {
    const module = smallMlp();
    const report = importWeights(module, decodeForeignSafetensors(torchStyleFile()), {
      map: (name) => (name === 'num_batches_tracked' ? null : name.replace('net.0.', 'layer0.').replace('net.2.', 'output.')),
      transpose: (name) => name.endsWith('.weight'),
    });
    expect(report.loaded).toHaveLength(4);
    expect(report.skipped).toEqual(['num_batches_tracked']);
    expect((await stateValues(module))['layer0.bias']).toEqual(BF16_VALUES);
    module.dispose();
  });

  test('allowUnmapped and allowMissing report what they let through', async () => {
    const module = smallMlp();
    const before = await stateValues(module);
    const file = buildFile([
      { name: 'output.bias', dtype: 'F32', shape: [2], bytes: f32([4, -4]) },
      { name: 'optimizer.step', dtype: 'I64', shape: [], bytes: i64([12n]) },
    ]);
    const report = importWeights(module, decodeForeignSafetensors(file), { map: { 'output.bias': 'output.bias' }, allowUnmapped: true, allowMissing: true });
    expect(report.unmapped).toEqual(['optimizer.step']);
    expect(report.missing).toEqual(['layer0.weight', 'layer0.bias', 'output.weight']);

    const after = await stateValues(module);
    expect(after['output.bias']).toEqual([4, -4]);
    expect(after['layer0.weight']).toEqual(before['layer0.weight']);
    module.dispose();
  });
});

describe('importing into a model', () => {
  for (const backend of backends) {
    test(`Wide & Deep on ${backend} gets every weight`, async () => {
      const opened = sp.openData({ preset: 'foodio', rows: 200, seed: 2 });
      const { state } = await sp.fit(opened.schema, opened.train);
      const data = await sp.encodeAll(opened.train, new sp.Encoder(state, opened.train.columns));
      const source = new WideAndDeep(data.layout, { kind: 'wide-deep', hidden: [8], seed: 3 }, backend);
      const target = new WideAndDeep(data.layout, { kind: 'wide-deep', hidden: [8], seed: 4 }, backend);

      // Another tool's file: every weight as F64 under a "model." prefix, in reverse name order.
      // The offsets make the wide tables, which start at 0 in both models, differ too.
      const weights = Object.fromEntries(
        Object.entries(await source.stateDict()).map(([name, record]) => [name, { shape: record.shape, values: Array.from(record.data, (value, i) => value + 0.001 * ((i % 13) - 6)) }]),
      );
      const tensors = Object.entries(weights).map(([name, record]): RawTensor => ({ name: `model.${name}`, dtype: 'F64', shape: record.shape, bytes: f64(record.values) }));
      const file = decodeForeignSafetensors(buildFile(tensors, { dataOrder: tensors.map((tensor) => tensor.name).reverse() }));
      const report = importWeights(target, file, { map: (name) => name.replace(/^model\./, '') });

      expect(report.loaded).toHaveLength(Object.keys(weights).length);
      const loaded = await target.stateDict();
      for (const [name, record] of Object.entries(weights)) expect(Array.from(loaded[name].data), name).toEqual(record.values.map(Math.fround));
      source.dispose();
      target.dispose();
    });
  }
});

describe('mapping errors', () => {
  test('every problem is listed and the module is unchanged', async () => {
    const module = smallMlp();
    const before = await stateValues(module);
    const path = writeFile(torchStyleFile(), 'torch.safetensors');

    let error: unknown;
    try {
      importSafetensors(module, path, {
        map: { 'net.0.weight': 'layer0.weight', 'net.0.bias': 'layer0.bias', 'net.2.bias': 'output.bias', 'net.2.weight': 'output.bias', 'net.9.weight': 'output.weight' },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(WeightImportError);
    const problems = (error as WeightImportError).problems;
    expect((error as Error).message).toContain(`${path}: cannot import weights, ${problems.length} problems:`);
    expect(problems).toEqual([
      expect.stringContaining('the map names tensor "net.9.weight", which the file does not contain'),
      expect.stringMatching(/^tensor "net.0.weight" \(mapped to "layer0.weight"\): F16 \[4, 3\] does not match "layer0.weight", which is f32 \[3, 4\]; the file stores it transposed .* list the tensor in the transpose option$/),
      'tensor "net.2.weight" (mapped to "output.bias"): "output.bias" already gets tensor "net.2.bias"; map one of them elsewhere or to null',
      expect.stringMatching(/^tensor "num_batches_tracked" of the file has no Sparrow name; map it to a parameter, or to null to skip, or pass allowUnmapped$/),
      // layer0.weight is not listed here: its tensor is there, with the shape problem above.
      'parameter "output.weight" (f32 [4, 2]) of the module gets no tensor; map a tensor of the file to it, or pass allowMissing to keep the current values',
    ]);
    expect(await stateValues(module)).toEqual(before);
    module.dispose();
  });

  test('a target the module lacks lists its names', () => {
    const module = smallMlp();
    const file = decodeForeignSafetensors(buildFile([{ name: 'w', dtype: 'F32', shape: [2], bytes: f32([1, 2]) }]), 'w.safetensors');
    expect(() => importWeights(module, file, { map: { w: 'output.gamma' }, allowMissing: true })).toThrow(
      'w.safetensors: cannot import weights, 1 problem:\n  - tensor "w" (mapped to "output.gamma"): the module has no parameter or buffer "output.gamma"; its names are "layer0.weight", "layer0.bias", "output.weight", "output.bias"',
    );
    module.dispose();
  });

  const conversions: { name: string; dtype: string; bytes: Uint8Array; message: string }[] = [
    { name: 'integer beyond 2^24', dtype: 'I64', bytes: i64([1n, 2n ** 40n]), message: 'I64 element 1 is 1099511627776, which does not fit f32: f32 represents integers exactly only up to magnitude 2^24' },
    { name: 'F64 beyond the f32 range', dtype: 'F64', bytes: f64([1e300, 0]), message: 'element 0 is 1e+300, outside the f32 range; it cannot be converted to f32' },
    { name: 'BOOL', dtype: 'BOOL', bytes: new Uint8Array([1, 0]), message: 'dtype BOOL cannot be converted to f32; save the tensor as F32, F16 or BF16 instead' },
  ];
  for (const conversion of conversions) {
    test(`conversion of ${conversion.name} is rejected`, () => {
      const module = smallMlp();
      const file = decodeForeignSafetensors(buildFile([{ name: 'b', dtype: conversion.dtype, shape: [2], bytes: conversion.bytes }]), 'c.safetensors');
      expect(() => importWeights(module, file, { map: { b: 'output.bias' }, allowMissing: true })).toThrow(`tensor "b" (mapped to "output.bias"): ${conversion.message}`);
      module.dispose();
    });
  }
});

describe('invalid files', () => {
  const weight = { name: 'w', dtype: 'F32', shape: [2], bytes: f32([1, 2]) };
  const header = (json: string) => new TextEncoder().encode(json);
  const cases: { name: string; bytes: Uint8Array; tensor?: string; message: string }[] = [
    { name: 'header length beyond the file', bytes: assemble(header('{}'), [], 4096n), message: 'header length 4096 bytes runs past the end of the file (10 bytes)' },
    { name: 'file shorter than the length prefix', bytes: new Uint8Array([2, 0, 0]), message: 'file is 3 bytes, shorter than the 8-byte header length' },
    { name: 'invalid JSON', bytes: assemble(header('{"w": {"dtype": "F32",'), [new Uint8Array(8)]), message: 'header is not valid JSON' },
    {
      name: 'overlapping offsets',
      bytes: assemble(header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'), [new Uint8Array(12)]),
      tensor: 'b',
      message: 'data_offsets [4, 12] overlap tensor "a" at [0, 8]',
    },
    {
      name: 'offsets beyond the data',
      bytes: assemble(header('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), [new Uint8Array(4)]),
      tensor: 'w',
      message: 'data_offsets [0, 8] run past the end of the data buffer (4 bytes)',
    },
    {
      name: 'offsets that do not match the shape',
      bytes: assemble(header('{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}'), [new Uint8Array(8)]),
      tensor: 'w',
      message: 'data_offsets [0, 8] span 8 bytes but shape [3] of F16 needs 6',
    },
    {
      name: 'unknown dtype',
      bytes: assemble(header('{"w":{"dtype":"F12","shape":[2],"data_offsets":[0,4]}}'), [new Uint8Array(4)]),
      tensor: 'w',
      message: 'unknown dtype "F12"; the safetensors format defines BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64',
    },
    {
      name: 'a gap between tensors',
      bytes: assemble(header('{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'), [new Uint8Array(12)]),
      tensor: 'w',
      message: 'data_offsets start at 4, but the previous tensor ends at 0',
    },
  ];
  for (const bad of cases) {
    test(`${bad.name} names the file`, () => {
      const path = writeFile(bad.bytes, 'bad.safetensors');
      const prefix = `${path}: ${bad.tensor === undefined ? '' : `tensor "${bad.tensor}": `}`;
      const module = smallMlp();
      expect(() => importSafetensors(module, path, { allowMissing: true, allowUnmapped: true })).toThrow(SafetensorsError);
      expect(() => importSafetensors(module, path, { allowMissing: true, allowUnmapped: true })).toThrow(`${prefix}${bad.message}`);
      module.dispose();
    });
  }

  test('a missing file names the path', () => {
    const path = join(temporaryDirectory(), 'missing.safetensors');
    const module = smallMlp();
    expect(() => importSafetensors(module, path)).toThrow(SafetensorsError);
    expect(() => importSafetensors(module, path)).toThrow(`${path}: cannot open the file (ENOENT); check the path`);
    module.dispose();
  });

  test('a valid file with the same layout loads', () => {
    // The counterpart of the cases above, so their failures come from the one defect each.
    const module = smallMlp();
    const report = importSafetensors(module, writeFile(buildFile([weight])), { map: { w: 'output.bias' }, allowMissing: true });
    expect(report.loaded.map(({ target }) => target)).toEqual(['output.bias']);
    module.dispose();
  });
});
