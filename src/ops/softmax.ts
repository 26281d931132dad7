// Softmax and log-softmax along one axis, stabilized by subtracting each row's maximum.

import { softmaxProgram, type SoftmaxKind } from '../kernels/softmax.js';
import { runOp, tidy } from '../tensor/engine.js';
import { normalizeAxis, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { exp, mul, sub } from './elementwise.js';
import { defineOp, type BackwardFn, type OpDef } from './op.js';
import { sum } from './reduce.js';
import { expectDType, expectInputs } from './validate.js';

interface SoftmaxAttrs {
  /** Non-negative axis. */
  axis: number;
}

/**
 * Defines one of the pair. For each row r along `axis`, with m = max(r) and s = sum(exp(r - m)):
 * softmax is exp(r - m) / s and log-softmax is r - m - log(s). A row of only -Infinity gives
 * NaN on both backends. Empty tensors give empty outputs.
 */
function defineSoftmax(kind: SoftmaxKind, backward: BackwardFn<SoftmaxAttrs>): OpDef<SoftmaxAttrs> {
  return defineOp<SoftmaxAttrs>({
    name: kind,
    shape(inputs, { axis }) {
      expectInputs(kind, inputs, 1);
      expectDType(kind, inputs[0], ['f32']);
      normalizeAxis(kind, axis, inputs[0].shape.length);
      return [{ shape: inputs[0].shape, dtype: 'f32' }];
    },
    cpu({ inputs: [x], outputs: [y], inputSpecs, attrs }) {
      const shape = inputSpecs[0].shape;
      const length = shape[attrs.axis];
      const inner = sizeOf(shape.slice(attrs.axis + 1));
      const outer = sizeOf(shape.slice(0, attrs.axis));

      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * length * inner + i;
          let rowMax = -Infinity;
          for (let k = 0; k < length; k++) rowMax = Math.max(rowMax, x[base + k * inner]);

          let total = 0;
          for (let k = 0; k < length; k++) total += Math.exp(x[base + k * inner] - rowMax);

          const logTotal = Math.log(total);
          for (let k = 0; k < length; k++) {
            const shifted = x[base + k * inner] - rowMax;
            y[base + k * inner] = kind === 'softmax' ? Math.exp(shifted) / total : shifted - logTotal;
          }
        }
      }
    },
    webgpu({ inputSpecs, attrs }) {
      const shape = inputSpecs[0].shape;
      if (sizeOf(shape) === 0) return { passes: [] };
      return softmaxProgram(kind, sizeOf(shape.slice(0, attrs.axis)), shape[attrs.axis], sizeOf(shape.slice(attrs.axis + 1)));
    },
    backward,
    describeAttrs: (attrs) => `axis ${attrs.axis}`,
  });
}

/** Gradient: dx = y * (g - sum(g * y, axis)). */
export const softmaxOp = defineSoftmax('softmax', ({ outputs: [y], grads: [g], attrs }) =>
  tidy(() => [mul(y, sub(g!, sum(mul(g!, y), attrs.axis, true)))]),
);

/** Gradient: dx = g - exp(y) * sum(g, axis). */
export const logSoftmaxOp = defineSoftmax('logSoftmax', ({ outputs: [y], grads: [g], attrs }) =>
  tidy(() => [sub(g!, mul(exp(y), sum(g!, attrs.axis, true)))]),
);

/** Softmax along `axis` (default: the last): exp(x - max) / sum(exp(x - max)). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return runOp(softmaxOp, [x], { axis: normalizeAxis('softmax', axis, x.rank) })[0];
}

/** Log-softmax along `axis` (default: the last): x - max - log(sum(exp(x - max))). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return runOp(logSoftmaxOp, [x], { axis: normalizeAxis('logSoftmax', axis, x.rank) })[0];
}
