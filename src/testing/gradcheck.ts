// Finite-difference gradient checks in float64 on the CPU backend.

import { getCpuBackend } from '../backend/registry.js';
import { withFloat64 } from '../backend/cpu/cpu-backend.js';
import { tensor } from '../ops/creation.js';
import { mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { inputValues, type InputSpec } from './inputs.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  seed?: number;
}

export interface GradcheckFailure {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

function read(x: Tensor): Float64Array {
  return Float64Array.from(getCpuBackend().readSync(x.storage('gradcheck')));
}

/**
 * Checks the gradients of `fn` against central differences, in float64 on the CPU backend.
 * A non-scalar output is projected onto seeded random weights, so every output element
 * takes part. Throws an Error listing the first mismatches; returns the number of checked
 * elements.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, specs: InputSpec[], options: GradcheckOptions = {}): number {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const seed = options.seed ?? 1;
  const values = specs.map((spec, i) => inputValues(spec, seed, i));
  const differentiable = specs.map((spec) => spec.differentiable ?? (spec.dtype ?? 'f32') === 'f32');

  return withFloat64(() => {
    const makeInputs = (overrides?: { input: number; values: number[] }) =>
      specs.map((spec, i) =>
        tensor(overrides?.input === i ? overrides.values : values[i], spec.shape, {
          dtype: spec.dtype ?? 'f32',
          backend: 'cpu',
          requiresGrad: !overrides && differentiable[i],
        }),
      );

    let weights: number[] = [];
    const objective = (inputs: Tensor[]): Tensor => {
      const y = fn(...inputs);
      if (weights.length === 0) weights = inputValues({ shape: [...y.shape], low: 0.5, high: 1.5 }, seed + 1, 0);
      return sum(mul(y, tensor(weights, [...y.shape], { backend: 'cpu' })));
    };

    const inputs = makeInputs();
    const analytic = tidy(() => {
      objective(inputs).backward();
      return inputs.map((x, i) => (differentiable[i] ? (x.grad ? read(x.grad) : new Float64Array(x.size)) : null));
    });

    const failures: GradcheckFailure[] = [];
    let checked = 0;
    specs.forEach((spec, k) => {
      const grad = analytic[k];
      if (grad === null) return;
      for (let j = 0; j < values[k].length; j++) {
        const evaluate = (delta: number) =>
          noGrad(() =>
            tidy(() => {
              const perturbed = values[k].slice();
              perturbed[j] += delta;
              return read(objective(makeInputs({ input: k, values: perturbed })))[0];
            }),
          );
        const numeric = (evaluate(eps) - evaluate(-eps)) / (2 * eps);
        checked++;
        if (!(Math.abs(grad[j] - numeric) <= atol + rtol * Math.abs(numeric))) {
          failures.push({ input: k, index: j, analytic: grad[j], numeric });
        }
      }
    });
    inputs.forEach((x) => {
      x.grad?.dispose();
      x.dispose();
    });

    if (failures.length > 0) {
      const lines = failures
        .slice(0, 5)
        .map((f) => `  input ${f.input} ${formatShape(specs[f.input].shape)} element ${f.index}: analytic ${f.analytic}, numeric ${f.numeric}`);
      throw new Error(`gradcheck: ${failures.length} of ${checked} gradient elements differ (atol ${atol}, rtol ${rtol}):\n${lines.join('\n')}`);
    }
    return checked;
  });
}
