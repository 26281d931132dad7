// Parity, gradient and input checks for transpose, slice, padSlice, concat and split.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, testBackends, type InputSpec } from '../src/testing/index.js';

// Pure copies: every backend must move the exact values, gradients included.
const EXACT = { atol: 0, rtol: 0 };

const INTEGER_DTYPES = ['i32', 'u32'] as const;

describe('transpose', () => {
  const cases: [number[], number[] | undefined][] = [
    [[1], undefined],
    [[7, 1], undefined],
    [[3, 257], undefined],
    [[2, 3, 5], [1, 2, 0]],
    [[2, 3, 5], [2, 0, 1]],
    [[2, 1, 3, 2], [3, 1, 0, 2]],
  ];

  test('parity for f32 with gradients', async () => {
    for (const [shape, perm] of cases) {
      await expectParity('transpose', (x) => sp.transpose(x, perm), [{ shape }], { tolerance: EXACT });
    }
  });

  test('parity for i32 and u32', async () => {
    for (const dtype of INTEGER_DTYPES) {
      for (const [shape, perm] of cases) {
        await expectParity('transpose', (x) => sp.transpose(x, perm), [{ shape, dtype, low: 1, high: 1000 }], { tolerance: EXACT });
      }
    }
  });

  test('default reverses the axes', async () => {
    const x = sp.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: 'cpu' });
    const y = sp.transpose(x);
    expect(y.shape).toEqual([3, 2]);
    expect(Array.from(await y.data())).toEqual([1, 4, 2, 5, 3, 6]);
  });

  test('gradcheck', () => {
    expect(gradcheck((x) => sp.transpose(x, [2, 0, 1]), [{ shape: [2, 3, 4] }])).toBe(24);
  });

  test('invalid perm is rejected', () => {
    const x = sp.zeros([2, 3], { backend: 'cpu' });
    expect(() => sp.transpose(x, [1, 1])).toThrow(/transpose: perm \[1, 1\] is not a permutation of the axes of \[2, 3\]/);
    expect(() => sp.transpose(x, [0])).toThrow(sp.ShapeError);
    expect(() => sp.transpose(x, [0, 2])).toThrow(sp.ShapeError);
  });
});

