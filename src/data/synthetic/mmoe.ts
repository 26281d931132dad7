// Generator `mmoe-synthetic`: two regression tasks whose correlation is set by p, after Ma et al. (KDD 2018).

import { SeededRandom } from '../random.js';
import type { FeatureSpec, Schema } from '../schema.js';
import type { RowSource } from '../source.js';
import { checkCount, generatedSource } from './generated.js';

export interface MmoeSyntheticOptions {
  /** Number of rows; default 10,000. */
  rows?: number;
  seed?: number;
  /** Task correlation p in [-1, 1]: the cosine between w1 and w2; default 0.5. */
  correlation?: number;
  /** Input dimension d; default 100. */
  dimension?: number;
  /** Number of sine terms m; default 10. */
  sinTerms?: number;
  /** Scale c of the weight vectors; default 1. */
  scale?: number;
  /** Standard deviation of the label noise; default 0.1 (variance 0.01). */
  noiseStd?: number;
  /** Index of the first row, so that disjoint ranges of one seed make train and test sets; default 0. */
  offset?: number;
}

/**
 * Draws, from the seed: orthogonal unit vectors u1, u2 (Gram-Schmidt on two standard normal
 * vectors), w1 = c u1, w2 = c (p u1 + sqrt(1 - p^2) u2), and alpha_i, beta_i ~ N(0, 1) for
 * i = 1..m, shared by both tasks. Row j: x ~ N(0, I_d) and
 * y_k = w_k.x + sum_i sin(alpha_i w_k.x + beta_i) + noise, noise ~ N(0, noiseStd^2).
 */
export class MmoeSynthetic {
  readonly options: Required<MmoeSyntheticOptions>;
  readonly w1: Float64Array;
  readonly w2: Float64Array;
  readonly alpha: Float64Array;
  readonly beta: Float64Array;

  constructor(options: MmoeSyntheticOptions = {}) {
    this.options = { rows: 10_000, seed: 0, offset: 0, correlation: 0.5, dimension: 100, sinTerms: 10, scale: 1, noiseStd: 0.1, ...options };
    const o = this.options;
    if (!(o.correlation >= -1 && o.correlation <= 1)) throw new RangeError(`mmoe-synthetic: correlation ${o.correlation} must be in [-1, 1]`);
    checkCount('mmoe-synthetic', 'dimension', o.dimension, 2);
    checkCount('mmoe-synthetic', 'sinTerms', o.sinTerms, 0);
    checkCount('mmoe-synthetic', 'offset', o.offset, 0);

    // Stream 0 of the seed draws the task parameters, and row i uses stream i + 1.
    const random = new SeededRandom(o.seed, 0);
    const u1 = unit(Float64Array.from({ length: o.dimension }, () => random.normal()));
    const v = Float64Array.from({ length: o.dimension }, () => random.normal());
    const projection = dot(v, u1);
    const u2 = unit(v.map((value, i) => value - projection * u1[i]));
    const p = o.correlation;
    this.w1 = u1.map((value) => o.scale * value);
    this.w2 = u1.map((value, i) => o.scale * (p * value + Math.sqrt(1 - p * p) * u2[i]));
    this.alpha = Float64Array.from({ length: o.sinTerms }, () => random.normal());
    this.beta = Float64Array.from({ length: o.sinTerms }, () => random.normal());
  }

  get columns(): string[] {
    return [...Array.from({ length: this.options.dimension }, (_, i) => `x${i}`), 'y1', 'y2'];
  }

  /** Row `index`: x_0 .. x_{d-1}, y1, y2. */
  row(index: number): number[] {
    const o = this.options;
    const random = new SeededRandom(o.seed, index + 1);
    const x = Array.from({ length: o.dimension }, () => random.normal());
    const y1 = this.label(this.w1, x) + o.noiseStd * random.normal();
    const y2 = this.label(this.w2, x) + o.noiseStd * random.normal();
    return [...x, y1, y2];
  }

  private label(w: Float64Array, x: number[]): number {
    const projection = dot(w, x);
    let y = projection;
    for (let i = 0; i < this.alpha.length; i++) y += Math.sin(this.alpha[i] * projection + this.beta[i]);
    return y;
  }

  source(): RowSource {
    return generatedSource(`mmoe-synthetic(p ${this.options.correlation}, seed ${this.options.seed})`, this.columns, this.options.rows, (index) => this.row(this.options.offset + index));
  }

  /** Builds the schema: every x_i a raw numeric deep feature, y1 and y2 numeric tasks. */
  schema(): Schema {
    const features: FeatureSpec[] = Array.from({ length: this.options.dimension }, (_, i) => ({ name: `x${i}`, type: 'numeric', feeds: 'deep' }));
    return {
      name: 'mmoe-synthetic',
      description: 'synthetic two-task regression with controlled task correlation (Ma et al., KDD 2018)',
      csv: { delimiter: ',', header: true, columns: this.columns },
      features,
      labels: [{ name: 'y1', type: 'numeric' }, { name: 'y2', type: 'numeric' }],
    };
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function unit(v: Float64Array): Float64Array {
  const norm = Math.sqrt(dot(v, v));
  return v.map((value) => value / norm);
}
