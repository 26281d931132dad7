// Parity, gradient, mask statistics and bad-input checks for dropout on every backend present.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { seedToU32, uniformAt } from '../src/ops/random-hash.js';
import { expectParity, gradcheck, testBackends } from '../src/testing/index.js';

// Both backends draw the mask from one integer hash and multiply by the same float32 scale,
// so kept values match bit for bit.
const EXACT = { atol: 0, rtol: 0 };

async function keptCount(x: sp.Tensor): Promise<number> {
  return Array.from(await x.data()).filter((value) => value !== 0).length;
}

describe('dropout', () => {
  test('parity of the mask at awkward sizes', async () => {
    for (const shape of [[1], [7], [257], [3, 5]]) {
      // Seed 5 draws 0.856 for element 0, which keeps it at these rates, so no reference output
      // is all zeros (expectParity rejects those).
      for (const rate of [0, 0.3, 0.7]) {
        const fn = (x: sp.Tensor) => sp.dropout(x, rate, 5);
        await expectParity(`dropout rate ${rate}`, fn, [{ shape }], { tolerance: EXACT });
      }
    }
    await expectParity('dropout rate 0.95', (x) => sp.dropout(x, 0.95, 5), [{ shape: [1000] }], { tolerance: EXACT });
  });

  test('rate just above a draw drops it on both backends', async () => {
    // A float32 rate would round 0.8562... + 2^-26 down to the draw itself and keep the
    // element on WebGPU; the kernel compares against a threshold on the 2^-24 grid instead.
    const draw = uniformAt(seedToU32(5), 0);
    expect(draw).toBeGreaterThan(0.5);
    const rate = draw + 2 ** -26;
    await expectParity('dropout rate above a draw', (x) => sp.dropout(x, rate, 5), [{ shape: [300] }], { tolerance: EXACT });
    for (const backend of await testBackends()) {
      const y = sp.dropout(sp.ones([1], { backend }), rate, 5);
      expect(await keptCount(y)).toBe(0);
    }
  });

  test('gradcheck', () => {
    expect(gradcheck((x) => sp.dropout(x, 0.4, 3), [{ shape: [3, 4] }])).toBe(12);
  });

  test('keeps about 1 - rate of 10,000 elements and scales them', async () => {
    for (const backend of await testBackends()) {
      const x = sp.ones([100, 100], { backend });
      for (const rate of [0.1, 0.5, 0.8]) {
        const y = sp.dropout(x, rate, 42);
        const values = Array.from(await y.data());
        const kept = values.filter((value) => value !== 0);
        // The kept count is binomial; its standard deviation is at most 50 of 10,000 (0.5%),
        // so 2% is four standard deviations.
        expect(Math.abs(kept.length / 10000 - (1 - rate))).toBeLessThan(0.02);
        expect(kept.every((value) => value === Math.fround(1 / (1 - rate)))).toBe(true);
      }
    }
  });

  test('different seeds give different masks', async () => {
    for (const backend of await testBackends()) {
      const x = sp.ones([1000], { backend });
      const first = Array.from(await sp.dropout(x, 0.5, 1).data());
      const second = Array.from(await sp.dropout(x, 0.5, 2).data());
      const again = Array.from(await sp.dropout(x, 0.5, 1).data());
      const differing = first.filter((value, i) => value !== second[i]).length;
      // Two independent masks at rate 0.5 differ in about half of the elements.
      expect(differing).toBeGreaterThan(400);
      expect(again).toEqual(first);
    }
  });

  test('rate 0 copies the input', async () => {
    const x = sp.tensor([1.5, -2, 3], [3], { backend: 'cpu' });
    const y = sp.dropout(x, 0, 5);
    expect(Array.from(await y.data())).toEqual([1.5, -2, 3]);
    expect(await keptCount(y)).toBe(3);
  });

  test('gradient uses the forward mask', async () => {
    for (const backend of await testBackends()) {
      const x = sp.randomUniform([64], { backend, low: 1, high: 2, seed: 9, requiresGrad: true });
      const y = sp.dropout(x, 0.5, 7);
      sp.sum(y).backward();
      const forward = Array.from(await y.data());
      const gradient = Array.from(await x.grad!.data());
      expect(gradient).toEqual(forward.map((value) => (value === 0 ? 0 : 2)));
    }
  });

  test('invalid rate and seed are rejected', () => {
    const x = sp.ones([2], { backend: 'cpu' });
    expect(() => sp.dropout(x, 1, 0)).toThrow('dropout: rate 1 is out of range; expected 0 <= rate < 1');
    expect(() => sp.dropout(x, -0.1, 0)).toThrow(RangeError);
    expect(() => sp.dropout(x, Number.NaN, 0)).toThrow(RangeError);
    expect(() => sp.dropout(x, 0.5, 1.5)).toThrow('dropout: seed 1.5 is not a safe integer');
    expect(() => sp.dropout(sp.zeros([2], { backend: 'cpu', dtype: 'i32' }), 0.5, 0)).toThrow(sp.DTypeError);
  });
});
