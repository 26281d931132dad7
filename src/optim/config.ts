// Optimizer algorithms: their options, defaults, validation, state slots and per-step scalars.

/** SGD with optional momentum (heavy-ball or Nesterov) and L2 weight decay added to the gradient. */
export interface SgdConfig {
  kind: 'sgd';
  /** Momentum factor, 0 (default) for plain SGD. */
  momentum?: number;
  /** Nesterov momentum (default false); needs a momentum above 0. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient as weightDecay * w (default 0). */
  weightDecay?: number;
}

/**
 * Adam with bias correction. `adam` adds weightDecay * w to the gradient (L2 penalty, default 0).
 * `adamw` instead scales the weight by 1 - lr * weightDecay before the Adam step (decoupled
 * weight decay, default 0.01).
 */
export interface AdamConfig {
  kind: 'adam' | 'adamw';
  /** Decay of the first-moment average (default 0.9). */
  beta1?: number;
  /** Decay of the second-moment average (default 0.999). */
  beta2?: number;
  /** Added to the root of the bias-corrected second moment (default 1e-8). */
  eps?: number;
  weightDecay?: number;
}

/** Adagrad: the step of each coordinate is divided by the root of its summed squared gradients. */
export interface AdagradConfig {
  kind: 'adagrad';
  /** Starting value of the accumulator (default 0.1, as in TensorFlow); must be above 0 unless eps is. */
  initialAccumulatorValue?: number;
  /** Added to the root of the accumulator (default 1e-10, as in PyTorch). */
  eps?: number;
  /** L2 penalty added to the gradient as weightDecay * w (default 0). */
  weightDecay?: number;
}

/**
 * FTRL-Proximal as McMahan et al. 2013 ("Ad Click Prediction: a View from the Trenches",
 * Algorithm 1) define it. The group's learning rate is alpha.
 */
export interface FtrlConfig {
  kind: 'ftrl';
  /** The beta of the per-coordinate learning rate alpha / (beta + sqrt(n)) (default 1). */
  beta?: number;
  /** L1 strength lambda1 (default 0); coordinates with |z| <= l1 become exactly 0. */
  l1?: number;
  /** L2 strength lambda2 (default 0). */
  l2?: number;
  /** Starting value of the squared-gradient sum n (default 0, as in McMahan et al.). */
  initialAccumulatorValue?: number;
}

export type OptimizerConfig = SgdConfig | AdamConfig | AdagradConfig | FtrlConfig;
export type OptimizerKind = OptimizerConfig['kind'];

export type ResolvedSgd = Required<SgdConfig>;
export type ResolvedAdam = Required<AdamConfig>;
export type ResolvedAdagrad = Required<AdagradConfig>;
export type ResolvedFtrl = Required<FtrlConfig>;
/** A configuration with every default filled in. */
export type ResolvedConfig = ResolvedSgd | ResolvedAdam | ResolvedAdagrad | ResolvedFtrl;

export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'adam', 'adamw', 'adagrad', 'ftrl'];

function check(kind: string, name: string, value: number, valid: boolean, range: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || !valid) {
    throw new RangeError(`${kind}: ${name} is ${value}; expected ${range}`);
  }
}

/** The options each algorithm takes besides `kind`. */
const OPTION_NAMES: Record<OptimizerKind, readonly string[]> = {
  sgd: ['momentum', 'nesterov', 'weightDecay'],
  adam: ['beta1', 'beta2', 'eps', 'weightDecay'],
  adamw: ['beta1', 'beta2', 'eps', 'weightDecay'],
  adagrad: ['initialAccumulatorValue', 'eps', 'weightDecay'],
  ftrl: ['beta', 'l1', 'l2', 'initialAccumulatorValue'],
};

/**
 * Fills in the defaults of `config` and checks every value. Throws a TypeError when `config`
 * is not an object, and a RangeError naming an unknown option or a bad value.
 */
