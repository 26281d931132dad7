// Dense layers: Linear (fused matmul + bias + activation), LayerNorm, BatchNorm, Dropout and MLP.

import type { BackendName } from '../backend/backend.js';
import type { MatmulActivation } from '../kernels/matmul.js';
import { dropout } from '../ops/dropout.js';
import { full } from '../ops/creation.js';
import { add, div, leakyRelu, mul, relu, sigmoid, sqrt, sub, tanh } from '../ops/elementwise.js';
import { linear } from '../ops/matmul.js';
import { mean } from '../ops/reduce.js';
import { ShapeError } from '../errors.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { initialize, type Initializer } from './init.js';
import { Module } from './module.js';

export type Activation = MatmulActivation;

export interface LinearOptions {
  bias?: boolean;
  activation?: Activation;
  /** Default: Glorot uniform, or He uniform before a ReLU. */
  init?: Initializer;
  seed?: number;
  backend?: BackendName;
}

/** y = act(x W + b) in one fused kernel; W is [inFeatures, outFeatures]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [name, value] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Linear: ${name} ${value} must be a positive integer`);
    }
    this.activation = options.activation ?? 'none';
    const defaultInit: Initializer = this.activation === 'relu' || this.activation === 'leakyRelu' ? { kind: 'heUniform' } : { kind: 'glorotUniform' };
    const context = { fanIn: inFeatures, fanOut: outFeatures, seed: options.seed ?? 1, backend: options.backend };
    this.weight = this.registerParameter('weight', initialize([inFeatures, outFeatures], options.init ?? defaultInit, context));
    this.bias = options.bias === false ? null : this.registerParameter('bias', full([outFeatures], 0, { backend: options.backend }));
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear: input ${formatShape(x.shape)} does not end in inFeatures ${this.inFeatures}`);
    }
    return linear(x, this.weight, this.bias, { activation: this.activation });
  }
}

/** Normalizes each row over its last dimension, then scales and shifts (Ba et al., 2016). */
export class LayerNorm extends Module {
  readonly gamma: Tensor;
  readonly beta: Tensor;

  constructor(
    readonly features: number,
    readonly epsilon = 1e-5,
    backend?: BackendName,
  ) {
    super();
    this.gamma = this.registerParameter('gamma', full([features], 1, { backend }));
    this.beta = this.registerParameter('beta', full([features], 0, { backend }));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const centered = sub(x, mean(x, -1, true));
      const variance = mean(mul(centered, centered), -1, true);
      const normalized = div(centered, sqrt(add(variance, this.epsilon)));
      return add(mul(normalized, this.gamma), this.beta);
    });
  }
}

/**
 * Batch normalization over axis 0 of [batch, features] (Ioffe & Szegedy, 2015). Training uses
 * the batch's mean and biased variance and updates running averages with `momentum`;
 * evaluation uses the running averages.
 */
export class BatchNorm extends Module {
  readonly gamma: Tensor;
  readonly beta: Tensor;

  constructor(
    readonly features: number,
    readonly momentum = 0.1,
    readonly epsilon = 1e-5,
    backend?: BackendName,
  ) {
    super();
    this.gamma = this.registerParameter('gamma', full([features], 1, { backend }));
    this.beta = this.registerParameter('beta', full([features], 0, { backend }));
    this.registerBuffer('runningMean', full([features], 0, { backend }));
    this.registerBuffer('runningVar', full([features], 1, { backend }));
  }

  private buffer(name: string): Tensor {
    return this.namedBuffers().find(([key]) => key === name)![1];
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.features) {
      throw new ShapeError(`BatchNorm: input must be [batch, ${this.features}], got ${formatShape(x.shape)}`);
    }
    if (!this.training) {
      return tidy(() => {
        const scale = div(this.gamma, sqrt(add(this.buffer('runningVar'), this.epsilon)));
        return add(mul(sub(x, this.buffer('runningMean')), scale), this.beta);
      });
    }

