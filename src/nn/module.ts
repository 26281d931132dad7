// Module: a tree of named parameters, buffers and submodules, with train/eval mode and state dicts.

import { assignValues } from '../ops/creation.js';
import { ShapeError } from '../errors.js';
import { keep } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DType, TypedArray } from '../tensor/dtype.js';

/** Host-side values of one named tensor, as checkpoints store them. */
export interface TensorRecord {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export abstract class Module {
  /** Training mode: dropout active and batch statistics updated. `eval()` clears it. */
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable tensor under `name`; it gets `requiresGrad` and survives `tidy`. */
  protected registerParameter<T extends Tensor>(name: string, tensor: T): T {
    this.checkName(name);
    tensor.requiresGrad = true;
    this.ownParameters.set(name, keep(tensor));
    return tensor;
  }

  /** Registers non-trainable state (such as running statistics) that state dicts include. */
  protected registerBuffer<T extends Tensor>(name: string, tensor: T): T {
    this.checkName(name);
    this.ownBuffers.set(name, keep(tensor));
    return tensor;
  }

  /** Replaces a buffer's tensor, disposing the old one. */
  protected replaceBuffer(name: string, tensor: Tensor): void {
    const old = this.ownBuffers.get(name);
    this.ownBuffers.set(name, keep(tensor));
    if (old && old !== tensor) old.dispose();
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  /** Parameters with dotted names such as `deep.layers.0.weight`, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const own = [...this.ownParameters].map(([name, tensor]): [string, Tensor] => [prefix + name, tensor]);
    const nested = [...this.children].flatMap(([name, child]) => child.namedParameters(`${prefix}${name}.`));
    return [...own, ...nested];
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const own = [...this.ownBuffers].map(([name, tensor]): [string, Tensor] => [prefix + name, tensor]);
    const nested = [...this.children].flatMap(([name, child]) => child.namedBuffers(`${prefix}${name}.`));
    return [...own, ...nested];
  }

  /** This module and every submodule, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const nested = [...this.children].flatMap(([name, child]) => child.namedModules(`${prefix}${name}.`));
    return [[prefix.replace(/\.$/, ''), this], ...nested];
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, tensor]) => tensor);
  }

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Reads every parameter and buffer back to the host, keyed by dotted name. */
  async stateDict(): Promise<Record<string, TensorRecord>> {
    const state: Record<string, TensorRecord> = {};
    for (const [name, tensor] of [...this.namedParameters(), ...this.namedBuffers()]) {
      state[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data: await tensor.data() };
    }
    return state;
  }

  /**
   * Writes saved values into the live tensors, so optimizers keep their references. Every
   * parameter and buffer must be present with its exact shape and dtype; extra names throw too.
   */
  loadStateDict(state: Record<string, TensorRecord>): void {
    const targets = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    for (const name of Object.keys(state)) {
      if (!targets.has(name)) throw new ShapeError(`loadStateDict: unexpected tensor "${name}"; the model has no parameter or buffer of that name`);
    }
    for (const [name, tensor] of targets) {
      const record = state[name];
      if (record === undefined) throw new ShapeError(`loadStateDict: missing tensor "${name}" (expected ${tensor.dtype}${formatShape(tensor.shape)})`);
      if (record.dtype !== tensor.dtype || formatShape(record.shape) !== formatShape(tensor.shape)) {
        throw new ShapeError(
          `loadStateDict: tensor "${name}" is ${record.dtype}${formatShape(record.shape)} but the model expects ${tensor.dtype}${formatShape(tensor.shape)}`,
        );
      }
    }
    for (const [name, tensor] of targets) assignValues(tensor, state[name].data);
  }

  /** Disposes every parameter and buffer. */
  dispose(): void {
    for (const [, tensor] of [...this.namedParameters(), ...this.namedBuffers()]) {
      tensor.grad?.dispose();
      tensor.dispose();
    }
  }

  private checkName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new TypeError(`Module: invalid name "${name}"; use letters, digits and '_'`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new TypeError(`Module: name "${name}" is already registered`);
    }
  }
}
