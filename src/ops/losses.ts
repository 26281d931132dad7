// Loss functions: binary cross-entropy on logits, mean squared error, softmax cross-entropy.

import { mapProgram } from '../kernels/elementwise.js';
import { DTypeError, ShapeError } from '../errors.js';
import { runOp, tidy } from '../tensor/engine.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { mul, neg, sigmoid, sub } from './elementwise.js';
import { oneHot } from './gather.js';
import { defineOp } from './op.js';
import { mean, sum } from './reduce.js';
import { logSoftmax } from './softmax.js';
import { expectDType, expectInputs } from './validate.js';

/** Reduction of per-element losses to the result: their mean, their sum, or the losses themselves. */
export type Reduction = 'mean' | 'sum' | 'none';

export interface LossOptions {
  /** Default 'mean'. */
  reduction?: Reduction;
}

function resolveReduction(op: string, options: LossOptions): Reduction {
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeError(`${op}: invalid reduction "${String(reduction)}"; expected 'mean', 'sum' or 'none'`);
  }
  return reduction;
}

function applyReduction(losses: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(losses);
  if (reduction === 'sum') return sum(losses);
  return losses;
}

// ---------------------------------------------------------------------------------------------
// Binary cross-entropy with logits

/**
 * log(1 + t) for t in [0, 1], the range the loss needs because t = exp(-|x|). WGSL has no
 * log1p, and log(1.0 + t) returns 0 once 1 + t rounds to 1 in float32 (|x| above about 17).
 * The correction log(w) * t / (w - 1) with w = 1 + t gave the same wrong results on the
 * llvmpipe adapter, because the shader compiler folded (w - 1) into t. So this computes
 * 2 atanh(s) with s = t / (2 + t) <= 1/3 as its odd series up to s^17, whose truncation
 * error is below 2e-10 relative.
 */
const WGSL_LOG1P_UNIT = `fn sparrow_log1p_unit(t: f32) -> f32 {
  let s = t / (2.0 + t);
  let s2 = s * s;
  var series = 1.0 / 17.0;
  series = 1.0 / 15.0 + s2 * series;
  series = 1.0 / 13.0 + s2 * series;
  series = 1.0 / 11.0 + s2 * series;
  series = 1.0 / 9.0 + s2 * series;
  series = 1.0 / 7.0 + s2 * series;
  series = 1.0 / 5.0 + s2 * series;
  series = 1.0 / 3.0 + s2 * series;
  series = 1.0 + s2 * series;
  return 2.0 * s * series;
}`;

/**
 * Per-element binary cross-entropy of logits x and labels z (same shape, f32):
 * max(x, 0) - x * z + log(1 + exp(-|x|)), which equals -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))
 * and stays finite at any finite logit, because exp only receives non-positive arguments. The
 * gradient is sigmoid(x) - z for the logits and -x for the labels.
 */
export const binaryCrossEntropyWithLogitsOp = defineOp({
  name: 'binaryCrossEntropyWithLogits',
  shape(inputs) {
    const op = 'binaryCrossEntropyWithLogits';
    expectInputs(op, inputs, 2);
    expectDType(op, inputs[0], ['f32'], 'logits');
    expectDType(op, inputs[1], ['f32'], 'labels');
    if (!shapesEqual(inputs[0].shape, inputs[1].shape)) {
      throw new ShapeError(`${op}: logits ${formatShape(inputs[0].shape)} and labels ${formatShape(inputs[1].shape)} must have the same shape`);
    }
    return [{ shape: inputs[0].shape, dtype: 'f32' }];
  },
  cpu({ inputs: [x, z], outputs: [y] }) {
    for (let i = 0; i < x.length; i++) y[i] = Math.max(x[i], 0) - x[i] * z[i] + Math.log1p(Math.exp(-Math.abs(x[i])));
  },
  webgpu: ({ inputSpecs, outputSpecs }) =>
    mapProgram({
      name: 'binaryCrossEntropyWithLogits',
      inputs: inputSpecs,
      output: outputSpecs[0],
      expression: 'max(x0, 0.0) - x0 * x1 + sparrow_log1p_unit(exp(-abs(x0)))',
      helpers: WGSL_LOG1P_UNIT,
    }),
  backward: ({ inputs: [x, z], grads: [g], needsInputGrad }) => [
    runOp(binaryCrossEntropyLogitsGradOp, [x, z, g!], {})[0],
    needsInputGrad[1] ? mul(g!, neg(x)) : null,
  ],
  describeAttrs: () => '',
});

/**
 * The logits' gradient of binary cross-entropy, g * (sigmoid(x) - z), for logits x, labels z
 * and upstream gradient g of one shape, in one pass instead of three. Differentiable, so
 * second derivatives of the loss still work.
 */