export function resolveConfig(config: OptimizerConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) {
    throw new TypeError(`optimizer: expected an object such as { kind: 'adam' }, got ${typeof config} ${JSON.stringify(config)}`);
  }
  const names = Object.prototype.hasOwnProperty.call(OPTION_NAMES, config.kind) ? OPTION_NAMES[config.kind] : undefined;
  const unknown = names === undefined ? undefined : Object.keys(config).find((key) => key !== 'kind' && !names.includes(key));
  if (names !== undefined && unknown !== undefined) {
    throw new RangeError(`${config.kind}: unknown option ${JSON.stringify(unknown)}; ${config.kind} takes ${names.join(', ')}`);
  }
  switch (config.kind) {
    case 'sgd': {
      const resolved: ResolvedSgd = {
        kind: 'sgd',
        momentum: config.momentum ?? 0,
        nesterov: config.nesterov ?? false,
        weightDecay: config.weightDecay ?? 0,
      };
      check('sgd', 'momentum', resolved.momentum, resolved.momentum >= 0, 'a number >= 0');
      check('sgd', 'weightDecay', resolved.weightDecay, resolved.weightDecay >= 0, 'a number >= 0');
      if (resolved.nesterov && resolved.momentum === 0) throw new RangeError('sgd: nesterov needs a momentum above 0');
      return resolved;
    }
    case 'adam':
    case 'adamw': {
      const resolved: ResolvedAdam = {
        kind: config.kind,
        beta1: config.beta1 ?? 0.9,
        beta2: config.beta2 ?? 0.999,
        eps: config.eps ?? 1e-8,
        weightDecay: config.weightDecay ?? (config.kind === 'adamw' ? 0.01 : 0),
      };
      check(config.kind, 'beta1', resolved.beta1, resolved.beta1 >= 0 && resolved.beta1 < 1, 'a number in [0, 1)');
      check(config.kind, 'beta2', resolved.beta2, resolved.beta2 >= 0 && resolved.beta2 < 1, 'a number in [0, 1)');
      check(config.kind, 'eps', resolved.eps, resolved.eps > 0, 'a number > 0');
      check(config.kind, 'weightDecay', resolved.weightDecay, resolved.weightDecay >= 0, 'a number >= 0');
      return resolved;
    }
    case 'adagrad': {
      const resolved: ResolvedAdagrad = {
        kind: 'adagrad',
        initialAccumulatorValue: config.initialAccumulatorValue ?? 0.1,
        eps: config.eps ?? 1e-10,
        weightDecay: config.weightDecay ?? 0,
      };
      check('adagrad', 'initialAccumulatorValue', resolved.initialAccumulatorValue, resolved.initialAccumulatorValue >= 0, 'a number >= 0');
      check('adagrad', 'eps', resolved.eps, resolved.eps >= 0, 'a number >= 0');
      check('adagrad', 'weightDecay', resolved.weightDecay, resolved.weightDecay >= 0, 'a number >= 0');
      if (resolved.initialAccumulatorValue === 0 && resolved.eps === 0) {
        throw new RangeError('adagrad: initialAccumulatorValue and eps are both 0, so a coordinate whose first gradient is 0 divides 0 by 0; make one of them positive');
      }
      return resolved;
    }
    case 'ftrl': {
      const resolved: ResolvedFtrl = {
        kind: 'ftrl',
        beta: config.beta ?? 1,
        l1: config.l1 ?? 0,
        l2: config.l2 ?? 0,
        initialAccumulatorValue: config.initialAccumulatorValue ?? 0,
      };
      check('ftrl', 'beta', resolved.beta, resolved.beta >= 0, 'a number >= 0');
      check('ftrl', 'l1', resolved.l1, resolved.l1 >= 0, 'a number >= 0');
      check('ftrl', 'l2', resolved.l2, resolved.l2 >= 0, 'a number >= 0');
      check('ftrl', 'initialAccumulatorValue', resolved.initialAccumulatorValue, resolved.initialAccumulatorValue >= 0, 'a number >= 0');
      return resolved;
    }
    default: {
      const kind = (config as { kind?: unknown }).kind;
      throw new RangeError(`optimizer: invalid kind ${JSON.stringify(kind)}; use one of ${OPTIMIZER_KINDS.join(', ')}`);
    }
  }
}

/** Checks a learning rate; for FTRL it is alpha, which must be above 0. */
export function checkLearningRate(kind: OptimizerKind, lr: number): void {
  if (kind === 'ftrl') check('ftrl', 'lr (alpha)', lr, lr > 0, 'a number > 0');
  else check(kind, 'lr', lr, lr >= 0, 'a number >= 0');
}

/** A state tensor that the optimizer keeps per parameter, of the parameter's shape. */
export interface SlotSpec {
  /** Name in the state dict and in WGSL, e.g. `exp_avg`. */
  name: string;
  initialValue: number;
}

/** Lists the state slots of an algorithm, in the order the update ops take them. */
export function slotsOf(config: ResolvedConfig): SlotSpec[] {
  switch (config.kind) {
    case 'sgd':
      return config.momentum > 0 ? [{ name: 'momentum_buffer', initialValue: 0 }] : [];
    case 'adam':
    case 'adamw':
      return [
        { name: 'exp_avg', initialValue: 0 },
        { name: 'exp_avg_sq', initialValue: 0 },
      ];
    case 'adagrad':
      return [{ name: 'sum', initialValue: config.initialAccumulatorValue }];
    case 'ftrl':
      return [
        { name: 'z', initialValue: 0 },
        { name: 'n', initialValue: config.initialAccumulatorValue },
      ];
  }
}
