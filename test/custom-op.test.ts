// The worked example of docs/custom-ops.md, tested with the helpers that the docs recommend.

import { expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck } from '../src/testing/index.js';
import { scaleRows } from '../examples/scale-rows.js';

test('scaleRows parity on every backend', async () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 13],
    [65, 4],
  ]) {
    await expectParity('scaleRows', scaleRows, [{ shape: [rows, cols] }, { shape: [rows] }], { tolerance: { atol: 1e-6, rtol: 1e-6 } });
  }
});

test('scaleRows gradcheck', () => {
  expect(gradcheck(scaleRows, [{ shape: [3, 4] }, { shape: [3] }])).toBe(15);
});

test('scaleRows rejects mismatched shapes', () => {
  const x = sp.zeros([3, 4], { backend: 'cpu' });
  const s = sp.zeros([2], { backend: 'cpu' });
  expect(() => scaleRows(x, s)).toThrow(/scaleRows: expected x \[N, D\] and s \[N\], got \[3,4\] and \[2\]/);
});
