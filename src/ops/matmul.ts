// Matrix multiplication (2-D and batched, either operand transposed) and the fused linear layer.

import { matmulProgram, type MatmulActivation, type MatmulParams } from '../kernels/matmul.js';
import { DTypeError, ShapeError } from '../errors.js';
import { reshapeOwned, runOp } from '../tensor/engine.js';
import { formatShape, sizeOf, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { leakyReluSlopeOp, maskPositive, mul, sub } from './elementwise.js';
import { defineOp, type TensorSpec } from './op.js';
import { sum, sumToShape } from './reduce.js';

const ACTIVATIONS: readonly MatmulActivation[] = ['none', 'relu', 'sigmoid', 'tanh', 'leakyRelu'];

export interface MatmulOptions {
  /** A is stored as [..., k, m] and used transposed. */
  transposeA?: boolean;
  /** B is stored as [..., n, k] and used transposed. */
  transposeB?: boolean;
}

interface MatmulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation: MatmulActivation;
  leakyAlpha: number;
}

interface MatmulGeometry {
  batchShape: number[];
  batch: number;
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
}

/**
 * Shapes of `op(A) op(B)`: the last two dimensions multiply; leading (batch) dimensions must
 * be equal, or one operand must have none or only ones (it is then shared by every batch).
 */
function geometry(name: string, a: TensorSpec, b: TensorSpec, attrs: MatmulAttrs): MatmulGeometry {
  for (const spec of [a, b]) {
    if (spec.dtype !== 'f32') throw new DTypeError(`${name}: inputs must be f32, got ${spec.dtype}${formatShape(spec.shape)}`);
    if (spec.shape.length < 2) throw new ShapeError(`${name}: inputs need rank 2 or more, got ${formatShape(spec.shape)}`);
  }
  const [rowsA, colsA] = a.shape.slice(-2);
  const [rowsB, colsB] = b.shape.slice(-2);
  const [m, kA] = attrs.transposeA ? [colsA, rowsA] : [rowsA, colsA];
  const [kB, n] = attrs.transposeB ? [colsB, rowsB] : [rowsB, colsB];
  if (kA !== kB) {
    throw new ShapeError(
      `${name}: inner dimensions differ: ${formatShape(a.shape)}${attrs.transposeA ? 'ᵀ' : ''} x ${formatShape(b.shape)}${attrs.transposeB ? 'ᵀ' : ''} (${kA} vs ${kB})`,
    );
  }

  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchA = sizeOf(batchShapeA);
  const batchB = sizeOf(batchShapeB);
  let batchShape: number[];
  // Both operands unbatched (batch dimensions of ones only): the output keeps the longer ones.
  if (batchA === 1 && batchB === 1) batchShape = [...(batchShapeA.length >= batchShapeB.length ? batchShapeA : batchShapeB)];
  else if (batchA === 1) batchShape = [...batchShapeB];
  else if (batchB === 1 || formatShape(batchShapeA) === formatShape(batchShapeB)) batchShape = [...batchShapeA];
  else {
    throw new ShapeError(`${name}: batch dimensions ${formatShape(batchShapeA)} and ${formatShape(batchShapeB)} differ; they must be equal or one of them 1`);
  }
  if (batchShapeA.length > 0 && batchShapeB.length > 0 && batchA !== 1 && batchB !== 1 && batchShapeA.length !== batchShapeB.length) {
    throw new ShapeError(`${name}: batch ranks differ: ${formatShape(batchShapeA)} and ${formatShape(batchShapeB)}`);
  }
  return { batchShape, batch: sizeOf(batchShape), batchA, batchB, m, k: kA, n };
}

function activate(value: number, attrs: MatmulAttrs): number {
  switch (attrs.activation) {
    case 'none':
      return value;
    case 'relu':
      return value > 0 ? value : 0;
    case 'leakyRelu':
      return value > 0 ? value : attrs.leakyAlpha * value;
    case 'sigmoid':
      return value >= 0 ? 1 / (1 + Math.exp(-value)) : Math.exp(value) / (1 + Math.exp(value));
    case 'tanh':
      return Math.tanh(value);
  }
}

/**
 * Computes C = act(op(A) op(B) + bias) for every batch. Inputs: A, B and, for the fused
 * linear layer, a bias of length n. The CPU sums each dot product in float64 and rounds
 * once; the GPU accumulates in float32, so results differ by about sqrt(k) ulps.
 */
