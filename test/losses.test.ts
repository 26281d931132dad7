// Parity, gradient, stability and bad-input checks for the loss functions on every backend present.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, testBackends, type InputSpec } from '../src/testing/index.js';

// GPU exp, log and the reductions differ from the CPU's float64 results by a few ulps
// and by summation order.
const MATH = { atol: 1e-5, rtol: 1e-5 };
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

/** Computes the closed form max(x, 0) - x z + log(1 + exp(-|x|)) in float64. */
function bceReference(x: number, z: number): number {
  return Math.max(x, 0) - x * z + Math.log1p(Math.exp(-Math.abs(x)));
}

describe('binaryCrossEntropyWithLogits', () => {
  const labels: InputSpec = { low: 0, high: 1, shape: [] };

  test('parity at awkward sizes and every reduction', async () => {
    for (const shape of [[1], [7], [257], [3, 5]]) {
      for (const reduction of REDUCTIONS) {
        const fn = (x: sp.Tensor, z: sp.Tensor) => sp.binaryCrossEntropyWithLogits(x, z, { reduction });
        await expectParity(`bce ${reduction}`, fn, [{ shape, low: -8, high: 8 }, { ...labels, shape }], { tolerance: MATH });
      }
    }
  });

  test('parity with weights', async () => {
    const fn = (x: sp.Tensor, z: sp.Tensor, w: sp.Tensor) => sp.binaryCrossEntropyWithLogits(x, z, { weights: w });
    await expectParity('bce weighted', fn, [{ shape: [4, 3] }, { ...labels, shape: [4, 3] }, { shape: [3], low: 0.2, high: 2 }], { tolerance: MATH });
  });

  test('gradcheck of logits, labels and weights', () => {
    const plain = (x: sp.Tensor, z: sp.Tensor) => sp.binaryCrossEntropyWithLogits(x, z, { reduction: 'none' });
    expect(gradcheck(plain, [{ shape: [2, 3], low: -4, high: 4 }, { ...labels, shape: [2, 3] }])).toBe(12);

    const weighted = (x: sp.Tensor, z: sp.Tensor, w: sp.Tensor) => sp.binaryCrossEntropyWithLogits(x, z, { weights: w, reduction: 'sum' });
    expect(gradcheck(weighted, [{ shape: [2, 3] }, { ...labels, shape: [2, 3] }, { shape: [3], low: 0.2, high: 2 }])).toBe(15);
  });

  test('the fused logits gradient: parity at extreme logits and its own gradcheck', async () => {
    const fused = (x: sp.Tensor, z: sp.Tensor, g: sp.Tensor) => sp.runOp(sp.binaryCrossEntropyLogitsGradOp, [x, z, g], {})[0];
    await expectParity('bce logits gradient', fused, [{ shape: [259], low: -30, high: 30 }, { ...labels, shape: [259] }, { shape: [259] }], {
      tolerance: MATH,
    });
    expect(gradcheck(fused, [{ shape: [2, 3], low: -3, high: 3 }, { ...labels, shape: [2, 3] }, { shape: [2, 3] }])).toBe(18);
    expect(() => fused(sp.zeros([2], { backend: 'cpu' }), sp.zeros([2], { backend: 'cpu' }), sp.zeros([3], { backend: 'cpu' }))).toThrow(
      /binaryCrossEntropyLogitsGrad: logits, labels and gradient must have one shape, got \[2\], \[2\], \[3\]/,
    );
  });

  test('labels get no gradient unless they require one', () => {
    const x = sp.tensor([0.5, -1], [2], { backend: 'cpu', requiresGrad: true });
    const z = sp.tensor([1, 0], [2], { backend: 'cpu' });
    sp.binaryCrossEntropyWithLogits(x, z).backward();
    expect(x.grad).not.toBeNull();
    expect(z.grad).toBeNull();
  });

  test('extreme logits are finite and match the closed form', async () => {
    const logits = [100, -100, 1000, -1000, 100, -100, 1000, -1000, 0];
    const targets = [0, 1, 0, 1, 1, 0, 0.3, 0.7, 0.5];
    for (const backend of await testBackends()) {
      const x = sp.tensor(logits, [9], { backend, requiresGrad: true });
      const z = sp.tensor(targets, [9], { backend });
      const losses = sp.binaryCrossEntropyWithLogits(x, z, { reduction: 'none' });
      sp.sum(losses).backward();

      const values = Array.from(await losses.data());
      const grads = Array.from(await x.grad!.data());
      values.forEach((value, i) => {
        expect(Number.isFinite(value)).toBe(true);
        expect(value).toBeCloseTo(bceReference(logits[i], targets[i]), 3);
      });
      grads.forEach((grad, i) => {
        // d/dx = sigmoid(x) - z, where sigmoid(+-100) and beyond is 1 or 0 in float32.
        let sigmoid = 0.5;
        if (logits[i] > 0) sigmoid = 1;
        if (logits[i] < 0) sigmoid = 0;
        expect(grad).toBeCloseTo(sigmoid - targets[i], 6);
      });
    }
  });

  test('small losses keep their precision on every backend', async () => {
    // At z = 1 the loss is log(1 + e^-x), about 2.06e-9 at x = 20; log(1 + t) in float32
    // returns 0 there and loses digits from x = 5 on. Four digits leave room for the
    // GPU's exp, whose error the WebGPU spec lets grow with |x|.
    for (const backend of await testBackends()) {
      for (const x of [5, 10, 20, 40]) {
        const loss = sp.binaryCrossEntropyWithLogits(sp.tensor([x], [1], { backend }), sp.tensor([1], [1], { backend }), { reduction: 'sum' });
        expect((await loss.item()) / bceReference(x, 1)).toBeCloseTo(1, 4);
      }
    }
  });

  test('bad shapes and reductions are rejected', () => {
    const x = sp.zeros([2, 3], { backend: 'cpu' });
    expect(() => sp.binaryCrossEntropyWithLogits(x, sp.zeros([3], { backend: 'cpu' }))).toThrow(
      'binaryCrossEntropyWithLogits: logits [2, 3] and labels [3] must have the same shape',
    );
    expect(() => sp.binaryCrossEntropyWithLogits(x, sp.zeros([2, 3], { backend: 'cpu', dtype: 'i32' }))).toThrow(sp.DTypeError);
    expect(() => sp.binaryCrossEntropyWithLogits(x, x, { reduction: 'avg' as never })).toThrow(
      `binaryCrossEntropyWithLogits: invalid reduction "avg"; expected 'mean', 'sum' or 'none'`,
    );
  });
});

