// Parity, gradient and input checks for softmax and log-softmax along any axis.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, testBackends } from '../src/testing/index.js';

// GPU exp and log differ from the CPU's float64 results by a few ulps, and the workgroup
// path sums a row in another order than the CPU's left-to-right loop.
const SOFTMAX = { atol: 1e-6, rtol: 1e-5 };
const LOG_SOFTMAX = { atol: 1e-5, rtol: 1e-5 };

// Each case picks a kernel path: rows shorter than 64 take one invocation each, longer
// contiguous rows one workgroup each, and longer strided rows a transpose around the
// workgroup path.
const cases: [string, number[], number][] = [
  ['one row of two', [2], -1],
  ['short rows, last axis', [5, 7], -1],
  ['short rows, first axis', [7, 5], 0],
  ['short rows, middle axis', [3, 13, 4], 1],
  ['workgroup rows of 64', [3, 64], -1],
  ['workgroup rows past 256', [4, 257], 1],
  ['workgroup rows past 512', [2, 1031], -1],
  ['transposed rows, first axis', [257, 3], 0],
  ['transposed rows, middle axis', [2, 67, 5], -2],
];

for (const [name, fn, tolerance] of [
  ['softmax', sp.softmax, SOFTMAX],
  ['logSoftmax', sp.logSoftmax, LOG_SOFTMAX],
] as const) {
  describe(name, () => {
    for (const [label, shape, axis] of cases) {
      test(`parity, ${label}`, async () => {
        await expectParity(name, (x) => fn(x, axis), [{ shape, low: -4, high: 4 }], { tolerance });
      });
    }

    test('gradcheck along each axis', () => {
      for (const axis of [0, 1, 2]) {
        expect(gradcheck((x) => fn(x, axis), [{ shape: [2, 3, 4] }])).toBe(24);
      }
    });

    test('large logits stay finite', async () => {
      // Without subtracting the row max, exp(1000) overflows to Infinity.
      const values = [1000, 999, 998, -1000, 0, 1];
      await expectParity(name, (x) => fn(x), [{ shape: [2, 3], values }], { tolerance, gradients: false });
      const y = fn(sp.tensor(values, [2, 3], { backend: 'cpu' }));
      expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
    });

    test('rejects a bad axis and integer inputs', () => {
      const x = sp.zeros([2, 3], { backend: 'cpu' });
      expect(() => fn(x, 2)).toThrow(new RegExp(`${name}: axis 2 is out of range for a tensor of rank 2`));
      expect(() => fn(sp.zeros([2, 3], { backend: 'cpu', dtype: 'i32' }))).toThrow(sp.DTypeError);
      expect(() => fn(sp.tensor(1, [], { backend: 'cpu' }))).toThrow(sp.ShapeError);
    });
  });
}

describe('softmax values', () => {
  test('rows sum to one and match log-softmax', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([1, 2, 3, -1, 0, 1], [2, 3], { backend });
      const rowSums = Array.from(await sp.sum(sp.softmax(x), 1).data());
      rowSums.forEach((total) => expect(total).toBeCloseTo(1, 6));

      const expected = [1, 2, 3].map((v) => v - 3 - Math.log(Math.exp(-2) + Math.exp(-1) + 1));
      const logs = Array.from(await sp.logSoftmax(x).data()).slice(0, 3);
      logs.forEach((value, k) => expect(value).toBeCloseTo(expected[k], 5));
    }
  });

  test('axis of length 1 gives ones and zeros', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([3, -2, 0.5], [3, 1], { backend });
      expect(Array.from(await sp.softmax(x).data())).toEqual([1, 1, 1]);
      expect(Array.from(await sp.logSoftmax(x).data())).toEqual([0, 0, 0]);
    }
  });

  test('more than 65,535 rows in the workgroup grid', async () => {
    // 65,537 rows of 64 take one workgroup each, so the grid spans y. Log-softmax shares the
    // grid code, so one op covers it and keeps the slow core-level adapter's run short.
    await expectParity('softmax', (x) => sp.softmax(x), [{ shape: [65537, 64] }], { tolerance: SOFTMAX, gradients: false });
  });

  test('empty tensor gives an empty output', async () => {
    for (const backend of await testBackends()) {
      const y = sp.softmax(sp.zeros([0, 4], { backend }));
      expect(y.shape).toEqual([0, 4]);
      expect((await y.data()).length).toBe(0);
    }
  });
});