export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  shape(inputs, attrs) {
    if (inputs.length !== 2 && inputs.length !== 3) throw new ShapeError(`matmul: expected 2 or 3 inputs, got ${inputs.length}`);
    const g = geometry('matmul', inputs[0], inputs[1], attrs);
    const bias = inputs[2];
    if (bias && (bias.dtype !== 'f32' || bias.shape.length !== 1 || bias.shape[0] !== g.n)) {
      throw new ShapeError(`linear: bias must be f32 [${g.n}], got ${bias.dtype}${formatShape(bias.shape)}`);
    }
    return [{ shape: [...g.batchShape, g.m, g.n], dtype: 'f32' }];
  },
  cpu({ inputs: [a, b, bias], outputs: [c], inputSpecs, attrs }) {
    const { batch, batchA, batchB, m, k, n } = geometry('matmul', inputSpecs[0], inputSpecs[1], attrs);
    for (let t = 0; t < batch; t++) {
      const baseA = (batchA === 1 ? 0 : t) * m * k;
      const baseB = (batchB === 1 ? 0 : t) * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let total = 0;
          for (let p = 0; p < k; p++) {
            const av = attrs.transposeA ? a[baseA + p * m + i] : a[baseA + i * k + p];
            const bv = attrs.transposeB ? b[baseB + j * k + p] : b[baseB + p * n + j];
            total += av * bv;
          }
          if (bias) total += bias[j];
          c[t * m * n + i * n + j] = activate(total, attrs);
        }
      }
    }
  },
  webgpu({ inputSpecs, attrs, limits }) {
    const g = geometry('matmul', inputSpecs[0], inputSpecs[1], attrs);
    const params: MatmulParams = {
      batch: g.batch,
      batchA: g.batchA === 1 ? 1 : g.batch,
      batchB: g.batchB === 1 ? 1 : g.batch,
      m: g.m,
      n: g.n,
      k: g.k,
      transposeA: attrs.transposeA,
      transposeB: attrs.transposeB,
      bias: inputSpecs.length === 3,
      activation: attrs.activation,
      leakyAlpha: attrs.leakyAlpha,
    };
    return matmulProgram(params, limits);
  },
  backward: ({ inputs: [a, b, bias], outputs: [y], grads: [g], attrs }) => {
    const gradZ = preActivationGrad(g!, y, attrs);
    const { transposeA: tA, transposeB: tB } = attrs;

    let gradA: Tensor;
    let gradB: Tensor;
    if (!tA && !tB) {
      gradA = matmul(gradZ, b, { transposeB: true });
      gradB = matmul(a, gradZ, { transposeA: true });
    } else if (!tA && tB) {
      gradA = matmul(gradZ, b);
      gradB = matmul(gradZ, a, { transposeA: true });
    } else if (tA && !tB) {
      gradA = matmul(b, gradZ, { transposeB: true });
      gradB = matmul(a, gradZ);
    } else {
      gradA = matmul(b, gradZ, { transposeA: true, transposeB: true });
      gradB = matmul(gradZ, a, { transposeA: true, transposeB: true });
    }

    const grads: (Tensor | null)[] = [reduceBatch(gradA, a.shape), reduceBatch(gradB, b.shape)];
    if (bias) grads.push(sum(gradZ.reshape([-1, gradZ.shape[gradZ.rank - 1]]), 0));
    return grads;
  },
  describeAttrs: (attrs) =>
    `${attrs.transposeA ? 'Aᵀ' : 'A'}${attrs.transposeB ? 'Bᵀ' : 'B'}${attrs.activation === 'none' ? '' : ` ${attrs.activation}`}`,
});

/** Gradient with respect to the pre-activation value, computed from the output y. */
function preActivationGrad(g: Tensor, y: Tensor, attrs: MatmulAttrs): Tensor {
  switch (attrs.activation) {
    case 'none':
      return g;
    case 'relu':
      return maskPositive(g, y);
    case 'leakyRelu':
      // With alpha > 0, y > 0 exactly where the pre-activation is positive.
      return mul(g, runOp(leakyReluSlopeOp, [y], { alpha: attrs.leakyAlpha, low: 0, high: 0 })[0]);
    case 'sigmoid':
      return mul(g, mul(y, sub(1, y)));
    case 'tanh':
      return mul(g, sub(1, mul(y, y)));
  }
}

/** Sums a per-batch gradient over the batches that shared one operand. */
function reduceBatch(grad: Tensor, shape: Shape): Tensor {
  if (grad.rank === shape.length && formatShape(grad.shape) === formatShape(shape)) return grad;
  const [rows, cols] = shape.slice(-2);
  const summed = sumToShape(reshapeOwned(grad, [-1, rows, cols]), [1, rows, cols]);
  return reshapeOwned(summed, [...shape]);
}

/** Matrix product of the last two dimensions, batched over the leading ones. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const attrs: MatmulAttrs = {
    transposeA: options.transposeA ?? false,
    transposeB: options.transposeB ?? false,
    activation: 'none',
    leakyAlpha: 0,
  };
  return runOp(matmulOp, [a, b], attrs)[0];
}

export interface LinearOptions {
  activation?: MatmulActivation;
  /** Slope of leakyRelu for negative inputs; must be positive (default 0.01). */
  leakyAlpha?: number;
}

/**
 * Fused dense layer: act(x W + bias) in one kernel. x is [..., inFeatures], W is
 * [inFeatures, outFeatures], bias (optional) is [outFeatures].
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: LinearOptions = {}): Tensor {
  const leakyAlpha = options.leakyAlpha ?? 0.01;
  if (options.activation === 'leakyRelu' && !(leakyAlpha > 0)) {
    throw new RangeError(`linear: leakyAlpha ${leakyAlpha} must be positive`);
  }
  if (x.rank < 1) throw new ShapeError(`linear: input must have rank 1 or more, got ${formatShape(x.shape)}`);
  if (weight.rank !== 2) throw new ShapeError(`linear: weight must be [inFeatures, outFeatures], got ${formatShape(weight.shape)}`);

  const inFeatures = x.shape[x.rank - 1];
  const rows = x.reshape([-1, inFeatures]);
  const activation = options.activation ?? 'none';
  if (!ACTIVATIONS.includes(activation)) {
    throw new RangeError(`linear: invalid activation ${JSON.stringify(activation)}; use one of ${ACTIVATIONS.join(', ')}`);
  }
  const attrs: MatmulAttrs = { transposeA: false, transposeB: false, activation, leakyAlpha };
  const [y] = runOp(matmulOp, bias ? [rows, weight, bias] : [rows, weight], attrs);
  rows.dispose();
  return reshapeOwned(y, [...x.shape.slice(0, -1), weight.shape[1]]);
}