describe('meanSquaredError', () => {
  test('parity and gradcheck for every reduction', async () => {
    for (const reduction of REDUCTIONS) {
      const fn = (p: sp.Tensor, t: sp.Tensor) => sp.meanSquaredError(p, t, { reduction });
      for (const shape of [[1], [257], [3, 5]]) await expectParity(`mse ${reduction}`, fn, [{ shape }, { shape }], { tolerance: MATH });
      expect(gradcheck(fn, [{ shape: [2, 3] }, { shape: [2, 3] }])).toBe(12);
    }
  });

  test('value of a small case', async () => {
    const p = sp.tensor([1, 2, 3], [3], { backend: 'cpu' });
    const t = sp.tensor([1, 0, 6], [3], { backend: 'cpu' });
    expect(await sp.meanSquaredError(p, t).item()).toBeCloseTo(13 / 3, 6);
    expect(await sp.meanSquaredError(p, t, { reduction: 'sum' }).item()).toBe(13);
  });

  test('shape mismatch names both shapes', () => {
    expect(() => sp.meanSquaredError(sp.zeros([2], { backend: 'cpu' }), sp.zeros([3], { backend: 'cpu' }))).toThrow(
      'meanSquaredError: pred [2] and target [3] must have the same shape',
    );
  });
});

