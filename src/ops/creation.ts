// Tensor creation: from arrays, constant fills, and seeded uniform and normal values.

import type { BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { mapProgram } from '../kernels/elementwise.js';
import { WGSL_HASH } from '../kernels/random.js';
import { DTypeError, ShapeError } from '../errors.js';
import { isDType, type DType } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { assertValidShape, formatShape, sizeOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp } from './op.js';
import { seedToU32, uniformAt } from './random-hash.js';

export interface CreateOptions {
  dtype?: DType;
  /** Backend name; default: the default backend (see init). */
  backend?: BackendName;
  requiresGrad?: boolean;
}

type NestedArray = number | NestedArray[];

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

function flatten(values: NestedArray, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (typeof values !== 'number') throw new ShapeError(`tensor: nested array is ragged at depth ${depth}`);
    out.push(values);
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[depth]) {
    throw new ShapeError(`tensor: nested array is ragged at depth ${depth}; expected ${shape[depth]} elements`);
  }
  for (const item of values) flatten(item, shape, depth + 1, out);
}

function finish(tensor: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) tensor.requiresGrad = true;
  return tensor;
}

/**
 * Creates a tensor from a (nested) array or a typed array. A flat array needs `shape`;
 * the dtype follows the typed array (Int32Array: i32, Uint32Array: u32), else f32.
 */
export function tensor(values: NestedArray | ArrayLike<number>, shape?: number[], options: CreateOptions = {}): Tensor {
  let flat: ArrayLike<number>;
  let resolvedShape: number[];
  if (Array.isArray(values) && shape === undefined) {
    resolvedShape = inferShape(values as NestedArray);
    const out: number[] = [];
    flatten(values as NestedArray, resolvedShape, 0, out);
    flat = out;
  } else if (typeof values === 'number') {
    resolvedShape = shape ?? [];
    flat = [values];
  } else {
    flat = Array.isArray(values) ? ((values as unknown[]).flat(Infinity) as number[]) : (values as ArrayLike<number>);
    resolvedShape = shape ?? [flat.length];
  }

  assertValidShape(resolvedShape, 'tensor');
  if (sizeOf(resolvedShape) !== flat.length) {
    throw new ShapeError(`tensor: ${flat.length} values do not fill shape ${formatShape(resolvedShape)} (${sizeOf(resolvedShape)} elements)`);
  }
  const dtype = options.dtype ?? (values instanceof Int32Array ? 'i32' : values instanceof Uint32Array ? 'u32' : 'f32');
  checkDType('tensor', dtype);
  checkIntegers(flat, dtype);

  const backend = getBackend(options.backend);
  return finish(new Tensor(backend.upload(flat, dtype), resolvedShape, dtype), options);
}

/** Throws a DTypeError unless `dtype` is one of the dtypes that tensors have. */
export function checkDType(op: string, dtype: unknown): asserts dtype is DType {
  if (!isDType(dtype)) throw new DTypeError(`${op}: invalid dtype ${JSON.stringify(dtype)}; use f32, i32 or u32`);
}

function checkIntegers(values: ArrayLike<number>, dtype: DType): void {
  if (dtype === 'f32') return;
  const [low, high] = dtype === 'i32' ? [-2147483648, 2147483647] : [0, 4294967295];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isInteger(value) || value < low || value > high) {
      throw new RangeError(`tensor: value ${value} at index ${i} is not a valid ${dtype} (integers from ${low} to ${high})`);
    }
  }
}

/** Creates a 0-d f32 tensor on the backend of `like`. */
export function scalarLike(value: number, like: Tensor): Tensor {
  return new Tensor(like.backend.upload([value], 'f32'), [], 'f32');
}

interface FillAttrs {
  shape: Shape;
  dtype: DType;
  value: number;
}

export const fillOp = defineOp<FillAttrs>({
  name: 'fill',
  shape: (_inputs, { shape, dtype }) => {
    assertValidShape(shape, 'fill');
    return [{ shape, dtype }];
  },
  cpu({ outputs: [y], attrs }) {
    y.fill(attrs.value);
  },
  webgpu({ outputSpecs, attrs }) {
    const literal = attrs.dtype === 'f32' ? 'u.value' : `${attrs.dtype}(u.value)`;
    return mapProgram({ name: 'fill', inputs: [], output: outputSpecs[0], expression: literal, uniforms: [['value', 'f32', attrs.value]] });
  },
  backward: { notDifferentiable: 'fill has no inputs' },
});