describe('slice and padSlice', () => {
  const cases: [number[], number[], number[]][] = [
    [[1], [0], [1]],
    [[7], [2], [-1]],
    [[300], [3], [257]],
    [[5, 7], [1, 2], [3, 4]],
    [[3, 4, 5], [1, 0, 2], [2, -1, 3]],
    [[2, 3, 4], [0, 1, 1], [2, 1, 3]],
  ];

  test('slice parity for f32 with gradients', async () => {
    for (const [shape, begin, size] of cases) {
      await expectParity('slice', (x) => sp.slice(x, begin, size), [{ shape }], { tolerance: EXACT });
    }
  });

  test('slice parity for i32 and u32', async () => {
    for (const dtype of INTEGER_DTYPES) {
      for (const [shape, begin, size] of cases) {
        await expectParity('slice', (x) => sp.slice(x, begin, size), [{ shape, dtype, low: 1, high: 1000 }], { tolerance: EXACT });
      }
    }
  });

  test('slice values and -1 size', async () => {
    const x = sp.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4], { backend: 'cpu' });
    const y = sp.slice(x, [1, 1], [-1, 2]);
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(await y.data())).toEqual([5, 6, 9, 10]);
  });

  test('slice gradcheck', () => {
    expect(gradcheck((x) => sp.slice(x, [1, 0, 2], [2, 3, 2]), [{ shape: [3, 3, 5] }])).toBe(45);
  });

  test('empty slice gives an empty tensor', async () => {
    for (const backend of await testBackends()) {
      const x = sp.ones([3, 4], { backend });
      const y = sp.slice(x, [3, 1], [0, 2]);
      expect(y.shape).toEqual([0, 2]);
      expect((await y.data()).length).toBe(0);
    }
  });

  test('padSlice parity and gradients', async () => {
    const padCases: [number[], number[], number[]][] = [
      [[1], [0], [1]],
      [[3], [2], [7]],
      [[257], [3], [263]],
      [[2, 3], [1, 2], [5, 7]],
      [[2, 1, 3], [0, 2, 1], [3, 4, 5]],
    ];
    for (const [shape, begin, outShape] of padCases) {
      await expectParity('padSlice', (x) => sp.padSlice(x, begin, outShape), [{ shape }], { tolerance: EXACT });
      await expectParity('padSlice', (x) => sp.padSlice(x, begin, outShape), [{ shape, dtype: 'u32', low: 1, high: 50 }], { tolerance: EXACT });
    }
    expect(gradcheck((x) => sp.padSlice(x, [1, 0], [4, 5]), [{ shape: [2, 3] }])).toBe(6);
  });

  test('padSlice writes zeros outside the box', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([1, 2, 3, 4], [2, 2], { backend, dtype: 'i32' });
      const y = sp.padSlice(x, [1, 1], [3, 4]);
      expect(Array.from(await y.data())).toEqual([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0]);
    }
  });

  test('out-of-range boxes are rejected', () => {
    const x = sp.zeros([2, 3], { backend: 'cpu' });
    expect(() => sp.slice(x, [0, 4], [1, -1])).toThrow(/slice: begin\[1\] = 4 is out of range for dimension 1 of \[2, 3\] \(valid: 0 to 3\)/);
    expect(() => sp.slice(x, [0, 1], [1, 3])).toThrow(/slice: size\[1\] = 3 with begin 1 does not fit dimension 1 of \[2, 3\]; use 0 to 2/);
    expect(() => sp.slice(x, [-1, 0], [1, 1])).toThrow(/slice: begin\[0\] = -1 is out of range/);
    expect(() => sp.slice(x, [0], [1])).toThrow(/slice: begin \[0\] and size \[1\] need one entry per dimension of \[2, 3\]/);
    expect(() => sp.padSlice(x, [1, 0], [2, 3])).toThrow(/padSlice: size\[0\] = 2 with begin 1 does not fit dimension 0 of \[2, 3\]/);
  });
});

