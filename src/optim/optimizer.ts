// Optimizer: parameter groups, each with its own algorithm and learning rate, and a saveable state.

import { ShapeError } from '../errors.js';
import { full, tensor as createTensor } from '../ops/creation.js';
import { assertFiniteDenseGradient, assertFiniteGradient } from '../ops/sparse-check.js';
import { slice } from '../ops/shape-ops.js';
import type { RowSparse } from '../sparse/row-sparse.js';
import { keep, noGrad, runOp } from '../tensor/engine.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkLearningRate, resolveConfig, slotsOf, type OptimizerConfig, type ResolvedConfig } from './config.js';
import { adagradUpdateOp, adamUpdateOp, addRowSparseOp, ftrlUpdateOp, runUpdate, sgdUpdateOp } from './update-ops.js';

export interface ParamGroupOptions {
  /** The parameters; a record gives them the names that the state dict uses. */
  params: Tensor[] | Record<string, Tensor>;
  optimizer: OptimizerConfig;
  /** Learning rate; for FTRL it is alpha. */
  lr: number;
  /** Group name, used for unnamed parameters (`<group>.<index>`); default `group<index>`. */
  name?: string;
}

/** One group of parameters that share an algorithm and a learning rate. */
export class ParamGroup {
  private rate: number;
  private resolved: ResolvedConfig;

  constructor(
    readonly name: string,
    config: ResolvedConfig,
    readonly params: readonly { name: string; tensor: Tensor }[],
    lr: number,
  ) {
    checkLearningRate(config.kind, lr);
    this.resolved = config;
    this.rate = lr;
  }

  /** The algorithm and its hyperparameters, with defaults filled in. */
  get config(): ResolvedConfig {
    return this.resolved;
  }

  /** Replaces the hyperparameters and learning rate; used by `Optimizer.loadStateDict`. */
  restore(config: ResolvedConfig, lr: number): void {
    checkLearningRate(config.kind, lr);
    this.resolved = config;
    this.rate = lr;
  }

  /** Learning rate of the next `step()`; set it between steps for a schedule. */
  get lr(): number {
    return this.rate;
  }

  set lr(value: number) {
    checkLearningRate(this.config.kind, value);
    this.rate = value;
  }
}

/** Optimizer state in a checkpointable form: the result of `stateDict()`, the input of `loadStateDict()`. */
export interface OptimizerStateDict {
  /** Each group's name, algorithm with all hyperparameters, learning rate and parameter names. */
  groups: { name: string; lr: number; config: ResolvedConfig; params: string[] }[];
  /** Updates applied so far to each parameter that has state, by parameter name. */
  steps: Record<string, number>;
  /**
   * State tensors named `<parameter>.<slot>`, e.g. `wide.weight.z`. `stateDict()` returns the
   * optimizer's own tensors, not copies: read them before the next `step()` and do not dispose
   * them. `loadStateDict()` copies what it is given, as tensors or as host arrays.
   */
  tensors: Record<string, Tensor | Float32Array>;
}

/** A parameter's gradients; at least one of them is set. */
interface ParamGradient {
  dense: Tensor | null;
  sparse: RowSparse | null;
}

/**
 * Returns the one gradient to apply: the dense or the row-sparse one, or for both a new dense
 * tensor with their sum, which the caller disposes.
 */
function combineGradients({ dense, sparse }: ParamGradient): Tensor | RowSparse {
  if (dense === null) return sparse!;
  if (sparse === null) return dense;

  const shape = [...dense.shape];
  const sum = slice(dense, shape.map(() => 0), shape);
  runOp(addRowSparseOp, [sum, sparse.rows, sparse.values], { mode: 'sparse', hyper: {}, rowOffset: sparse.rowOffset });
  return sum;
}

interface ParamState {
  slots: Tensor[];
  /** Number of updates applied to this parameter, the t of Adam's bias correction. */
  step: number;
}

/**
 * Updates parameters from their gradients, one parameter group at a time.
 *
 * `step()` updates each parameter that requires a gradient and has one. The dense gradient is
 * `param.grad`, the row-sparse one `param.sparseGrad`. A parameter that has both (a table used
 * by a dense op and an embedding bag) takes one dense update with their sum. Parameters with
 * `requiresGrad` false or without a gradient are skipped, and their state and step counter
 * stay as they are. Weights and state are written in place on the parameter's backend, so
 * tensors that share the parameter's storage see the new values.
 *
 * Row-sparse gradients update lazily: only the listed rows change. A dense update with a zero
 * gradient row still moves that row: by momentum (SGD, Adam and AdamW), by weight decay (all but
 * FTRL), and for FTRL by rewriting w from z and n. The lazy update leaves the row's weights and
 * state untouched instead. On rows that every step lists, lazy and dense updates agree. The
 * step counter t of Adam's bias correction is per parameter, not per row: it counts the steps
 * in which the parameter had a gradient, whichever rows that gradient listed.
 */