export function full(shape: number[], value: number, options: CreateOptions = {}): Tensor {
  const dtype = options.dtype ?? 'f32';
  checkDType('full', dtype);
  if (dtype !== 'f32') checkIntegers([value], dtype);
  // The WebGPU fill passes the value as an f32 uniform, so integers beyond 2^24 use an upload.
  if (dtype !== 'f32' && Math.abs(value) > 16777216) return tensor(new Array(sizeOf(shape)).fill(value), shape, options);
  return finish(runOp(fillOp, [], { shape, dtype, value }, options.backend)[0], options);
}

export const zeros = (shape: number[], options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: number[], options: CreateOptions = {}): Tensor => full(shape, 1, options);

export interface RandomOptions extends CreateOptions {
  seed?: number;
}

interface RandomAttrs {
  shape: Shape;
  seed: number;
  low: number;
  high: number;
  distribution: 'uniform' | 'normal';
}

let nextDefaultSeed = 0x5eed;

function resolveSeed(options: RandomOptions): number {
  return seedToU32(options.seed ?? nextDefaultSeed++);
}

/**
 * Seeded random values: `uniform` in [low, high), `normal` with mean `low` and standard
 * deviation `high` by the Box-Muller transform of two uniform draws per element.
 */
export const randomOp = defineOp<RandomAttrs>({
  name: 'random',
  shape: (_inputs, { shape }) => {
    assertValidShape(shape, 'random');
    return [{ shape, dtype: 'f32' }];
  },
  cpu({ outputs: [y], attrs }) {
    for (let i = 0; i < y.length; i++) {
      if (attrs.distribution === 'uniform') {
        y[i] = attrs.low + (attrs.high - attrs.low) * uniformAt(attrs.seed, i);
      } else {
        const u1 = 1 - uniformAt(attrs.seed, 2 * i);
        const u2 = uniformAt(attrs.seed, 2 * i + 1);
        // cos(2 pi u2) written as -cos(2 pi u2 - pi): WGSL bounds the error of cos only on [-pi, pi].
        y[i] = attrs.low - attrs.high * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2 - Math.PI);
      }
    }
  },
  webgpu({ outputSpecs, attrs }) {
    const expression =
      attrs.distribution === 'uniform'
        ? 'u.low + (u.high - u.low) * sparrow_uniform(u.seed, i)'
        : 'u.low - u.high * sqrt(-2.0 * log(1.0 - sparrow_uniform(u.seed, 2u * i))) * cos(6.283185307179586 * sparrow_uniform(u.seed, 2u * i + 1u) - 3.141592653589793)';
    return mapProgram({
      name: `random-${attrs.distribution}`,
      inputs: [],
      output: outputSpecs[0],
      expression,
      helpers: WGSL_HASH,
      uniforms: [
        ['seed', 'u32', attrs.seed],
        ['low', 'f32', attrs.low],
        ['high', 'f32', attrs.high],
      ],
    });
  },
  backward: { notDifferentiable: 'random values have no inputs' },
});

export function randomUniform(shape: number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const attrs: RandomAttrs = { shape, seed: resolveSeed(options), low: options.low ?? 0, high: options.high ?? 1, distribution: 'uniform' };
  return finish(runOp(randomOp, [], attrs, options.backend)[0], options);
}

export function randomNormal(shape: number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const attrs: RandomAttrs = { shape, seed: resolveSeed(options), low: options.mean ?? 0, high: options.std ?? 1, distribution: 'normal' };
  return finish(runOp(randomOp, [], attrs, options.backend)[0], options);
}

/** Copies a tensor to another backend (through host memory). */
export async function toBackend(x: Tensor, backend: BackendName): Promise<Tensor> {
  const values = await x.data();
  return new Tensor(getBackend(backend).upload(values, x.dtype), [...x.shape], x.dtype);
}


/** Overwrites the values of `target` in place, e.g. to load weights; not recorded on the tape. */
export function assignValues(target: Tensor, values: ArrayLike<number>): void {
  if (values.length !== target.size) {
    throw new ShapeError(`assignValues: ${values.length} values do not fill tensor ${target.describe()} (${target.size} elements)`);
  }
  checkIntegers(values, target.dtype);
  const handle = target.storage('assignValues');
  handle.backend.write(handle, values);
}