    const [batchMean, batchVar, output] = tidy(() => {
      const average = mean(x, 0);
      const centered = sub(x, average);
      const variance = mean(mul(centered, centered), 0);
      const normalized = div(centered, sqrt(add(variance, this.epsilon)));
      return [average, variance, add(mul(normalized, this.gamma), this.beta)];
    });
    noGrad(() => {
      const keepRate = 1 - this.momentum;
      this.replaceBuffer('runningMean', add(mul(this.buffer('runningMean'), keepRate), mul(batchMean, this.momentum)));
      this.replaceBuffer('runningVar', add(mul(this.buffer('runningVar'), keepRate), mul(batchVar, this.momentum)));
    });
    batchMean.dispose();
    batchVar.dispose();
    return output;
  }
}

/** Inverted dropout with a fresh seed for every training call; the identity in evaluation. */
export class Dropout extends Module {
  /** Training calls so far; the mask of call n uses seed * 1000003 + n, so a resumed run restores it. */
  calls = 0;

  constructor(
    readonly rate: number,
    readonly seed = 1,
  ) {
    super();
    if (!(rate >= 0 && rate < 1)) throw new RangeError(`Dropout: rate ${rate} must be in [0, 1)`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0) return x;
    this.calls++;
    return dropout(x, this.rate, this.seed * 1000003 + this.calls);
  }
}

export interface MLPOptions {
  /** Activation after each hidden layer (default relu). */
  activation?: Activation;
  /** Dropout rate after each hidden layer (default 0). */
  dropout?: number;
  /** Normalization after each hidden layer's linear part (default none). */
  norm?: 'batch' | 'layer' | null;
  /** Size of a final linear output layer without activation; omit for hidden layers only. */
  outFeatures?: number;
  seed?: number;
  backend?: BackendName;
}

/** A stack of Linear layers with activation, optional normalization and dropout. */
export class MLP extends Module {
  private readonly steps: { forward(x: Tensor): Tensor }[] = [];
  readonly outputSize: number;

  constructor(
    readonly inFeatures: number,
    readonly hidden: number[],
    options: MLPOptions = {},
  ) {
    super();
    const activation = options.activation ?? 'relu';
    const seed = options.seed ?? 1;
    let width = inFeatures;
    hidden.forEach((size, i) => {
      // With a norm, the activation follows the norm, so the linear part has none.
      const fused = options.norm ? 'none' : activation;
      const layer = this.registerModule(`layer${i}`, new Linear(width, size, { activation: fused, seed: seed + i, backend: options.backend }));
      this.steps.push(layer);
      if (options.norm) {
        const norm = options.norm === 'batch' ? new BatchNorm(size, 0.1, 1e-5, options.backend) : new LayerNorm(size, 1e-5, options.backend);
        this.steps.push(this.registerModule(`norm${i}`, norm));
        this.steps.push(activationStep(activation));
      }
      if (options.dropout) this.steps.push(this.registerModule(`dropout${i}`, new Dropout(options.dropout, seed * 7919 + i)));
      width = size;
    });
    if (options.outFeatures !== undefined) {
      const output = new Linear(width, options.outFeatures, { seed: seed + hidden.length, backend: options.backend });
      this.steps.push(this.registerModule('output', output));
      width = options.outFeatures;
    }
    this.outputSize = width;
  }

  forward(x: Tensor): Tensor {
    let current = x;
    for (const step of this.steps) current = step.forward(current);
    return current;
  }
}

function activationStep(activation: Activation): { forward(x: Tensor): Tensor } {
  return { forward: (x) => (activation === 'none' ? x : applyActivation(x, activation)) };
}

function applyActivation(x: Tensor, activation: Exclude<Activation, 'none'>): Tensor {
  switch (activation) {
    case 'relu':
      return relu(x);
    case 'leakyRelu':
      return leakyRelu(x, 0.01);
    case 'sigmoid':
      return sigmoid(x);
    case 'tanh':
      return tanh(x);
  }
}