describe('softmaxCrossEntropy', () => {
  test('parity with class ids at awkward sizes', async () => {
    // One class would give a loss of exactly 0, which expectParity rejects as a reference.
    const cases: [number, number][] = [
      [1, 2],
      [1, 7],
      [5, 3],
      [3, 257],
    ];
    for (const [rows, classes] of cases) {
      for (const reduction of REDUCTIONS) {
        for (const dtype of ['i32', 'u32'] as const) {
          const fn = (x: sp.Tensor, ids: sp.Tensor) => sp.softmaxCrossEntropy(x, ids, { reduction });
          const ids: InputSpec = { shape: [rows], dtype, low: 0, high: classes, differentiable: false };
          await expectParity(`softmax CE ${reduction}`, fn, [{ shape: [rows, classes], low: -4, high: 4 }, ids], { tolerance: MATH });
        }
      }
    }
  });

  test('parity with probabilities', async () => {
    const fn = (x: sp.Tensor, p: sp.Tensor) => sp.softmaxCrossEntropy(x, sp.softmax(p, -1));
    await expectParity('softmax CE probabilities', fn, [{ shape: [4, 6] }, { shape: [4, 6] }], { tolerance: MATH });
  });

  test('gradcheck with ids and with probabilities', () => {
    const withIds = (x: sp.Tensor, ids: sp.Tensor) => sp.softmaxCrossEntropy(x, ids, { reduction: 'none' });
    expect(gradcheck(withIds, [{ shape: [3, 4] }, { shape: [3], dtype: 'i32', low: 0, high: 4, differentiable: false }])).toBe(12);

    const withProbabilities = (x: sp.Tensor, p: sp.Tensor) => sp.softmaxCrossEntropy(x, sp.softmax(p, -1), { reduction: 'sum' });
    expect(gradcheck(withProbabilities, [{ shape: [3, 4] }, { shape: [3, 4] }])).toBe(24);
  });

  test('class ids equal their one-hot probabilities', async () => {
    for (const backend of await testBackends()) {
      const logits = sp.randomNormal([6, 5], { backend, seed: 3, requiresGrad: true });
      const ids = sp.tensor(new Int32Array([0, 4, 2, 2, 1, 3]), [6], { backend });
      const fromIds = sp.softmaxCrossEntropy(logits, ids, { reduction: 'none' });
      const fromProbabilities = sp.softmaxCrossEntropy(logits, sp.oneHot(ids, 5), { reduction: 'none' });
      expect(Array.from(await fromIds.data())).toEqual(Array.from(await fromProbabilities.data()));

      sp.sum(fromIds).backward();
      const gradFromIds = Array.from(await logits.grad!.data());
      logits.grad = null;
      sp.sum(fromProbabilities).backward();
      expect(Array.from(await logits.grad!.data())).toEqual(gradFromIds);
    }
  });

  test('value of a small case', async () => {
    const logits = sp.tensor([[0, 0], [Math.log(3), 0]], undefined, { backend: 'cpu' });
    const ids = sp.tensor(new Int32Array([1, 0]), [2], { backend: 'cpu' });
    // Row 0: -log(1/2); row 1: -log(3/4).
    expect(Array.from(await sp.softmaxCrossEntropy(logits, ids, { reduction: 'none' }).data()).map((v) => Number(v.toFixed(6)))).toEqual([
      Number(Math.log(2).toFixed(6)),
      Number((-Math.log(0.75)).toFixed(6)),
    ]);
  });

  test('out-of-range class id throws on the CPU', () => {
    const logits = sp.zeros([2, 3], { backend: 'cpu' });
    const ids = sp.tensor(new Int32Array([0, 3]), [2], { backend: 'cpu' });
    expect(() => sp.softmaxCrossEntropy(logits, ids)).toThrow('softmaxCrossEntropy: labels[1] is 3, outside the valid range [0, 3) of the 3 classes (logits columns)');
  });

  test('out-of-range class id gives a zero loss on WebGPU', async () => {
    const backends = await testBackends();
    if (!backends.includes('webgpu')) return;
    const logits = sp.tensor([[1, 2, 3], [1, 2, 3]], undefined, { backend: 'webgpu' });
    const ids = sp.tensor(new Int32Array([2, 3]), [2], { backend: 'webgpu' });
    const losses = Array.from(await sp.softmaxCrossEntropy(logits, ids, { reduction: 'none' }).data());
    expect(losses[0]).toBeCloseTo(Math.log(1 + Math.exp(-1) + Math.exp(-2)), 5);
    // The loss is -(0 * logp) summed, so it may come out as -0.
    expect(Math.abs(losses[1])).toBe(0);
  });

  test('bad shapes and dtypes are rejected', () => {
    const logits = sp.zeros([2, 3], { backend: 'cpu' });
    expect(() => sp.softmaxCrossEntropy(sp.zeros([6], { backend: 'cpu' }), sp.zeros([6], { backend: 'cpu' }))).toThrow(
      'softmaxCrossEntropy: logits must have shape [N, C], got [6]',
    );
    expect(() => sp.softmaxCrossEntropy(logits, sp.tensor(new Int32Array([0, 1, 2]), [3], { backend: 'cpu' }))).toThrow(
      'softmaxCrossEntropy: class-id labels i32[3] must have shape [2], one id per logits row',
    );
    expect(() => sp.softmaxCrossEntropy(logits, sp.zeros([2, 4], { backend: 'cpu' }))).toThrow(
      "softmaxCrossEntropy: probability labels [2, 4] must have the logits' shape [2, 3]",
    );
  });
});
