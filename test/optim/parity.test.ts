// CPU vs WebGPU parity of every optimizer update, dense and row-sparse, over several steps.

import { describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { testBackends } from '../../src/testing/index.js';
import { CONFIGS, denseGradients, runSteps, seeded, sparseGradients, type RunResult } from './helpers.js';

// The CPU reference computes each update in float64 and rounds once when it stores a value.
// The WGSL pass rounds every operation to f32, and WGSL allows division 2.5 ULP and sqrt
// about 2 ULP of error, so after three steps values differ by a few f32 ULP of the
// magnitudes involved (|w| up to about 2, so about 1e-6).
const TOLERANCE = { atol: 2e-6, rtol: 2e-5 };

function expectClose(label: string, actual: Float32Array, expected: Float32Array): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let failures = 0;
  let first = '';
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (difference <= TOLERANCE.atol + TOLERANCE.rtol * Math.abs(expected[i])) continue;
    if (failures === 0) first = `element ${i}: webgpu ${actual[i]}, cpu ${expected[i]}`;
    failures++;
  }
  expect(failures, `${label}: ${failures} elements differ; first at ${first}`).toBe(0);
}

function expectParity(label: string, actual: RunResult, expected: RunResult): void {
  expect(actual.steps).toEqual(expected.steps);
  expect(Object.keys(actual.state).sort()).toEqual(Object.keys(expected.state).sort());
  expectClose(`${label} weights`, actual.weights, expected.weights);
  for (const name of Object.keys(expected.state)) expectClose(`${label} ${name}`, actual.state[name], expected.state[name]);
}

async function webgpuPresent(): Promise<boolean> {
  return (await testBackends()).includes('webgpu');
}

describe('optimizer parity', () => {
  // A [300] parameter spans two 256-wide workgroups; [37, 5] has a prime row count.
  test('dense updates match the CPU', async () => {
    if (!(await webgpuPresent())) return;
    for (const shape of [[300], [37, 5]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const initial = seeded(size, 3);
      const gradients = denseGradients(size, 3, 11);
      for (const { label, optimizer, lr } of CONFIGS) {
        const cpu = await runSteps('cpu', optimizer, lr, shape, initial, gradients);
        const gpu = await runSteps('webgpu', optimizer, lr, shape, initial, gradients);
        expectParity(`${label} dense [${shape}]`, gpu, cpu);
      }
    }
  });

  test('row-sparse updates match the CPU', async () => {
    if (!(await webgpuPresent())) return;
    // [61, 7] has rows of 7 elements, so one workgroup straddles rows. The steps touch the
    // first and last rows, one row alone, and 60 rows (420 elements, past one workgroup).
    // Rows of a multiple of 4 elements (8, 12, 16, 64) run the vec4 kernel, 4 elements per
    // invocation.
    const rowsPerStep = [[0, 5, 60], [5], Array.from({ length: 60 }, (_, i) => i + 1), [2, 3, 5, 7, 11, 13]];
    for (const rowSize of [7, 8, 12, 16, 64]) {
      const shape = [61, rowSize];
      const initial = seeded(61 * rowSize, 5);
      const gradients = sparseGradients(rowSize, rowsPerStep, 13);
      for (const { label, optimizer, lr } of CONFIGS) {
        const cpu = await runSteps('cpu', optimizer, lr, shape, initial, gradients);
        const gpu = await runSteps('webgpu', optimizer, lr, shape, initial, gradients);
        expectParity(`${label} sparse [${shape}]`, gpu, cpu);
      }
    }
  });

  test('row-sparse update of a rank-1 parameter', async () => {
    if (!(await webgpuPresent())) return;
    // A wide-part weight vector [V]: each row is one element.
    const initial = seeded(1000, 6);
    const gradients = sparseGradients(1, [[0, 17, 999], [17, 500]], 17);
    for (const { label, optimizer, lr } of CONFIGS) {
      const cpu = await runSteps('cpu', optimizer, lr, [1000], initial, gradients);
      const gpu = await runSteps('webgpu', optimizer, lr, [1000], initial, gradients);
      expectParity(`${label} sparse [1000]`, gpu, cpu);
    }
  });

  test('dense update past 65,535 workgroups', async () => {
    if (!(await webgpuPresent())) return;
    // 65,535 x 256 + 1 elements need a second grid row; w = 1 - 0.25 * 0.5 everywhere.
    const size = 65535 * 256 + 1;
    const w = sp.full([size], 1, { backend: 'webgpu', requiresGrad: true });
    const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'sgd' }, lr: 0.25 }]);
    w.grad = sp.full([size], 0.5, { backend: 'webgpu' });
    opt.step();
    const values = await w.data();
    expect(values.every((value) => value === 0.875)).toBe(true);
    opt.zeroGrad();
    w.dispose();
  });
});