export class Optimizer {
  readonly groups: readonly ParamGroup[];
  private readonly state = new Map<Tensor, ParamState>();

  constructor(groups: ParamGroupOptions[]) {
    if (groups.length === 0) throw new RangeError('Optimizer: no parameter groups given; pass at least one { params, optimizer, lr }');

    const seenTensors = new Set<Tensor>();
    const seenNames = new Set<string>();
    this.groups = groups.map((options, g) => {
      const groupName = options.name ?? `group${g}`;
      const entries = Array.isArray(options.params)
        ? options.params.map((tensor, i) => ({ name: `${groupName}.${i}`, tensor }))
        : Object.entries(options.params).map(([name, tensor]) => ({ name, tensor }));

      for (const { name, tensor } of entries) {
        if (!(tensor instanceof Tensor)) {
          const hint = typeof tensor === 'object' && tensor !== null && 'shards' in tensor ? '; for a ShardedTable, pass its tensors: table.shards' : '';
          throw new TypeError(`Optimizer: parameter ${name} of group ${groupName} is not a Tensor${hint}`);
        }
        if (tensor.dtype !== 'f32') throw new TypeError(`Optimizer: parameter ${name} is ${tensor.describe()}; only f32 parameters can be optimized`);
        if (seenTensors.has(tensor)) throw new RangeError(`Optimizer: parameter ${name} (${tensor.describe()}) appears twice; give each parameter to one group only`);
        if (seenNames.has(name)) throw new RangeError(`Optimizer: two parameters are named ${name}; parameter names must be unique`);
        seenTensors.add(tensor);
        seenNames.add(name);
      }
      return new ParamGroup(groupName, resolveConfig(options.optimizer), entries, options.lr);
    });
  }

  /** Sets the learning rate of every group, or of one group given by index or name. */
  setLearningRate(lr: number, group?: number | string): void {
    if (group === undefined) {
      for (const each of this.groups) checkLearningRate(each.config.kind, lr);
      for (const each of this.groups) each.lr = lr;
      return;
    }
    this.groupOf(group).lr = lr;
  }

  /**
   * Applies one update to every parameter that has a gradient. The shapes of all gradients are
   * checked first, so a gradient of the wrong shape throws before any weight changes. Their
   * values are not read: a NaN or infinity goes into the weights unless
   * `assertFiniteGradients()` is awaited first.
   */
  step(): void {
    const work: { group: ParamGroup; param: Tensor; gradient: ParamGradient }[] = [];
    for (const group of this.groups) {
      for (const { name, tensor: param } of group.params) {
        const gradient = this.gradientOf(name, param);
        if (gradient !== null) work.push({ group, param, gradient });
      }
    }

    noGrad(() => {
      for (const { group, param, gradient } of work) {
        const isNew = !this.state.has(param);
        const state = this.stateOf(param, group.config);
        const combined = combineGradients(gradient);
        try {
          applyUpdate(group.config, group.lr, state.step + 1, param, combined, state.slots);
          state.step++;
        } catch (error) {
          // A rejected update leaves no trace: no step counted and no new state.
          if (isNew) {
            state.slots.forEach((slot) => slot.dispose());
            this.state.delete(param);
          }
          throw error;
        } finally {
          if (combined !== gradient.dense && combined !== gradient.sparse) (combined as Tensor).dispose();
        }
      }
    });
  }

  /**
   * Throws a RangeError when a gradient that `step()` would apply contains a NaN or an
   * infinity. The message names the parameter, the element (for a row-sparse gradient, the
   * table row) and the value. Each gradient costs one pass on its backend and a readback of one
   * u32, all awaited together. Await it before `step()` to keep such values out of the weights.
   */
  async assertFiniteGradients(): Promise<void> {
    const checks: Promise<void>[] = [];
    for (const group of this.groups) {
      for (const { name, tensor: param } of group.params) {
        const gradient = this.gradientOf(name, param);
        if (gradient === null) continue;
        if (gradient.dense !== null) checks.push(assertFiniteDenseGradient(gradient.dense, name));
        if (gradient.sparse !== null) checks.push(assertFiniteGradient(gradient.sparse, { name }));
      }
    }
    await Promise.all(checks);
  }

  /** Disposes every parameter's gradient, dense and row-sparse, and sets it to null. */
  zeroGrad(): void {
    for (const group of this.groups) {
      for (const { tensor } of group.params) {
        tensor.grad?.dispose();
        tensor.grad = null;
        tensor.sparseGrad?.dispose();
        tensor.sparseGrad = null;
      }
    }
  }