describe('concat and split', () => {
  test('concat parity for f32 with gradients', async () => {
    const cases: [number[][], number][] = [
      [[[1], [1]], 0],
      [[[7], [3], [257]], 0],
      [[[2, 3], [2, 5], [2, 1]], 1],
      [[[2, 3, 4], [1, 3, 4]], 0],
      [[[2, 3, 4], [2, 2, 4], [2, 7, 4]], -2],
      [[[3, 2], [3, 259]], -1],
    ];
    for (const [shapes, axis] of cases) {
      const specs: InputSpec[] = shapes.map((shape) => ({ shape }));
      await expectParity('concat', (...xs) => sp.concat(xs, axis), specs, { tolerance: EXACT });
    }
  });

  test('concat parity for i32 and u32', async () => {
    for (const dtype of INTEGER_DTYPES) {
      const specs: InputSpec[] = [[2, 3], [2, 1], [2, 257]].map((shape) => ({ shape, dtype, low: 1, high: 1000 }));
      await expectParity('concat', (...xs) => sp.concat(xs, 1), specs, { tolerance: EXACT });
    }
  });

  test('concat gives gradients only to the inputs that need one', async () => {
    for (const backend of await testBackends()) {
      const a = sp.tensor([1, 2, 3, 4], [2, 2], { backend, requiresGrad: true });
      const b = sp.tensor([5, 6], [2, 1], { backend });
      sp.sum(sp.mul(sp.concat([a, b], 1), sp.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend }))).backward();
      expect(Array.from(await a.grad!.data())).toEqual([1, 2, 4, 5]);
      expect(b.grad).toBeNull();
    }
  });

  test('concat of twenty inputs', async () => {
    // Twenty inputs exceed the 8 storage buffers per stage that WebGPU guarantees, but each pass binds two.
    const specs: InputSpec[] = Array.from({ length: 20 }, (_, k) => ({ shape: [3, 1 + (k % 4)] }));
    await expectParity('concat', (...xs) => sp.concat(xs, 1), specs, { tolerance: EXACT });
  });

  test('concat skips empty inputs', async () => {
    for (const backend of await testBackends()) {
      const a = sp.tensor([1, 2], [1, 2], { backend });
      const empty = sp.zeros([0, 2], { backend });
      const b = sp.tensor([3, 4], [1, 2], { backend });
      const y = sp.concat([a, empty, b], 0);
      expect(y.shape).toEqual([2, 2]);
      expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    }
  });

  test('concat gradcheck', () => {
    const fn = (a: sp.Tensor, b: sp.Tensor, c: sp.Tensor) => sp.concat([a, b, c], 1);
    expect(gradcheck(fn, [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }, { shape: [2, 3, 3] }])).toBe(36);
  });

  test('concat gradient for a repeated input', async () => {
    const x = sp.tensor([1, 2], [2], { backend: 'cpu', requiresGrad: true });
    sp.sum(sp.concat([x, x], 0)).backward();
    expect(Array.from(await x.grad!.data())).toEqual([2, 2]);
  });

  test('concat rejects mismatched inputs', () => {
    const a = sp.zeros([2, 3], { backend: 'cpu' });
    expect(() => sp.concat([a, sp.zeros([3, 3], { backend: 'cpu' })], 1)).toThrow(
      /concat: input 1 has shape \[3, 3\] but input 0 has \[2, 3\]; every dimension except axis 1 must match/,
    );
    expect(() => sp.concat([a, sp.zeros([2, 3, 1], { backend: 'cpu' })], 0)).toThrow(sp.ShapeError);
    expect(() => sp.concat([a, sp.zeros([2, 3], { backend: 'cpu', dtype: 'i32' })], 0)).toThrow(sp.DTypeError);
    expect(() => sp.concat([a], 2)).toThrow(/concat: axis 2 is out of range for a tensor of rank 2/);
    expect(() => sp.concat([], 0)).toThrow(/concat: needs at least one tensor/);
  });

  test('split by count and by sizes', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 6], { backend, dtype: 'u32' });
      const thirds = sp.split(x, 3, 1);
      expect(thirds.map((part) => part.shape)).toEqual([
        [2, 2],
        [2, 2],
        [2, 2],
      ]);
      expect(Array.from(await thirds[1].data())).toEqual([2, 3, 8, 9]);

      const parts = sp.split(x, [1, 0, 5], -1);
      expect(parts.map((part) => part.shape)).toEqual([
        [2, 1],
        [2, 0],
        [2, 5],
      ]);
      expect(Array.from(await parts[2].data())).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    }
  });

  test('split parity and gradcheck', async () => {
    const fn = (x: sp.Tensor) => sp.split(x, [2, 255, 3], 0)[1];
    await expectParity('split', fn, [{ shape: [260, 2] }], { tolerance: EXACT });
    const weighted = (x: sp.Tensor) => {
      const [a, b] = sp.split(x, 2, 1);
      return sp.mul(a, b);
    };
    expect(gradcheck(weighted, [{ shape: [3, 4] }])).toBe(12);
  });

  test('split rejects sizes that do not cover the axis', () => {
    const x = sp.zeros([2, 5], { backend: 'cpu' });
    expect(() => sp.split(x, 2, 1)).toThrow(/split: cannot split dimension 1 of \[2, 5\] \(size 5\) into 2 equal parts/);
    expect(() => sp.split(x, [2, 2], 1)).toThrow(/split: sizes \[2, 2\] must be non-negative integers that add up to dimension 1 of \[2, 5\]/);
    expect(() => sp.split(x, [6, -1], 1)).toThrow(sp.ShapeError);
  });
});
