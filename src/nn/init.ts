// Seeded weight initializers: Glorot (Xavier), He (Kaiming), normal, uniform and constants.

import type { BackendName } from '../backend/backend.js';
import { full, randomNormal, randomUniform } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export type Initializer =
  | { kind: 'glorotUniform' }
  | { kind: 'glorotNormal' }
  | { kind: 'heUniform' }
  | { kind: 'heNormal' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; limit: number }
  | { kind: 'constant'; value: number };

export interface InitContext {
  /** Inputs per output unit: rows of a [in, out] weight, or 1 for an embedding row. */
  fanIn: number;
  fanOut: number;
  seed: number;
  backend?: BackendName;
}

/**
 * Creates a tensor of `shape` drawn from `init`. Glorot uses limit sqrt(6 / (fanIn + fanOut))
 * (uniform) or std sqrt(2 / (fanIn + fanOut)) (normal); He uses sqrt(6 / fanIn) and
 * sqrt(2 / fanIn), as Glorot & Bengio (2010) and He et al. (2015) define them.
 */
export function initialize(shape: number[], init: Initializer, context: InitContext): Tensor {
  const { fanIn, fanOut, seed, backend } = context;
  switch (init.kind) {
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return randomUniform(shape, { seed, backend, low: -limit, high: limit });
    }
    case 'glorotNormal':
      return randomNormal(shape, { seed, backend, std: Math.sqrt(2 / (fanIn + fanOut)) });
    case 'heUniform': {
      const limit = Math.sqrt(6 / fanIn);
      return randomUniform(shape, { seed, backend, low: -limit, high: limit });
    }
    case 'heNormal':
      return randomNormal(shape, { seed, backend, std: Math.sqrt(2 / fanIn) });
    case 'normal':
      return randomNormal(shape, { seed, backend, std: init.std });
    case 'uniform':
      return randomUniform(shape, { seed, backend, low: -init.limit, high: init.limit });
    case 'constant':
      return full(shape, init.value, { backend });
  }
}