  /** Returns the learning rates, hyperparameters, step counters and state tensors, named for a checkpoint. */
  stateDict(): OptimizerStateDict {
    const dict: OptimizerStateDict = { groups: [], steps: {}, tensors: {} };
    for (const group of this.groups) {
      dict.groups.push({ name: group.name, lr: group.lr, config: { ...group.config }, params: group.params.map((entry) => entry.name) });
      const slots = slotsOf(group.config);
      for (const { name, tensor } of group.params) {
        const state = this.state.get(tensor);
        if (state === undefined) continue;
        dict.steps[name] = state.step;
        slots.forEach((slot, i) => (dict.tensors[`${name}.${slot.name}`] = state.slots[i]));
      }
    }
    return dict;
  }

  /**
   * Restores a state from `stateDict()`: learning rates, hyperparameters, step counters and
   * state tensors, bit for bit. The groups must have the same algorithms and parameter names.
   * Everything is checked before anything changes. Parameters missing from `steps` start fresh.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    if (dict.groups.length !== this.groups.length) {
      throw new RangeError(`loadStateDict: the state has ${dict.groups.length} parameter group(s), this optimizer ${this.groups.length}`);
    }
    const configs = dict.groups.map((saved, g) => this.checkSavedGroup(saved, this.groups[g]));

    const restored = new Map<Tensor, { step: number; sources: (Tensor | Float32Array)[] }>();
    const used = new Set<string>();
    this.groups.forEach((group, g) => {
      const slots = slotsOf(configs[g]);
      for (const { name, tensor } of group.params) {
        if (!(name in dict.steps)) continue;
        const step = dict.steps[name];
        if (!Number.isInteger(step) || step < 0) throw new RangeError(`loadStateDict: steps of ${name} is ${step}; expected an integer >= 0`);
        const sources = slots.map((slot) => this.checkSavedTensor(dict, `${name}.${slot.name}`, tensor));
        slots.forEach((slot) => used.add(`${name}.${slot.name}`));
        restored.set(tensor, { step, sources });
      }
    });
    const unknown = Object.keys(dict.tensors).filter((key) => !used.has(key));
    if (unknown.length > 0) throw new RangeError(`loadStateDict: state tensor ${unknown[0]} belongs to no parameter with a step count in this optimizer`);
    const unknownSteps = Object.keys(dict.steps).filter((name) => !this.groups.some((group) => group.params.some((entry) => entry.name === name)));
    if (unknownSteps.length > 0) throw new RangeError(`loadStateDict: steps names parameter ${unknownSteps[0]}, which this optimizer does not have`);

    noGrad(() => {
      const fresh = new Map<Tensor, ParamState>();
      for (const [param, { step, sources }] of restored) {
        fresh.set(param, { step, slots: sources.map((source) => copyOnto(source, param)) });
      }
      this.disposeState();
      for (const [param, state] of fresh) this.state.set(param, state);
      this.groups.forEach((group, g) => group.restore(configs[g], dict.groups[g].lr));
    });
  }

  /** Frees the state tensors; the optimizer starts fresh at its next step. */
  dispose(): void {
    this.disposeState();
  }

  private disposeState(): void {
    for (const state of this.state.values()) state.slots.forEach((slot) => slot.dispose());
    this.state.clear();
  }

  private groupOf(group: number | string): ParamGroup {
    const found = typeof group === 'number' ? this.groups[group] : this.groups.find((each) => each.name === group);
    if (found === undefined) {
      throw new RangeError(`Optimizer: no parameter group ${JSON.stringify(group)}; groups are ${this.groups.map((each, i) => `${i} (${each.name})`).join(', ')}`);
    }
    return found;
  }

  private gradientOf(name: string, param: Tensor): ParamGradient | null {
    if (param.isDisposed) throw new ShapeError(`Optimizer: parameter ${name} was disposed`);
    if (!param.requiresGrad) return null;

    const dense = param.grad;
    const sparse = param.sparseGrad;
    if (dense !== null && !shapesEqual(dense.shape, param.shape)) {
      throw new ShapeError(`Optimizer: gradient ${formatShape(dense.shape)} of parameter ${name} does not match its shape ${formatShape(param.shape)}`);
    }
    if (sparse !== null && !shapesEqual(sparse.denseShape, param.shape)) {
      throw new ShapeError(`Optimizer: row-sparse gradient of shape ${formatShape(sparse.denseShape)} of parameter ${name} does not match its shape ${formatShape(param.shape)}`);
    }
    if (dense === null && sparse === null) return null;
    return { dense, sparse };
  }

