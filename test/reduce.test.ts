// Parity, gradient and input checks for sum, mean and max along axes.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, testBackends } from '../src/testing/index.js';

// Sums of up to about a thousand f32 values in [-2, 2) accumulate rounding error of about
// 1e-5 against the CPU's float64 reference, and the GPU adds in another order.
const SUM = { atol: 1e-4, rtol: 1e-5 };
// The maximum is one of the inputs, so it and its gradient match exactly.
const MAX = { atol: 0, rtol: 0 };

type Reduce = (x: sp.Tensor, axes?: number | number[], keepDims?: boolean) => sp.Tensor;

const reductions: [string, Reduce, typeof SUM][] = [
  ['sum', sp.sum, SUM],
  ['mean', sp.mean, SUM],
  ['max', sp.max, MAX],
];

// Each case: input shape, axes, keepDims. Sizes are awkward on purpose: 1, primes, just
// past a 256-wide workgroup, rows longer than 512 that take the workgroup-tree path, and
// few rows long enough for the two-pass reduction.
const cases: [string, number[], number | number[] | undefined, boolean][] = [
  ['size 1', [1], 0, false],
  ['prime length, axis 0', [13], 0, false],
  ['single axis 0 of rank 3', [3, 5, 7], 0, false],
  ['single axis 1 of rank 3', [3, 5, 7], 1, false],
  ['single axis 2 of rank 3', [3, 5, 7], 2, false],
  ['negative axis with keepDims', [3, 5, 7], -1, true],
  ['consecutive axes [0, 1]', [3, 5, 7], [0, 1], false],
  ['consecutive axes [1, 2] with keepDims', [3, 5, 7], [1, 2], true],
  ['non-consecutive axes [0, 2]', [3, 5, 7], [0, 2], false],
  ['non-consecutive axes [0, 2] with keepDims', [2, 3, 4], [0, 2], true],
  ['non-consecutive axes [1, 3] of rank 4', [2, 3, 2, 5], [1, 3], false],
  ['all axes', [3, 5, 7], undefined, false],
  ['all axes with keepDims', [2, 3], undefined, true],
  ['rows just past 256', [3, 257], 1, false],
  ['long rows on the tree path', [3, 1031], 1, false],
  ['one long row, all axes', [1031], undefined, false],
  ['long rows after a transpose', [5, 2, 523], [0, 2], false],
];

// Few rows of 65,536 or more values run in two passes: chunks, then their partial results.
const longCases: typeof cases = [
  ['few rows split into chunks, vec4 loads', [3, 65540], 1, false],
  ['one row split into chunks, scalar loads', [98309], undefined, false],
  ['split rows after a transpose', [4, 2, 16411], [0, 2], true],
];
// The CPU adds such rows left to right in float32: on seeded inputs of these sizes it drifted by
// up to 1.4e-3 from the exact (float64) sums, while the two-pass tree stayed within 2e-4.
const LONG_SUM = { atol: 5e-3, rtol: 1e-5 };

for (const [name, fn, tolerance] of reductions) {
  describe(name, () => {
    for (const [label, shape, axes, keepDims] of cases) {
      test(`parity, ${label}`, async () => {
        await expectParity(name, (x) => fn(x, axes, keepDims), [{ shape }], { tolerance });
      });
    }
    for (const [label, shape, axes, keepDims] of longCases) {
      test(`parity, ${label}`, async () => {
        await expectParity(name, (x) => fn(x, axes, keepDims), [{ shape }], { tolerance: name === 'max' ? MAX : LONG_SUM });
      });
    }

    test('gradcheck along single and several axes', () => {
      for (const axes of [0, 1, 2, [0, 1], [0, 2], undefined]) {
        expect(gradcheck((x) => fn(x, axes), [{ shape: [2, 3, 4] }])).toBe(24);
      }
      expect(gradcheck((x) => fn(x, [0, 2], true), [{ shape: [2, 3, 4] }])).toBe(24);
    });

    test('output shapes', () => {
      const x = sp.zeros([2, 3, 4], { backend: 'cpu' });
      expect(fn(x, 1).shape).toEqual([2, 4]);
      expect(fn(x, [0, 2], true).shape).toEqual([1, 3, 1]);
      expect(fn(x).shape).toEqual([]);
      expect(fn(x, undefined, true).shape).toEqual([1, 1, 1]);
    });

    test('rejects bad axes', () => {
      const x = sp.zeros([2, 3], { backend: 'cpu' });
      expect(() => fn(x, 2)).toThrow(new RegExp(`${name}: axis 2 is out of range for a tensor of rank 2`));
      expect(() => fn(x, [0, -2])).toThrow(new RegExp(`${name}: axes \\[0, -2\\] contain a duplicate`));
      expect(() => fn(sp.zeros([2], { backend: 'cpu', dtype: 'i32' }))).toThrow(sp.DTypeError);
    });
  });
}

