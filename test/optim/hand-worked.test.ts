// Adagrad and FTRL-Proximal checked against values worked out by hand, dense and row-sparse.

import { describe, expect, test } from 'vitest';
import { testBackends } from '../../src/testing/index.js';
import { runSteps } from './helpers.js';

// The literals are exact float64 results, but the optimizers store float32 (rounding of about
// 6e-8 relative) and compute in f32 on WebGPU (a few ULP per step). A tolerance of 1e-6
// relative leaves room for that and still catches any wrong term.
function expectNear(label: string, actual: ArrayLike<number>, expected: number[]): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  expected.forEach((value, i) => {
    expect(Math.abs(actual[i] - value), `${label}[${i}]: got ${actual[i]}, expected ${value}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(value)));
  });
}

describe('adagrad by hand', () => {
  // lr 0.5, initial accumulator 0.75, eps 0; s += g^2, then w -= 0.5 * g / sqrt(s).
  // Coordinate 0, w = 1, gradients 0.5, -1.5, 2:
  //   s = 0.75 + 0.25 = 1;       w = 1 - 0.5 * 0.5 / 1 = 0.75
  //   s = 1 + 2.25 = 3.25;       w = 0.75 + 0.5 * 1.5 / 1.8027756377319946 = 1.1660251471689218
  //   s = 3.25 + 4 = 7.25;       w = 1.1660251471689218 - 0.5 * 2 / 2.692582403567252 = 0.7946344708148181
  // Coordinate 1, w = -2, gradients -0.25, 1, 0.5:
  //   s = 0.75 + 0.0625 = 0.8125; w = -2 + 0.5 * 0.25 / 0.9013878188659973 = -1.8613249509436927
  //   s = 0.8125 + 1 = 1.8125;    w = -1.8613249509436927 - 0.5 / 1.346291201783626 = -2.2327156272977966
  //   s = 1.8125 + 0.25 = 2.0625; w = -2.2327156272977966 - 0.25 / 1.4361406616345072 = -2.4067932832534944
  const optimizer = { kind: 'adagrad' as const, initialAccumulatorValue: 0.75, eps: 0 };
  const weights = [0.7946344708148181, -2.4067932832534944];
  const sums = [7.25, 2.0625];

  test('dense, three steps', async () => {
    for (const backend of await testBackends()) {
      const gradients = [{ values: [0.5, -0.25] }, { values: [-1.5, 1] }, { values: [2, 0.5] }];
      const result = await runSteps(backend, optimizer, 0.5, [2], [1, -2], gradients);
      expectNear(`weights on ${backend}`, result.weights, weights);
      expectNear(`sum on ${backend}`, result.state['p.sum'], sums);
      expect(result.steps).toEqual({ p: 3 });
    }
  });

  test('row-sparse, rows 0 and 2 of three', async () => {
    // The same coordinates as rows 0 and 2 of a [3, 1] parameter; row 1 (w = 5) is never
    // touched, so it keeps its weight and its initial accumulator 0.75.
    for (const backend of await testBackends()) {
      const rows = [0, 2];
      const gradients = [
        { rows, values: [0.5, -0.25] },
        { rows, values: [-1.5, 1] },
        { rows, values: [2, 0.5] },
      ];
      const result = await runSteps(backend, optimizer, 0.5, [3, 1], [1, 5, -2], gradients);
      expectNear(`weights on ${backend}`, result.weights, [weights[0], 5, weights[1]]);
      expectNear(`sum on ${backend}`, result.state['p.sum'], [sums[0], 0.75, sums[1]]);
    }
  });
});

describe('ftrl by hand', () => {
  // alpha (lr) 0.5, beta 1, l1 1, l2 0.5; z = n = w = 0 at the start. Per step:
  //   sigma = (sqrt(n + g^2) - sqrt(n)) / 0.5; z += g - sigma * w; n += g^2;
  //   w = 0 if |z| <= 1, else -(z - sign(z)) / ((1 + sqrt(n)) / 0.5 + 0.5).
  // Coordinate 0, gradients 3, -4, 12:
  //   sigma = 3 / 0.5 = 6;        z = 3;                          n = 9;   w = -(3 - 1) / (4 / 0.5 + 0.5) = -2 / 8.5 = -0.23529411764705882
  //   sigma = (5 - 3) / 0.5 = 4;  z = 3 - 4 - 4 * w = -0.0588235294117647; n = 25;  |z| <= 1, so w = 0
  //   sigma = (13 - 5) / 0.5 = 16; z = -0.0588235294117647 + 12 - 0 = 11.941176470588236; n = 169;
  //                               w = -(11.941176470588236 - 1) / (14 / 0.5 + 0.5) = -0.38390092879256965
  // Coordinate 1, gradients -0.5, 1.5, 2:
  //   sigma = 0.5 / 0.5 = 1;      z = -0.5;  n = 0.25;  |z| <= 1, so w = 0
  //   z = -0.5 + 1.5 - sigma * 0 = 1;        n = 2.5;   |z| = l1 exactly, so w stays 0
  //   z = 1 + 2 - 0 = 3;                     n = 6.5;   w = -(3 - 1) / ((1 + 2.5495097567963922) / 0.5 + 0.5) = -0.2631918494777504
  const optimizer = { kind: 'ftrl' as const, beta: 1, l1: 1, l2: 0.5 };
  const weights = [-0.38390092879256965, -0.2631918494777504];
  const z = [11.941176470588236, 3];
  const n = [169, 6.5];

  test('dense, three steps', async () => {
    for (const backend of await testBackends()) {
      const gradients = [{ values: [3, -0.5] }, { values: [-4, 1.5] }, { values: [12, 2] }];
      const result = await runSteps(backend, optimizer, 0.5, [2], [0, 0], gradients);
      expectNear(`weights on ${backend}`, result.weights, weights);
      expectNear(`z on ${backend}`, result.state['p.z'], z);
      expectNear(`n on ${backend}`, result.state['p.n'], n);
    }
  });

  test('intermediate step zeroes a weight through l1', async () => {
    for (const backend of await testBackends()) {
      const result = await runSteps(backend, optimizer, 0.5, [2], [0, 0], [{ values: [3, -0.5] }, { values: [-4, 1.5] }]);
      // After two steps both weights are exactly 0, because |z| <= l1 for each.
      expect(Array.from(result.weights)).toEqual([0, 0]);
      expectNear(`z on ${backend}`, result.state['p.z'], [-0.0588235294117647, 1]);
    }
  });

  test('row-sparse, one row of a [4, 2] table', async () => {
    // Row 1 contains the two coordinates. Rows 0, 2 and 3 keep their weights and zero state.
    for (const backend of await testBackends()) {
      const gradients = [
        { rows: [1], values: [3, -0.5] },
        { rows: [1], values: [-4, 1.5] },
        { rows: [1], values: [12, 2] },
      ];
      const initial = [0.5, -0.5, 0, 0, 1.5, 2.5, -3, 4];
      const result = await runSteps(backend, optimizer, 0.5, [4, 2], initial, gradients);
      expectNear(`weights on ${backend}`, result.weights, [0.5, -0.5, ...weights, 1.5, 2.5, -3, 4]);
      expectNear(`z on ${backend}`, result.state['p.z'], [0, 0, ...z, 0, 0, 0, 0]);
      expectNear(`n on ${backend}`, result.state['p.n'], [0, 0, ...n, 0, 0, 0, 0]);
    }
  });
});
