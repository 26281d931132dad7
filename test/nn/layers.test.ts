// Modules: forward and gradients on every backend, modes, and state dicts.

import { describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { expectParity, gradcheck, testBackends } from '../../src/testing/index.js';

const backends = await testBackends();
const DENSE = { atol: 1e-4, rtol: 1e-4 };

describe('Linear', () => {
  test('forward equals x W + b and matches across backends', async () => {
    const results: number[][] = [];
    for (const backend of backends) {
      const layer = new sp.nn.Linear(5, 3, { seed: 3, backend, activation: 'tanh' });
      const x = sp.randomNormal([4, 5], { seed: 9, backend });
      const y = layer.forward(x);
      const manual = sp.tanh(sp.add(sp.matmul(x, layer.weight), layer.bias!));
      const [got, expected] = [Array.from(await y.data()), Array.from(await manual.data())];
      // The fused kernel and the separate tanh op use different exp-based formulas; WGSL's exp
      // may be off by a few ulps per unit of |x| (SwiftShader is off by about 1e-4 here).
      got.forEach((value, i) => expect(Math.abs(value - expected[i])).toBeLessThan(2e-4));
      results.push(got);
    }
    if (results.length === 2) results[0].forEach((value, i) => expect(Math.abs(results[1][i] - value)).toBeLessThan(2e-4));
  });

  test('parameters are named and require gradients', () => {
    const layer = new sp.nn.Linear(2, 2, { backend: 'cpu' });
    expect(layer.namedParameters().map(([name]) => name)).toEqual(['weight', 'bias']);
    expect(layer.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(new sp.nn.Linear(2, 2, { backend: 'cpu', bias: false }).namedParameters()).toHaveLength(1);
  });

  test('rejects an input of the wrong width', () => {
    const layer = new sp.nn.Linear(4, 2, { backend: 'cpu' });
    expect(() => layer.forward(sp.zeros([3, 5], { backend: 'cpu' }))).toThrow(/Linear: input \[3, 5\] does not end in inFeatures 4/);
  });
});

describe('normalization', () => {
  test('LayerNorm parity and gradcheck', async () => {
    const fn = (x: sp.Tensor, gamma: sp.Tensor, beta: sp.Tensor) => {
      const norm = new sp.nn.LayerNorm(6, 1e-5, x.backend.name);
      sp.assignValues(norm.gamma, [1, 2, 0.5, 1.5, 1, 0.7]);
      const out = sp.add(sp.mul(norm.forward(x), gamma), beta);
      return out;
    };
    await expectParity('LayerNorm', fn, [{ shape: [5, 6] }, { shape: [6] }, { shape: [6] }], { tolerance: DENSE });
    expect(gradcheck(fn, [{ shape: [3, 6] }, { shape: [6] }, { shape: [6] }], { atol: 1e-5, rtol: 1e-4 })).toBe(30);
  });

  test('BatchNorm uses batch statistics in training and running ones in evaluation', async () => {
    for (const backend of backends) {
      const norm = new sp.nn.BatchNorm(2, 0.5, 0, backend);
      const x = sp.tensor([[1, 10], [3, 30]], undefined, { backend });
      const trained = Array.from(await norm.forward(x).data());
      // Each column has mean m and biased variance d^2, so the outputs are -1 and +1.
      trained.forEach((value, i) => expect(value).toBeCloseTo([-1, -1, 1, 1][i], 5));

      const state = await norm.stateDict();
      // running = 0.5 * initial + 0.5 * batch: means 1 and 10, variances 0.5 * 1 + 0.5 * (1, 100).
      expect(Array.from(state.runningMean.data)).toEqual([1, 10]);
      expect(Array.from(state.runningVar.data)).toEqual([1, 50.5]);

      norm.eval();
      const evaluated = Array.from(await norm.forward(sp.tensor([[1, 10]], undefined, { backend })).data());
      evaluated.forEach((value) => expect(value).toBeCloseTo(0, 5));
    }
  });
});

describe('Dropout and MLP', () => {
  test('Dropout is the identity in evaluation and masks in training', async () => {
    const layer = new sp.nn.Dropout(0.5, 3);
    const x = sp.ones([1000], { backend: 'cpu' });
    const dropped = Array.from(await layer.forward(x).data());
    const kept = dropped.filter((v) => v !== 0).length;
    expect(kept).toBeGreaterThan(400);
    expect(kept).toBeLessThan(600);
    layer.eval();
    expect(layer.forward(x)).toBe(x);
  });

  test('MLP layers, names and output size', () => {
    const mlp = new sp.nn.MLP(8, [16, 4], { dropout: 0.1, norm: 'layer', outFeatures: 1, backend: 'cpu' });
    expect(mlp.outputSize).toBe(1);
    expect(mlp.namedParameters().map(([name]) => name)).toEqual([
      'layer0.weight',
      'layer0.bias',
      'norm0.gamma',
      'norm0.beta',
      'layer1.weight',
      'layer1.bias',
      'norm1.gamma',
      'norm1.beta',
      'output.weight',
      'output.bias',
    ]);
    const y = mlp.forward(sp.randomNormal([3, 8], { seed: 1, backend: 'cpu' }));
    expect(y.shape).toEqual([3, 1]);
  });

  test('MLP gradients match across backends', async () => {
    await expectParity(
      'MLP',
      (x) => new sp.nn.MLP(5, [7, 3], { seed: 4, outFeatures: 2, backend: x.backend.name }).forward(x),
      [{ shape: [6, 5] }],
      { tolerance: DENSE },
    );
  });
});

describe('state dicts', () => {
  test('round trip restores the values', async () => {
    const source = new sp.nn.MLP(3, [4], { seed: 1, outFeatures: 1, backend: 'cpu' });
    const target = new sp.nn.MLP(3, [4], { seed: 2, outFeatures: 1, backend: 'cpu' });
    target.loadStateDict(await source.stateDict());
    const x = sp.randomNormal([2, 3], { seed: 5, backend: 'cpu' });
    expect(Array.from(await target.forward(x).data())).toEqual(Array.from(await source.forward(x).data()));
  });

  test('missing, extra and mismatched tensors throw', async () => {
    const model = new sp.nn.Linear(3, 2, { backend: 'cpu' });
    const state = await model.stateDict();
    const { bias, ...withoutBias } = state;
    expect(() => model.loadStateDict(withoutBias)).toThrow(/missing tensor "bias" \(expected f32\[2\]\)/);
    expect(() => model.loadStateDict({ ...state, extra: bias })).toThrow(/unexpected tensor "extra"/);
    expect(() => model.loadStateDict({ ...state, bias: { ...bias, shape: [3], data: new Float32Array(3) } })).toThrow(
      /tensor "bias" is f32\[3\] but the model expects f32\[2\]/,
    );
  });
});

describe('EmbeddingBag', () => {
  test('pools each field and gives row-sparse gradients', async () => {
    for (const backend of backends) {
      const bag = new sp.nn.EmbeddingBag(
        [
          { name: 'user', rows: 5 },
          { name: 'genres', rows: 4 },
        ],
        3,
        { pooling: 'sum', init: { kind: 'values', values: Array.from({ length: 27 }, (_, i) => i) }, backend },
      );
      // Two rows: user ids [1], [4]; genre bags [0, 2] and [] (empty).
      const batch = bag.batch({ user: { ids: [1, 4], offsets: [0, 1, 2] }, genres: { ids: [0, 2], offsets: [0, 2, 2] } });
      const pooled = bag.forward(batch);
      expect(pooled.shape).toEqual([2, 2, 3]);
      // Genre rows start after the 5 user rows: genre 0 is row 5 (15, 16, 17), genre 2 is row 7 (21, 22, 23).
      expect(Array.from(await pooled.data())).toEqual([3, 4, 5, 36, 38, 40, 12, 13, 14, 0, 0, 0]);

      sp.sum(pooled).backward();
      const grad = bag.table.shards[0].sparseGrad!;
      const rows = Array.from(await grad.rows.data()).filter((row) => row !== sp.PADDING_ROW);
      expect(rows).toEqual([1, 4, 5, 7]);
      expect(bag.table.shards[0].grad).toBeNull();
    }
  });

  test('rejects an id outside its field before upload', () => {
    const bag = new sp.nn.EmbeddingBag([{ name: 'user', rows: 5 }], 2, { backend: 'cpu' });
    expect(() => bag.batch({ user: { ids: [5], offsets: [0, 1] } })).toThrow(/user.*5/);
  });
});
