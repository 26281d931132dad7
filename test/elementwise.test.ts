// Parity and gradient checks for the element-wise ops on every backend present.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, type InputSpec } from '../src/testing/index.js';

// Elementwise f32 math: GPU exp/log/pow differ from the CPU's float64 results by a few ulps.
const MATH = { atol: 1e-5, rtol: 1e-5 };

// Awkward sizes: 1, a prime, just past a 256-wide workgroup, and a 2-D broadcast.
const SIZES = [[1], [7], [257], [3, 5]];

const unaryCases: [string, (x: sp.Tensor) => sp.Tensor, Partial<InputSpec>][] = [
  ['neg', sp.neg, {}],
  ['exp', sp.exp, {}],
  ['log', sp.log, { low: 0.1, high: 3 }],
  ['sqrt', sp.sqrt, { low: 0.1, high: 3 }],
  ['abs', sp.abs, {}],
  ['relu', sp.relu, {}],
  ['leakyRelu', (x) => sp.leakyRelu(x, 0.2), {}],
  ['sigmoid', sp.sigmoid, { low: -6, high: 6 }],
  ['tanh', sp.tanh, { low: -4, high: 4 }],
  ['clamp', (x) => sp.clamp(x, -0.5, 0.7), {}],
];

describe('unary ops', () => {
  for (const [name, fn, range] of unaryCases) {
    test(`${name} parity`, async () => {
      for (const shape of SIZES) await expectParity(name, fn, [{ shape, ...range }], { tolerance: MATH });
    });
    test(`${name} gradcheck`, () => {
      expect(gradcheck(fn, [{ shape: [2, 3], ...range }])).toBe(6);
    });
  }

  test('sigmoid and tanh saturate at extreme inputs', async () => {
    const values = [-1000, -90, 90, 1000];
    await expectParity('sigmoid', sp.sigmoid, [{ shape: [4], values }], { tolerance: MATH, gradients: false });
    await expectParity('tanh', sp.tanh, [{ shape: [4], values }], { tolerance: MATH, gradients: false });
  });
});

const binaryCases: [string, (a: sp.Tensor, b: sp.Tensor) => sp.Tensor, Partial<InputSpec>][] = [
  ['add', sp.add, {}],
  ['sub', sp.sub, {}],
  ['mul', sp.mul, {}],
  ['div', sp.div, { awayFromZero: 0.3 }],
  ['pow', sp.pow, { low: 0.2, high: 2 }],
  ['maximum', sp.maximum, {}],
  ['maskPositive', sp.maskPositive, { low: -1, high: 3, awayFromZero: 0.3 }],
];

describe('binary ops', () => {
  const shapePairs: [number[], number[]][] = [
    [[1], [1]],
    [[13], [13]],
    [[4, 1, 3], [5, 1]],
    [[257], []],
    [[2, 3], [2, 3]],
  ];
  for (const [name, fn, range] of binaryCases) {
    test(`${name} parity with broadcasting`, async () => {
      for (const [a, b] of shapePairs) {
        await expectParity(name, fn, [{ shape: a, ...range }, { shape: b, ...range }], { tolerance: MATH });
      }
    });
    test(`${name} gradcheck with broadcasting`, () => {
      expect(gradcheck(fn, [{ shape: [2, 3], ...range }, { shape: [3], ...range }])).toBe(9);
    });
  }

  test('pow handles negative bases like the CPU', async () => {
    await expectParity('pow', sp.pow, [{ shape: [4], values: [-2, -2, 0, 0] }, { shape: [4], values: [3, 2, 2, 0] }], {
      tolerance: MATH,
      gradients: false,
    });
  });

  test('comparisons return 0 or 1', async () => {
    for (const fn of [sp.greater, sp.greaterEqual, sp.less, sp.equal]) {
      await expectParity('comparison', fn, [{ shape: [6], values: [1, 2, 3, 1, 2, 3] }, { shape: [6], values: [3, 2, 1, 1, 3, 2] }], {
        tolerance: { atol: 0, rtol: 0 },
        gradients: false,
      });
    }
  });

  test('broadcast mismatch names both shapes', () => {
    const a = sp.zeros([2, 3], { backend: 'cpu' });
    const b = sp.zeros([4], { backend: 'cpu' });
    expect(() => sp.add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => sp.maskPositive(a, b)).toThrow(/maskPositive: shapes \[2, 3\] and \[4\] cannot be broadcast/);
  });

  test('dtype mismatch is rejected', () => {
    const a = sp.zeros([2], { backend: 'cpu' });
    const b = sp.zeros([2], { backend: 'cpu', dtype: 'i32' });
    expect(() => sp.mul(a, b)).toThrow(sp.DTypeError);
  });
});

describe('where and cast', () => {
  test('where parity and gradcheck', async () => {
    const condition: InputSpec = { shape: [2, 3], dtype: 'i32', low: 0, high: 2 };
    const fn = (c: sp.Tensor, a: sp.Tensor, b: sp.Tensor) => sp.where(c, a, b);
    await expectParity('where', fn, [condition, { shape: [2, 3] }, { shape: [3] }], { tolerance: MATH });
    expect(gradcheck(fn, [condition, { shape: [2, 3] }, { shape: [3] }])).toBe(9);
  });

  test('cast truncates and saturates like the CPU', async () => {
    const values = [1.7, -1.7, 3e9, -3e9, 0.2, 12];
    for (const dtype of ['i32', 'u32'] as const) {
      await expectParity('cast', (x) => sp.cast(x, dtype), [{ shape: [6], values }], { tolerance: { atol: 0, rtol: 0 }, gradients: false });
    }
    await expectParity('cast', (x) => sp.cast(x, 'f32'), [{ shape: [5], dtype: 'i32', low: -100, high: 100 }], {
      tolerance: { atol: 0, rtol: 0 },
      gradients: false,
    });
  });
});

describe('large element-wise problems', () => {
  test('a map over more than 65,535 workgroups', async () => {
    // 256 x 65,536 + 3 elements need 65,537 workgroups of 256, so the grid spans y.
    const size = 256 * 65536 + 3;
    await expectParity('add', (a, b) => sp.add(a, b), [{ shape: [size] }, { shape: [1] }], { tolerance: MATH, gradients: false });
  });

  test('vec4 and strided maps match', async () => {
    // [3, 8] and [3, 8] run 4 elements per invocation; [3, 8] and [8] broadcast, one element each.
    const fn = (a: sp.Tensor, b: sp.Tensor, c: sp.Tensor) => [sp.maximum(a, b), sp.maximum(a, c), sp.sigmoid(a), sp.where(sp.greater(a, b), a, 0.5)];
    await expectParity('vec4 and strided', fn, [{ shape: [3, 8] }, { shape: [3, 8] }, { shape: [8] }], { tolerance: MATH });
  });
});

describe('empty tensors', () => {
  test('element-wise ops on empty tensors return empty results', async () => {
    await expectParity('add empty', (a, b) => sp.sum(sp.add(a, b), 1), [{ shape: [0, 3] }, { shape: [3] }], {
      tolerance: MATH,
      gradients: false,
    });
  });
});