export const binaryCrossEntropyLogitsGradOp = defineOp({
  name: 'binaryCrossEntropyLogitsGrad',
  shape(inputs) {
    const op = 'binaryCrossEntropyLogitsGrad';
    expectInputs(op, inputs, 3);
    for (const input of inputs) expectDType(op, input, ['f32']);
    if (!inputs.every((input) => shapesEqual(input.shape, inputs[0].shape))) {
      throw new ShapeError(`${op}: logits, labels and gradient must have one shape, got ${inputs.map((input) => formatShape(input.shape)).join(', ')}`);
    }
    return [{ shape: inputs[0].shape, dtype: 'f32' }];
  },
  cpu({ inputs: [x, z, g], outputs: [y] }) {
    for (let i = 0; i < x.length; i++) {
      const s = x[i] >= 0 ? 1 / (1 + Math.exp(-x[i])) : Math.exp(x[i]) / (1 + Math.exp(x[i]));
      y[i] = g[i] * (s - z[i]);
    }
  },
  webgpu: ({ inputSpecs, outputSpecs }) =>
    mapProgram({
      name: 'binaryCrossEntropyLogitsGrad',
      inputs: inputSpecs,
      output: outputSpecs[0],
      expression: 'x2 * (select(exp(x0) / (1.0 + exp(x0)), 1.0 / (1.0 + exp(-x0)), x0 >= 0.0) - x1)',
    }),
  backward: ({ inputs: [x, z, g], grads: [gg] }) => {
    const s = sigmoid(x);
    return [mul(gg!, mul(g, mul(s, sub(1, s)))), neg(mul(gg!, g)), mul(gg!, sub(s, z))];
  },
  describeAttrs: () => '',
});

export interface BinaryCrossEntropyOptions extends LossOptions {
  /** Per-element weights, broadcast against the logits; they multiply the losses before the reduction. */
  weights?: Tensor;
}

/**
 * Binary cross-entropy of `labels` (usually in [0, 1]) given `logits`, both f32 of one shape:
 * the sigmoid and the log fused into one stable element-wise op, see
 * `binaryCrossEntropyWithLogitsOp`. The 'mean' reduction divides the weighted sum by the
 * number of elements, not by the sum of the weights.
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, labels: Tensor, options: BinaryCrossEntropyOptions = {}): Tensor {
  const reduction = resolveReduction('binaryCrossEntropyWithLogits', options);
  return tidy(() => {
    const losses = runOp(binaryCrossEntropyWithLogitsOp, [logits, labels], {})[0];
    const weighted = options.weights === undefined ? losses : mul(losses, options.weights);
    return applyReduction(weighted, reduction);
  });
}

// ---------------------------------------------------------------------------------------------
// Mean squared error

/** (pred - target)^2 per element, reduced by `reduction`; both inputs f32 of one shape. */
export function meanSquaredError(pred: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  const reduction = resolveReduction('meanSquaredError', options);
  if (!shapesEqual(pred.shape, target.shape)) {
    throw new ShapeError(`meanSquaredError: pred ${formatShape(pred.shape)} and target ${formatShape(target.shape)} must have the same shape`);
  }
  return tidy(() => {
    const difference = sub(pred, target);
    return applyReduction(mul(difference, difference), reduction);
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy

/**
 * Cross-entropy of class labels given `logits` f32 [N, C], per row -sum_c p[c] * logSoftmax(logits)[c].
 * `labels` are either probabilities p, f32 [N, C], which get a gradient when they require one,
 * or class ids, i32 or u32 [N], that `oneHot` turns into p. An id outside [0, C) therefore
 * raises a RangeError on the CPU and gives a zero loss for its row on WebGPU.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, options: LossOptions = {}): Tensor {
  const op = 'softmaxCrossEntropy';
  const reduction = resolveReduction(op, options);
  expectDType(op, logits, ['f32'], 'logits');
  if (logits.rank !== 2) throw new ShapeError(`${op}: logits must have shape [N, C], got ${formatShape(logits.shape)}`);
  const [rows, classes] = logits.shape;

  if (labels.dtype === 'f32') {
    if (!shapesEqual(labels.shape, logits.shape)) {
      throw new ShapeError(`${op}: probability labels ${formatShape(labels.shape)} must have the logits' shape ${formatShape(logits.shape)}`);
    }
  } else if (labels.dtype === 'i32' || labels.dtype === 'u32') {
    if (!shapesEqual(labels.shape, [rows])) {
      throw new ShapeError(`${op}: class-id labels ${labels.dtype}${formatShape(labels.shape)} must have shape [${rows}], one id per logits row`);
    }
  } else {
    throw new DTypeError(`${op}: labels have dtype ${String(labels.dtype)}; expected i32 or u32 class ids, or f32 probabilities`);
  }

  return tidy(() => {
    const probabilities = labels.dtype === 'f32' ? labels : oneHotLabels(op, labels, classes);
    const perRow = neg(sum(mul(probabilities, logSoftmax(logits, -1)), 1));
    return applyReduction(perRow, reduction);
  });
}

/** `oneHot(labels, classes)`, with an out-of-range id reported as a label of `op`. */
function oneHotLabels(op: string, labels: Tensor, classes: number): Tensor {
  const prefix = 'oneHot: ids';
  try {
    return oneHot(labels, classes);
  } catch (error) {
    if (!(error instanceof RangeError) || !error.message.startsWith(prefix)) throw error;
    const detail = error.message.slice(prefix.length).replace('of classes (depth)', `of the ${classes} classes (logits columns)`);
    throw new RangeError(`${op}: labels${detail}`);
  }
}
