// Seeded random test inputs: never all zeros, with ranges chosen per op.

import { hashU32 } from '../ops/random-hash.js';
import type { DType } from '../tensor/dtype.js';
import { sizeOf } from '../tensor/shape.js';

export interface InputSpec {
  shape: number[];
  dtype?: DType;
  /** Values are drawn uniformly from [low, high); integers from [low, high) too. */
  low?: number;
  high?: number;
  /** Fixed values instead of random ones. */
  values?: ArrayLike<number>;
  /** Whether gradients are checked for this input (default: true for f32). */
  differentiable?: boolean;
  /** Keep values at least this far from zero (default 0.05 for f32), e.g. for log, div, sqrt. */
  awayFromZero?: number;
}

/** Deterministic values for input `index` of a test case seeded by `seed`. */
export function inputValues(spec: InputSpec, seed: number, index: number): number[] {
  if (spec.values) return Array.from(spec.values);

  const dtype = spec.dtype ?? 'f32';
  const low = spec.low ?? (dtype === 'f32' ? -2 : 0);
  const high = spec.high ?? (dtype === 'f32' ? 2 : 10);
  const gap = spec.awayFromZero ?? (dtype === 'f32' ? 0.05 : 0);
  const size = sizeOf(spec.shape);
  const values: number[] = [];
  let state = hashU32((seed * 7919 + index * 104729) >>> 0);
  for (let i = 0; i < size; i++) {
    state = hashU32(state + i);
    const unit = (state >>> 8) / 16777216;
    if (dtype !== 'f32') {
      values.push(Math.floor(low + unit * (high - low)));
      continue;
    }
    let value = low + unit * (high - low);
    if (Math.abs(value) < gap) value = value < 0 ? -gap : gap;
    values.push(value);
  }
  return values;
}
