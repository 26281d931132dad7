// Dropout with a seeded mask that the CPU and WebGPU backends draw bit for bit alike.

import { mapProgram } from '../kernels/elementwise.js';
import { WGSL_HASH } from '../kernels/random.js';
import { runOp } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, type OpDef } from './op.js';
import { seedToU32, uniformAt } from './random-hash.js';
import { expectDType, expectInputs } from './validate.js';

interface DropoutAttrs {
  rate: number;
  /** Random stream, already folded by `seedToU32`. */
  stream: number;
}

/** Uniform draws are multiples of 2^-24, so `u >= rate` is the same test as `u >= ceil(rate * 2^24) / 2^24`. */
function keepThreshold(rate: number): number {
  return Math.ceil(rate * 16777216) / 16777216;
}

/**
 * Computes the scale of kept values, rounded to float32 for both backends, so that the WebGPU
 * product and the CPU product round to the same float32 value.
 */
function keepScale(rate: number): number {
  return Math.fround(1 / (1 - rate));
}

/**
 * Keeps element i (flat index) of `x` iff `uniformAt(stream, i) >= rate` and scales it by
 * 1 / (1 - rate); the other elements become 0. The mask depends on the seed, the rate and
 * the element index only, so the backward pass applies this same op to the gradient.
 */
export const dropoutOp: OpDef<DropoutAttrs> = defineOp<DropoutAttrs>({
  name: 'dropout',
  shape(inputs) {
    expectInputs('dropout', inputs, 1);
    expectDType('dropout', inputs[0], ['f32']);
    return [{ shape: inputs[0].shape, dtype: 'f32' }];
  },
  cpu({ inputs: [x], outputs: [y], attrs }) {
    const scale = keepScale(attrs.rate);
    for (let i = 0; i < x.length; i++) y[i] = uniformAt(attrs.stream, i) >= attrs.rate ? x[i] * scale : 0;
  },
  webgpu({ inputSpecs, outputSpecs, attrs }) {
    // The threshold is a multiple of 2^-24 in [0, 1], exact in float32, unlike the rate itself.
    return mapProgram({
      name: 'dropout',
      inputs: inputSpecs,
      output: outputSpecs[0],
      expression: 'select(0.0, x0 * u.scale, sparrow_uniform(u.seed, i) >= u.threshold)',
      helpers: WGSL_HASH,
      uniforms: [
        ['seed', 'u32', attrs.stream],
        ['threshold', 'f32', keepThreshold(attrs.rate)],
        ['scale', 'f32', keepScale(attrs.rate)],
      ],
    });
  },
  backward: ({ grads: [g], attrs }) => [runOp(dropoutOp, [g!], attrs)[0]],
  describeAttrs: (attrs) => `rate ${attrs.rate}`,
});

/**
 * Zeroes each element of `x` with probability `rate` and scales the rest by 1 / (1 - rate).
 * The mask comes from the integer `seed`, and one seed gives the same mask on every backend.
 * `rate` 0 returns a copy of `x`.
 */
export function dropout(x: Tensor, rate: number, seed: number): Tensor {
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new RangeError(`dropout: rate ${rate} is out of range; expected 0 <= rate < 1`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`dropout: seed ${seed} is not a safe integer`);
  return runOp(dropoutOp, [x], { rate, stream: seedToU32(seed) })[0];
}
