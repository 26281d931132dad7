// Row-sparse (lazy) updates against dense ones: equal on touched rows, untouched rows left alone.

import { describe, expect, test } from 'vitest';
import { testBackends } from '../../src/testing/index.js';
import { CONFIGS, runSteps, seeded, type GradientSpec } from './helpers.js';

const ROWS = 20;
const ROW_SIZE = 3;
const TOUCHED = [1, 4, 5, 19];

/** Builds the same gradients twice: row-sparse over TOUCHED, and dense with zeros elsewhere. */
function gradientPair(steps: number): { sparse: GradientSpec[]; dense: GradientSpec[] } {
  const sparse: GradientSpec[] = [];
  const dense: GradientSpec[] = [];
  for (let s = 0; s < steps; s++) {
    const values = seeded(TOUCHED.length * ROW_SIZE, 21, s + 1);
    const full = new Array<number>(ROWS * ROW_SIZE).fill(0);
    TOUCHED.forEach((row, i) => {
      for (let c = 0; c < ROW_SIZE; c++) full[row * ROW_SIZE + c] = values[i * ROW_SIZE + c];
    });
    sparse.push({ rows: TOUCHED, values });
    dense.push({ values: full });
  }
  return { sparse, dense };
}

function rowOf(values: ArrayLike<number>, row: number): number[] {
  return Array.from(values).slice(row * ROW_SIZE, (row + 1) * ROW_SIZE);
}

describe('sparse vs dense updates', () => {
  test('touched rows match the dense update exactly', async () => {
    // Both paths run the same per-element arithmetic on the same backend, so the rows that
    // every step touches agree bit for bit, state included.
    const initial = seeded(ROWS * ROW_SIZE, 8);
    const { sparse, dense } = gradientPair(3);
    for (const backend of await testBackends()) {
      for (const { label, optimizer, lr } of CONFIGS) {
        const lazy = await runSteps(backend, optimizer, lr, [ROWS, ROW_SIZE], initial, sparse);
        const full = await runSteps(backend, optimizer, lr, [ROWS, ROW_SIZE], initial, dense);
        expect(lazy.steps).toEqual(full.steps);
        for (const row of TOUCHED) {
          expect(rowOf(lazy.weights, row), `${label} on ${backend}, weights of row ${row}`).toEqual(rowOf(full.weights, row));
          for (const name of Object.keys(full.state)) {
            expect(rowOf(lazy.state[name], row), `${label} on ${backend}, ${name} of row ${row}`).toEqual(rowOf(full.state[name], row));
          }
        }
      }
    }
  });

  test('untouched rows keep weights and state', async () => {
    const initial = seeded(ROWS * ROW_SIZE, 9);
    const { sparse } = gradientPair(3);
    const initialState: Record<string, number> = { momentum_buffer: 0, exp_avg: 0, exp_avg_sq: 0, sum: 0.1, z: 0, n: 0 };
    for (const backend of await testBackends()) {
      for (const { label, optimizer, lr } of CONFIGS) {
        const lazy = await runSteps(backend, optimizer, lr, [ROWS, ROW_SIZE], initial, sparse);
        for (let row = 0; row < ROWS; row++) {
          if (TOUCHED.includes(row)) continue;
          expect(rowOf(lazy.weights, row), `${label} on ${backend}, row ${row}`).toEqual(rowOf(Float32Array.from(initial), row));
          for (const [key, values] of Object.entries(lazy.state)) {
            const slot = key.slice('p.'.length);
            expect(rowOf(values, row), `${label} on ${backend}, ${slot} of row ${row}`).toEqual(new Array(ROW_SIZE).fill(Math.fround(initialState[slot])));
          }
        }
      }
    }
  });

  test('momentum keeps moving a row only in the dense update', async () => {
    // lr 0.1, momentum 0.5. Step 1: gradient 1 on row 0, so the buffer is 1 and w = 1 - 0.1 = 0.9.
    // Step 2 lists only row 1. Dense: row 0 has gradient 0, so the buffer is 0.5 and
    // w = 0.9 - 0.1 * 0.5 = 0.85. Lazy: row 0 is not listed and stays at 0.9 with buffer 1.
    const optimizer = { kind: 'sgd' as const, momentum: 0.5 };
    for (const backend of await testBackends()) {
      const lazy = await runSteps(backend, optimizer, 0.1, [2, 1], [1, 1], [{ rows: [0], values: [1] }, { rows: [1], values: [1] }]);
      const full = await runSteps(backend, optimizer, 0.1, [2, 1], [1, 1], [{ values: [1, 0] }, { values: [0, 1] }]);
      expect(lazy.weights[0]).toBe(Math.fround(0.9));
      expect(lazy.state['p.momentum_buffer'][0]).toBe(1);
      expect(full.weights[0]).toBeCloseTo(0.85, 6);
      expect(full.state['p.momentum_buffer'][0]).toBe(0.5);
    }
  });

  test('adam bias correction uses the parameter step count', async () => {
    // Row 1 is first listed at step 2, so its update uses t = 2: m = 0.1 g, v = 0.001 g^2,
    // step = lr / (1 - 0.9^2) * m / (sqrt(v) / sqrt(1 - 0.999^2) + eps). For g = 1 and lr 0.01
    // that is 0.01 / 0.19 * 0.1 / (0.0316227766 / 0.0447101778 + 1e-8) = 0.00744157..., not the
    // 0.01 that a first step (t = 1) gives.
    const t = 2;
    const expectedStep = ((0.01 / (1 - 0.9 ** t)) * 0.1) / (Math.sqrt(0.001) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
    for (const backend of await testBackends()) {
      const lazy = await runSteps(backend, { kind: 'adam' }, 0.01, [2], [0, 0], [{ rows: [0], values: [1] }, { rows: [1], values: [1] }]);
      expect(lazy.steps).toEqual({ p: 2 });
      expect(lazy.weights[1]).toBeCloseTo(-expectedStep, 7);
      expect(lazy.weights[0]).toBeCloseTo(-0.01, 7);
    }
  });
});
