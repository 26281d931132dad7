// Runs a function on every backend present and compares each result with the CPU reference.

import type { BackendName } from '../backend/backend.js';
import { getWebGPUBackend, init } from '../backend/registry.js';
import { envValue } from '../host.js';
import { tensor } from '../ops/creation.js';
import { mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { tidy } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { inputValues, type InputSpec } from './inputs.js';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface ParityOptions {
  /** Value tolerance of the forward outputs. */
  tolerance: Tolerance;
  /** Tolerance of the gradients (default: the forward tolerance). */
  gradTolerance?: Tolerance;
  /** Also compare gradients of a weighted sum of the first output (default true). */
  gradients?: boolean;
  seed?: number;
}

/**
 * Backends to test on: the CPU always, WebGPU when an adapter exists. With
 * SPARROW_REQUIRE_WEBGPU=1 a missing adapter throws instead of being skipped.
 */
export async function testBackends(): Promise<BackendName[]> {
  // Without a requirement, SPARROW_BACKEND (or auto) decides.
  await init({ backend: envValue('SPARROW_REQUIRE_WEBGPU') === '1' ? 'webgpu' : undefined });
  return getWebGPUBackend() ? ['cpu', 'webgpu'] : ['cpu'];
}

interface RunResult {
  outputs: { shape: number[]; dtype: string; values: Float64Array }[];
  grads: (Float64Array | null)[];
}

async function runOn(
  backend: BackendName,
  fn: (...inputs: Tensor[]) => Tensor | Tensor[],
  specs: InputSpec[],
  seed: number,
  withGradients: boolean,
): Promise<RunResult> {
  const inputs = specs.map((spec, i) =>
    tensor(inputValues(spec, seed, i), spec.shape, {
      dtype: spec.dtype ?? 'f32',
      backend,
      requiresGrad: withGradients && (spec.differentiable ?? (spec.dtype ?? 'f32') === 'f32'),
    }),
  );

  const outputs = tidy(() => {
    const result = fn(...inputs);
    const list = Array.isArray(result) ? result : [result];
    if (withGradients && list[0].requiresGrad) {
      const weights = inputValues({ shape: [...list[0].shape], low: 0.5, high: 1.5 }, seed + 1, 0);
      sum(mul(list[0], tensor(weights, [...list[0].shape], { backend }))).backward();
    }
    return list;
  });

  const result: RunResult = { outputs: [], grads: [] };
  for (const output of outputs) {
    result.outputs.push({ shape: [...output.shape], dtype: output.dtype, values: Float64Array.from(await output.data()) });
    output.dispose();
  }
  for (const input of inputs) {
    result.grads.push(input.grad ? Float64Array.from(await input.grad.data()) : null);
    input.grad?.dispose();
    input.dispose();
  }
  return result;
}

function compare(what: string, expected: Float64Array, actual: Float64Array, tolerance: Tolerance): void {
  if (expected.length !== actual.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);

  let failures = 0;
  let first = '';
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    const same = Object.is(e, a) || (Number.isNaN(e) && Number.isNaN(a));
    if (same || Math.abs(a - e) <= tolerance.atol + tolerance.rtol * Math.abs(e)) continue;
    if (failures === 0) first = `element ${i}: got ${a}, expected ${e}`;
    failures++;
  }
  if (failures > 0) {
    throw new Error(`${what}: ${failures} of ${expected.length} elements differ beyond atol ${tolerance.atol}, rtol ${tolerance.rtol}; first at ${first}`);
  }
}

/**
 * Runs `fn` on seeded inputs on the CPU and on each other backend, and compares shapes,
 * dtypes and values of every output, then the gradients of all differentiable inputs.
 */
export async function expectParity(
  name: string,
  fn: (...inputs: Tensor[]) => Tensor | Tensor[],
  specs: InputSpec[],
  options: ParityOptions,
): Promise<void> {
  const seed = options.seed ?? 7;
  const withGradients = options.gradients ?? true;
  const backends = await testBackends();
  const reference = await runOn('cpu', fn, specs, seed, withGradients);
  if (reference.outputs.every((output) => output.values.length > 0 && output.values.every((v) => v === 0))) {
    throw new Error(`${name}: the reference output is all zeros; choose inputs that exercise the op`);
  }

  for (const backend of backends.filter((b) => b !== 'cpu')) {
    const actual = await runOn(backend, fn, specs, seed, withGradients);
    reference.outputs.forEach((expected, i) => {
      const got = actual.outputs[i];
      const label = `${name} on ${backend}, output ${i}`;
      if (got.dtype !== expected.dtype) throw new Error(`${label}: dtype ${got.dtype}, expected ${expected.dtype}`);
      if (formatShape(got.shape) !== formatShape(expected.shape)) {
        throw new Error(`${label}: shape ${formatShape(got.shape)}, expected ${formatShape(expected.shape)}`);
      }
      compare(label, expected.values, got.values, options.tolerance);
    });
    reference.grads.forEach((expected, i) => {
      const got = actual.grads[i];
      if (expected === null && got === null) return;
      if (expected === null || got === null) throw new Error(`${name} on ${backend}: gradient of input ${i} exists on one backend only`);
      compare(`${name} on ${backend}, gradient of input ${i}`, expected, got, options.gradTolerance ?? options.tolerance);
    });
  }
}
