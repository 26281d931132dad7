// Dropout variants drawn as host masks: gate dropout with renormalization, and whole-feature dropout.

import { tensor } from '../ops/creation.js';
import { div, mul } from '../ops/elementwise.js';
import { uniformAt, seedToU32 } from '../ops/random-hash.js';
import { sum } from '../ops/reduce.js';
import { Dropout } from '../nn/layers.js';
import { ShapeError } from '../errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { InputColumns } from './embedded-input.js';

/**
 * Both classes extend Dropout so that the trainer counts and restores their calls on resume:
 * call n draws its mask from stream `seed * 1000003 + n`, element i from `uniformAt(stream, i)`.
 */
function maskStream(seed: number, call: number): number {
  return seedToU32(seed * 1000003 + call);
}

/**
 * Gate dropout: in training, each expert's weight in each row is zeroed with probability
 * `rate` and the row is renormalized to sum to one. When every expert of a row is drawn, the
 * row keeps all of them, because nothing is left to renormalize. Identity in evaluation.
 */
export class GateDropout extends Dropout {
  /** Drops and renormalizes gate weights [B, E] whose rows sum to one. */
  override forward(gates: Tensor): Tensor {
    if (!this.training || this.rate === 0) return gates;
    if (gates.rank !== 2) throw new ShapeError(`GateDropout: gates must be [batch, experts], got ${formatShape(gates.shape)}`);
    this.calls++;

    const [rows, experts] = gates.shape;
    const stream = maskStream(this.seed, this.calls);
    const mask = new Float32Array(rows * experts);
    for (let row = 0; row < rows; row++) {
      let kept = 0;
      for (let e = 0; e < experts; e++) {
        const keep = uniformAt(stream, row * experts + e) >= this.rate;
        mask[row * experts + e] = keep ? 1 : 0;
        if (keep) kept++;
      }
      if (kept === 0) mask.fill(1, row * experts, (row + 1) * experts);
    }

    const masked = mul(gates, tensor(mask, [rows, experts], { backend: gates.backend.name }));
    return div(masked, sum(masked, 1, true));
  }
}

/**
 * Feature dropout: in training, zeroes all columns of a listed feature in a row with
 * probability `rate`, each row and feature drawn independently, without rescaling the rest. A
 * dropped categorical field then looks like an empty bag, i.e. an unknown value. Identity in
 * evaluation.
 */
export class FeatureDropout extends Dropout {
  constructor(
    rate: number,
    seed: number,
    readonly features: InputColumns[],
  ) {
    super(rate, seed);
  }

  /** Zeroes the dropped features of an input [B, width]. */
  override forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0 || this.features.length === 0) return x;
    if (x.rank !== 2) throw new ShapeError(`FeatureDropout: input must be [batch, width], got ${formatShape(x.shape)}`);
    this.calls++;

    const [rows, width] = x.shape;
    const stream = maskStream(this.seed, this.calls);
    const mask = new Float32Array(rows * width).fill(1);
    for (let row = 0; row < rows; row++) {
      this.features.forEach((feature, f) => {
        if (uniformAt(stream, row * this.features.length + f) < this.rate) mask.fill(0, row * width + feature.start, row * width + feature.end);
      });
    }
    return mul(x, tensor(mask, [rows, width], { backend: x.backend.name }));
  }
}
