// Matmul and the fused linear layer: parity at awkward sizes, transposes, batches and gradients.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck } from '../src/testing/index.js';

// The GPU accumulates in float32 while the CPU reference sums in float64: the error grows
// like sqrt(k) ulps of the dot products, which stay below 4 * k for inputs in [-2, 2].
const tolerance = (k: number) => ({ atol: 2e-6 * Math.sqrt(k) * 4, rtol: 1e-5 });

describe('matmul', () => {
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 1],
    [7, 13, 5],
    [17, 1, 33],
    [65, 67, 63],
    [129, 96, 257],
  ];
  for (const [m, k, n] of sizes) {
    test(`parity ${m}x${k}x${n} in all transposes`, async () => {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const shapeA = transposeA ? [k, m] : [m, k];
          const shapeB = transposeB ? [n, k] : [k, n];
          await expectParity(
            `matmul ${transposeA ? 'Aᵀ' : 'A'}${transposeB ? 'Bᵀ' : 'B'} ${m}x${k}x${n}`,
            (a, b) => sp.matmul(a, b, { transposeA, transposeB }),
            [{ shape: shapeA }, { shape: shapeB }],
            { tolerance: tolerance(k), gradTolerance: tolerance(Math.max(m, n, k)) },
          );
        }
      }
    });
  }

  test('batched parity, with a shared operand', async () => {
    await expectParity('matmul batched', (a, b) => sp.matmul(a, b), [{ shape: [3, 5, 7] }, { shape: [3, 7, 4] }], { tolerance: tolerance(7) });
    await expectParity('matmul shared B', (a, b) => sp.matmul(a, b), [{ shape: [2, 3, 5, 6] }, { shape: [6, 4] }], { tolerance: tolerance(6) });
    await expectParity('matmul shared A', (a, b) => sp.matmul(a, b, { transposeB: true }), [{ shape: [5, 6] }, { shape: [4, 3, 6] }], {
      tolerance: tolerance(6),
    });
  });

  // One output column runs the matrix-vector kernel: rows of A as vec4 along k (k % 4 == 0),
  // as vec4 across rows (A transposed, m % 4 == 0), or scalar loads, with partial row groups.
  test('matrix-vector products in every load layout, batched and shared', async () => {
    for (const [m, k] of [[130, 64], [128, 37], [6, 3], [1, 8]]) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          await expectParity(
            `matvec ${transposeA ? 'Aᵀ' : 'A'}${transposeB ? 'Bᵀ' : 'B'} ${m}x${k}`,
            (a, b) => sp.matmul(a, b, { transposeA, transposeB }),
            [{ shape: transposeA ? [k, m] : [m, k] }, { shape: transposeB ? [1, k] : [k, 1] }],
            { tolerance: tolerance(k), gradTolerance: tolerance(Math.max(m, k)) },
          );
        }
      }
    }
    await expectParity('matvec batched', (a, b) => sp.matmul(a, b), [{ shape: [3, 9, 8] }, { shape: [3, 8, 1] }], { tolerance: tolerance(8) });
    await expectParity('matvec shared vector', (a, b) => sp.matmul(a, b, { transposeA: true }), [{ shape: [2, 12, 8] }, { shape: [12, 1] }], {
      tolerance: tolerance(12),
    });
    await expectParity('matvec shared matrix', (a, b) => sp.matmul(a, b), [{ shape: [7, 12] }, { shape: [3, 12, 1] }], { tolerance: tolerance(12) });
  });

  test('a batch that needs more than 65,535 workgroups', async () => {
    await expectParity('matmul many batches', (a, b) => sp.matmul(a, b), [{ shape: [70000, 1, 2] }, { shape: [70000, 2, 1] }], {
      tolerance: tolerance(2),
      gradients: false,
    });
  });

  test('gradcheck in all transposes and batches', () => {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const fn = (a: sp.Tensor, b: sp.Tensor) => sp.matmul(a, b, { transposeA, transposeB });
        expect(gradcheck(fn, [{ shape: transposeA ? [3, 2] : [2, 3] }, { shape: transposeB ? [4, 3] : [3, 4] }])).toBe(18);
      }
    }
    expect(gradcheck((a, b) => sp.matmul(a, b), [{ shape: [2, 2, 3] }, { shape: [3, 2] }])).toBe(18);
    expect(gradcheck((a, b) => sp.matmul(a, b), [{ shape: [1, 2, 3] }, { shape: [3, 2] }])).toBe(12);
  });

  test('batch dimensions of ones are kept', () => {
    const ones = (shape: number[]) => sp.ones(shape, { backend: 'cpu' });
    expect(sp.matmul(ones([1, 2, 3]), ones([3, 2])).shape).toEqual([1, 2, 2]);
    expect(sp.matmul(ones([2, 3]), ones([1, 3, 2])).shape).toEqual([1, 2, 2]);
    expect(sp.matmul(ones([1, 1, 2, 3]), ones([1, 3, 2])).shape).toEqual([1, 1, 2, 2]);
  });

  test('mismatched inner dimensions name both shapes', () => {
    const a = sp.zeros([2, 3], { backend: 'cpu' });
    const b = sp.zeros([4, 5], { backend: 'cpu' });
    expect(() => sp.matmul(a, b)).toThrow(/matmul: inner dimensions differ: \[2, 3\] x \[4, 5\] \(3 vs 4\)/);
    expect(() => sp.matmul(sp.zeros([2, 3, 4], { backend: 'cpu' }), sp.zeros([5, 4, 2], { backend: 'cpu' }))).toThrow(/batch dimensions \[2\] and \[5\]/);
  });
});

describe('linear', () => {
  const activations = ['none', 'relu', 'leakyRelu', 'sigmoid', 'tanh'] as const;
  for (const activation of activations) {
    test(`fused ${activation} parity and gradcheck`, async () => {
      const fn = (x: sp.Tensor, w: sp.Tensor, b: sp.Tensor) => sp.linear(x, w, b, { activation, leakyAlpha: 0.1 });
      await expectParity(`linear ${activation}`, fn, [{ shape: [33, 19] }, { shape: [19, 70] }, { shape: [70] }], { tolerance: tolerance(19) });
      await expectParity(`linear ${activation}, one output`, fn, [{ shape: [37, 16] }, { shape: [16, 1] }, { shape: [1] }], { tolerance: tolerance(16) });
      expect(gradcheck(fn, [{ shape: [3, 4] }, { shape: [4, 2] }, { shape: [2] }])).toBe(22);
    });
  }

  test('without bias, on a rank-3 input', async () => {
    await expectParity('linear no bias', (x, w) => sp.linear(x, w), [{ shape: [2, 5, 6] }, { shape: [6, 3] }], { tolerance: tolerance(6) });
  });

  test('rejects an unknown activation', () => {
    const x = sp.zeros([2, 3], { backend: 'cpu' });
    const w = sp.zeros([3, 4], { backend: 'cpu' });
    expect(() => sp.linear(x, w, null, { activation: 'gelu' as 'relu' })).toThrow('linear: invalid activation "gelu"; use one of none, relu, sigmoid, tanh, leakyRelu');
  });

  test('rejects a bias of the wrong length', () => {
    const x = sp.zeros([2, 3], { backend: 'cpu' });
    const w = sp.zeros([3, 4], { backend: 'cpu' });
    expect(() => sp.linear(x, w, sp.zeros([5], { backend: 'cpu' }))).toThrow(/linear: bias must be f32 \[4\], got f32\[5\]/);
  });
});
