// Tensor: shape, dtype and backend storage, with the autograd fields that the tape fills in.

import type { Backend, DataHandle } from '../backend/backend.js';
import type { RowSparse } from '../sparse/row-sparse.js';
import { DisposedError } from '../errors.js';
import type { DType, TypedArray } from './dtype.js';
import { formatShape, sizeOf, type Shape } from './shape.js';

/** A record on the tape: how one op's outputs were computed, with the data its backward needs. */
export interface TapeNode {
  opName: string;
  /** The op's inputs, for walking the graph; their data is kept alive through `saved`. */
  inputs: Tensor[];
  /** Handles of the inputs then the outputs, retained until the graph is released. */
  saved: DataHandle[];
  savedSpecs: { shape: Shape; dtype: DType }[];
  outputCount: number;
  /** Computes input gradients from the saved tensors and the output gradients. */
  backward(inputs: Tensor[], outputs: Tensor[], grads: (Tensor | null)[]): (Tensor | RowSparse | null)[];
  released: boolean;
}

let nextTensorId = 1;

/** Hooks the engine installs, so that this file needs no import of the layers above it. */
export interface TensorHooks {
  onCreate(tensor: Tensor): void;
  backward(tensor: Tensor, grad: Tensor | undefined, options: { retainGraph?: boolean }): void;
  reshape(tensor: Tensor, shape: number[]): Tensor;
}

let hooks: TensorHooks | null = null;

export function installTensorHooks(next: TensorHooks): void {
  hooks = next;
}

export class Tensor {
  readonly id = nextTensorId++;
  /** Gradient accumulated by `backward()` on a leaf tensor with `requiresGrad`. */
  grad: Tensor | null = null;
  /**
   * Row-sparse gradient accumulated by `backward()` on a leaf table whose ops return one
   * (embedding bags, `gather` with `sparseGrad`). It is kept apart from `grad`, so a table
   * used both ways has both; optimizers apply each.
   */
  sparseGrad: RowSparse | null = null;
  /** The tape record that produced this tensor, or null for a leaf. */
  node: TapeNode | null = null;
  /** Index of this tensor among the outputs of `node`. */
  outputIndex = 0;
  /**
   * The op that cut the gradient: set when a non-differentiable op made this tensor from inputs
   * that require a gradient, so that `backward()` can name the cause when there is none.
   */
  gradientStoppedBy: { op: string; reason: string } | null = null;
  private handle: DataHandle | null;
  private requires = false;

  constructor(
    handle: DataHandle,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {
    this.handle = handle;
    handle.refs++;
    hooks?.onCreate(this);
  }

  get backend(): Backend {
    return this.storage('backend').backend;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.handle === null;
  }

  /** Whether gradients flow to this tensor: set it on parameters; outputs of ops inherit it. */
  get requiresGrad(): boolean {
    return this.requires;
  }

  set requiresGrad(value: boolean) {
    if (value && this.dtype !== 'f32') {
      throw new TypeError(`requiresGrad: tensor ${this.describe()} has dtype ${this.dtype}; only f32 tensors can have gradients`);
    }
    this.requires = value;
  }

  /** Returns the storage handle, and throws DisposedError after `dispose()`. */
  storage(what: string): DataHandle {
    if (this.handle === null) {
      throw new DisposedError(`${what}: tensor #${this.id} ${this.dtype}${formatShape(this.shape)} was disposed and cannot be used`);
    }
    return this.handle;
  }

  /** Reads the values back: Float32Array, Int32Array or Uint32Array by dtype. */
  async data(): Promise<TypedArray> {
    const handle = this.storage('data');
    return handle.backend.read(handle);
  }

  /** Reads the values back as a nested array of the tensor's shape. */
  async array(): Promise<unknown> {
    const values = Array.from(await this.data());
    return nest(values, this.shape);
  }

  /** Reads the single value of a tensor of size 1. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new RangeError(`item: tensor ${this.describe()} has ${this.size} elements; item() needs exactly 1`);
    return (await this.data())[0];
  }

  /** Returns a differentiable view with another shape of the same size, sharing the storage. */
  reshape(shape: number[]): Tensor {
    return requireHooks().reshape(this, shape);
  }

  /** Backpropagates from this tensor: a scalar by default, else `grad` gives the seed gradient. */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    requireHooks().backward(this, grad, options);
  }

  /** Frees the storage once no other tensor or tape record uses it. Idempotent. */
  dispose(): void {
    if (this.handle === null) return;
    releaseHandle(this.handle);
    this.handle = null;
  }

  describe(): string {
    return `#${this.id} ${this.dtype}${formatShape(this.shape)}`;
  }

  toString(): string {
    return `Tensor(${this.dtype}${formatShape(this.shape)}, ${this.handle ? this.handle.backend.name : 'disposed'})`;
  }
}

export function retainHandle(handle: DataHandle): void {
  handle.refs++;
}

export function releaseHandle(handle: DataHandle): void {
  handle.refs--;
  if (handle.refs === 0) handle.backend.release(handle);
}

function requireHooks(): TensorHooks {
  if (hooks === null) throw new Error('sparrow: the autograd engine is not loaded; import from the package entry point');
  return hooks;
}

function nest(values: number[], shape: Shape): unknown {
  if (shape.length === 0) return values[0];
  if (shape.length === 1) return values;

  const [first, ...rest] = shape;
  const step = sizeOf(rest);
  return Array.from({ length: first }, (_, i) => nest(values.slice(i * step, (i + 1) * step), rest));
}