describe('reduce values', () => {
  test('sum and mean of a small matrix', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend });
      expect(Array.from(await sp.sum(x, 0).data())).toEqual([5, 7, 9]);
      expect(Array.from(await sp.mean(x, 1).data())).toEqual([2, 5]);
      expect(await sp.sum(x).item()).toBe(21);
    }
  });

  test('max gradient is split equally among ties', async () => {
    for (const backend of await testBackends()) {
      const x = sp.tensor([1, 3, 3, 2, 2, 2, -1, 0, -5], [3, 3], { backend, requiresGrad: true });
      sp.sum(sp.max(x, 1)).backward();
      const grad = Array.from(await x.grad!.data());
      const third = Math.fround(1 / 3);
      expect(grad).toEqual([0, 0.5, 0.5, third, third, third, 0, 1, 0]);
    }
  });

  test('max with ties along a strided axis', async () => {
    await expectParity('max', (x) => sp.max(x, 0), [{ shape: [3, 2], values: [4, 1, 4, -2, 0, 1] }], { tolerance: MAX });
  });

  test('max over an empty axis throws', () => {
    const x = sp.zeros([2, 0, 3], { backend: 'cpu' });
    expect(() => sp.max(x, 1)).toThrow(/max: cannot take the maximum over an empty axis of \[2, 0, 3\]/);
    expect(() => sp.max(x)).toThrow(sp.ShapeError);
  });

  test('sum over an empty axis gives zeros', async () => {
    for (const backend of await testBackends()) {
      const x = sp.zeros([2, 0, 3], { backend });
      const y = sp.sum(x, 1);
      expect(y.shape).toEqual([2, 3]);
      expect(Array.from(await y.data())).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  test('sum of empty non-consecutive axes', async () => {
    for (const backend of await testBackends()) {
      const y = sp.sum(sp.zeros([0, 3, 2], { backend }), [0, 2]);
      expect(y.shape).toEqual([3]);
      expect(Array.from(await y.data())).toEqual([0, 0, 0]);
    }
  });
});

describe('broadcastTo', () => {
  test('parity, gradcheck and errors', async () => {
    for (const [from, to] of [[[1], [7]], [[3, 1], [3, 5]], [[4], [2, 3, 4]], [[2, 1, 3], [2, 257, 3]]] as const) {
      await expectParity(`broadcastTo ${from} -> ${to}`, (x) => sp.broadcastTo(x, [...to]), [{ shape: [...from] }], { tolerance: { atol: 0, rtol: 0 } });
    }
    expect(gradcheck((x) => sp.broadcastTo(x, [2, 3, 4]), [{ shape: [3, 1] }])).toBe(3);
    expect(() => sp.broadcastTo(sp.zeros([3], { backend: 'cpu' }), [2, 4])).toThrow(/broadcastTo/);
    expect(() => sp.broadcastTo(sp.zeros([2, 3], { backend: 'cpu' }), [3])).toThrow(/broadcastTo: \[2, 3\] cannot be broadcast to \[3\]/);
  });
});
