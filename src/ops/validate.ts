// Input checks shared by op shape rules: counts, dtypes and matching shapes.

import { DTypeError, ShapeError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';
import { formatShape } from '../tensor/shape.js';
import type { TensorSpec } from './op.js';

export function expectInputs(op: string, inputs: TensorSpec[], count: number): void {
  if (inputs.length !== count) throw new ShapeError(`${op}: expected ${count} input(s), got ${inputs.length}`);
}

export function expectDType(op: string, spec: TensorSpec, allowed: readonly DType[], what = 'input'): void {
  if (!allowed.includes(spec.dtype)) {
    throw new DTypeError(`${op}: ${what} ${spec.dtype}${formatShape(spec.shape)} has dtype ${spec.dtype}; expected ${allowed.join(' or ')}`);
  }
}

export function expectSameDType(op: string, a: TensorSpec, b: TensorSpec): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`${op}: dtypes differ: ${a.dtype}${formatShape(a.shape)} and ${b.dtype}${formatShape(b.shape)}; cast one with cast()`);
  }
}

export function expectRank(op: string, spec: TensorSpec, rank: number, what = 'input'): void {
  if (spec.shape.length !== rank) {
    throw new ShapeError(`${op}: ${what} must have rank ${rank}, got shape ${formatShape(spec.shape)}`);
  }
}