  private stateOf(param: Tensor, config: ResolvedConfig): ParamState {
    let state = this.state.get(param);
    if (state === undefined) {
      const backend = param.backend.name;
      const slots = slotsOf(config).map((slot) => keep(full([...param.shape], slot.initialValue, { backend })));
      state = { slots, step: 0 };
      this.state.set(param, state);
    }
    return state;
  }

  private checkSavedGroup(saved: OptimizerStateDict['groups'][number], group: ParamGroup): ResolvedConfig {
    if (saved.config.kind !== group.config.kind) {
      throw new RangeError(`loadStateDict: group ${group.name} uses ${group.config.kind}, the state ${saved.config.kind}`);
    }
    const names = group.params.map((entry) => entry.name);
    if (saved.params.length !== names.length || saved.params.some((name, i) => name !== names[i])) {
      throw new RangeError(`loadStateDict: group ${group.name} has parameters [${names.join(', ')}], the state [${saved.params.join(', ')}]`);
    }
    checkLearningRate(saved.config.kind, saved.lr);
    return resolveConfig(saved.config);
  }

  private checkSavedTensor(dict: OptimizerStateDict, key: string, param: Tensor): Tensor | Float32Array {
    const source = dict.tensors[key];
    if (source === undefined) throw new RangeError(`loadStateDict: state tensor ${key} is missing`);
    if (source instanceof Tensor) {
      if (source.dtype !== 'f32' || !shapesEqual(source.shape, param.shape)) {
        throw new ShapeError(`loadStateDict: state tensor ${key} is ${source.dtype}${formatShape(source.shape)}; expected f32${formatShape(param.shape)}`);
      }
      if (source.backend !== param.backend) {
        throw new ShapeError(`loadStateDict: state tensor ${key} lives on ${source.backend.name} and its parameter on ${param.backend.name}; pass its values as a Float32Array`);
      }
    } else if (!(source instanceof Float32Array)) {
      const value: unknown = source;
      let kind = `a ${typeof value}`;
      if (Array.isArray(value)) kind = 'a plain array';
      else if (typeof value === 'object' && value !== null) kind = `a ${value.constructor.name}`;
      throw new TypeError(`loadStateDict: state tensor ${key} is ${kind}; expected a Tensor or a Float32Array of ${param.size} values (convert with Float32Array.from)`);
    } else if (source.length !== param.size) {
      throw new ShapeError(`loadStateDict: state tensor ${key} has ${source.length} values; expected a Float32Array of ${param.size}`);
    }
    return source;
  }
}

/** Copies `source` into a new tensor on the parameter's backend, kept from any tidy scope. */
function copyOnto(source: Tensor | Float32Array, param: Tensor): Tensor {
  const shape = [...param.shape];
  const copy =
    source instanceof Tensor
      ? slice(source, shape.map(() => 0), shape)
      : createTensor(source, shape, { backend: param.backend.name, dtype: 'f32' });
  return keep(copy);
}

/** Runs the update op of `config` for one parameter at step `t` (counted from 1). */
function applyUpdate(config: ResolvedConfig, lr: number, t: number, param: Tensor, gradient: Tensor | RowSparse, slots: Tensor[]): void {
  const f = Math.fround;
  switch (config.kind) {
    case 'sgd':
      runUpdate(sgdUpdateOp, param, gradient, slots, {
        useMomentum: config.momentum > 0,
        nesterov: config.nesterov,
        hyper: { lr: f(lr), momentum: f(config.momentum), weight_decay: f(config.weightDecay) },
      });
      return;
    case 'adam':
    case 'adamw': {
      const decoupled = config.kind === 'adamw';
      runUpdate(adamUpdateOp, param, gradient, slots, {
        decoupled,
        hyper: {
          step_size: f(lr / (1 - config.beta1 ** t)),
          sqrt_bias2: f(Math.sqrt(1 - config.beta2 ** t)),
          beta1: f(config.beta1),
          beta2: f(config.beta2),
          one_minus_beta1: f(1 - config.beta1),
          one_minus_beta2: f(1 - config.beta2),
          eps: f(config.eps),
          weight_decay: decoupled ? 0 : f(config.weightDecay),
          decay_factor: decoupled ? f(1 - lr * config.weightDecay) : 1,
        },
      });
      return;
    }
    case 'adagrad':
      runUpdate(adagradUpdateOp, param, gradient, slots, {
        hyper: { lr: f(lr), eps: f(config.eps), weight_decay: f(config.weightDecay) },
      });
      return;
    case 'ftrl':
      runUpdate(ftrlUpdateOp, param, gradient, slots, {
        hyper: { alpha: f(lr), beta: f(config.beta), l1: f(config.l1), l2: f(config.l2) },
      });
      return;
  }
}
