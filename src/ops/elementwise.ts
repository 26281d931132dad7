// Element-wise ops: unary math, broadcasting binary arithmetic, comparisons, where, clamp, cast.

import { broadcastOffsets } from '../backend/cpu/loops.js';
import { mapProgram } from '../kernels/elementwise.js';
import type { DType } from '../tensor/dtype.js';
import { runOp } from '../tensor/engine.js';
import { broadcastShapes, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkDType, scalarLike } from './creation.js';
import { defineOp, type BackwardFn, type OpDef, type TensorSpec } from './op.js';
import { sumToShape } from './reduce.js';
import { expectDType, expectInputs, expectSameDType } from './validate.js';

export type TensorLike = Tensor | number;

function asTensor(value: TensorLike, like: Tensor): Tensor {
  return value instanceof Tensor ? value : scalarLike(value, like);
}

// ---------------------------------------------------------------------------------------------
// Unary ops

interface UnaryAttrs {
  alpha: number;
  low: number;
  high: number;
}

interface UnarySpec {
  cpu(x: number, attrs: UnaryAttrs): number;
  /** WGSL expression in `x0` and the uniforms `u.alpha`, `u.low`, `u.high`. */
  wgsl: string;
  backward: BackwardFn<UnaryAttrs> | { notDifferentiable: string };
}

function unaryOp(name: string, spec: UnarySpec): OpDef<UnaryAttrs> {
  return defineOp<UnaryAttrs>({
    name,
    shape(inputs) {
      expectInputs(name, inputs, 1);
      expectDType(name, inputs[0], ['f32']);
      return [{ shape: inputs[0].shape, dtype: 'f32' }];
    },
    cpu({ inputs: [x], outputs: [y], attrs }) {
      for (let i = 0; i < x.length; i++) y[i] = spec.cpu(x[i], attrs);
    },
    webgpu({ inputSpecs, outputSpecs, attrs }) {
      return mapProgram({
        name,
        inputs: inputSpecs,
        output: outputSpecs[0],
        expression: spec.wgsl,
        uniforms: [
          ['alpha', 'f32', attrs.alpha],
          ['low', 'f32', attrs.low],
          ['high', 'f32', attrs.high],
        ],
      });
    },
    backward: spec.backward,
    describeAttrs: () => '',
  });
}

const NO_ATTRS: UnaryAttrs = { alpha: 0, low: 0, high: 0 };

function unary(def: OpDef<UnaryAttrs>, x: Tensor, attrs: UnaryAttrs = NO_ATTRS): Tensor {
  return runOp(def, [x], attrs)[0];
}

export const negOp = unaryOp('neg', {
  cpu: (x) => -x,
  wgsl: '-x0',
  backward: ({ grads: [g] }) => [neg(g!)],
});

export const expOp = unaryOp('exp', {
  cpu: (x) => Math.exp(x),
  wgsl: 'exp(x0)',
  backward: ({ outputs: [y], grads: [g] }) => [mul(g!, y)],
});

export const logOp = unaryOp('log', {
  cpu: (x) => Math.log(x),
  wgsl: 'log(x0)',
  backward: ({ inputs: [x], grads: [g] }) => [div(g!, x)],
});

export const sqrtOp = unaryOp('sqrt', {
  cpu: (x) => Math.sqrt(x),
  wgsl: 'sqrt(x0)',
  backward: ({ outputs: [y], grads: [g] }) => [div(g!, mul(y, 2))],
});

export const absOp = unaryOp('abs', {
  cpu: (x) => Math.abs(x),
  wgsl: 'abs(x0)',
  backward: ({ inputs: [x], grads: [g] }) => [mul(g!, sign(x))],
});

export const signOp = unaryOp('sign', {
  cpu: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  wgsl: 'sign(x0)',
  backward: { notDifferentiable: 'sign is piecewise constant; its gradient is zero almost everywhere' },
});

export const reluOp = unaryOp('relu', {
  cpu: (x) => (x > 0 ? x : 0),
  wgsl: 'select(0.0, x0, x0 > 0.0)',
  backward: ({ inputs: [x], grads: [g] }) => [maskPositive(g!, x)],
});

export const leakyReluOp = unaryOp('leakyRelu', {
  cpu: (x, { alpha }) => (x > 0 ? x : alpha * x),
  wgsl: 'select(u.alpha * x0, x0, x0 > 0.0)',
  backward: ({ inputs: [x], grads: [g], attrs }) => [mul(g!, unary(leakyReluSlopeOp, x, attrs))],
});

/** Derivative of leaky ReLU: 1 where x > 0, else alpha. */
export const leakyReluSlopeOp = unaryOp('leakyReluSlope', {
  cpu: (x, { alpha }) => (x > 0 ? 1 : alpha),
  wgsl: 'select(u.alpha, 1.0, x0 > 0.0)',
  backward: { notDifferentiable: 'the slope of leaky ReLU is piecewise constant' },
});

export const sigmoidOp = unaryOp('sigmoid', {
  // Both branches avoid exp of a large positive number.
  cpu: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  wgsl: 'select(exp(x0) / (1.0 + exp(x0)), 1.0 / (1.0 + exp(-x0)), x0 >= 0.0)',
  backward: ({ outputs: [y], grads: [g] }) => [mul(g!, mul(y, sub(1, y)))],
});

export const tanhOp = unaryOp('tanh', {
  cpu: (x) => Math.tanh(x),
  // WGSL's tanh overflows to NaN for large |x| on some drivers; this form saturates to +-1.
  wgsl: 'sign(x0) * (1.0 - 2.0 / (exp(2.0 * min(abs(x0), 20.0)) + 1.0))',
  backward: ({ outputs: [y], grads: [g] }) => [mul(g!, sub(1, mul(y, y)))],
});

export const clampOp = unaryOp('clamp', {
  cpu: (x, { low, high }) => Math.min(Math.max(x, low), high),
  wgsl: 'min(max(x0, u.low), u.high)',
  backward: ({ inputs: [x], grads: [g], attrs }) => [mul(g!, unary(clampMaskOp, x, attrs))],
});

/** 1 where low <= x <= high (where clamp passes the gradient through), else 0. */
export const clampMaskOp = unaryOp('clampMask', {
  cpu: (x, { low, high }) => (x >= low && x <= high ? 1 : 0),
  wgsl: 'select(0.0, 1.0, x0 >= u.low && x0 <= u.high)',
  backward: { notDifferentiable: 'a mask is piecewise constant' },
});

export const neg = (x: Tensor): Tensor => unary(negOp, x);
export const exp = (x: Tensor): Tensor => unary(expOp, x);
export const log = (x: Tensor): Tensor => unary(logOp, x);
export const sqrt = (x: Tensor): Tensor => unary(sqrtOp, x);
export const abs = (x: Tensor): Tensor => unary(absOp, x);
export const sign = (x: Tensor): Tensor => unary(signOp, x);
export const relu = (x: Tensor): Tensor => unary(reluOp, x);
export const sigmoid = (x: Tensor): Tensor => unary(sigmoidOp, x);
export const tanh = (x: Tensor): Tensor => unary(tanhOp, x);

export function leakyRelu(x: Tensor, alpha = 0.01): Tensor {
  return unary(leakyReluOp, x, { ...NO_ATTRS, alpha });
}

/** Limits values to [low, high]; the gradient passes where low <= x <= high. */
export function clamp(x: Tensor, low: number, high: number): Tensor {
  if (!(low <= high)) throw new RangeError(`clamp: low ${low} must be at most high ${high}`);
  return unary(clampOp, x, { ...NO_ATTRS, low, high });
}

// ---------------------------------------------------------------------------------------------
// Binary ops with broadcasting

interface BinarySpec {
  cpu(a: number, b: number): number;
  /** WGSL expression in `x0` and `x1`. */
  wgsl: string;
  helpers?: string;
  /** Output dtype is f32 for every binary op; comparisons return 1 or 0. */
  backward: BackwardFn<Record<string, never>> | { notDifferentiable: string };
}

function binaryShape(name: string, inputs: TensorSpec[]): TensorSpec[] {
  expectInputs(name, inputs, 2);
  expectDType(name, inputs[0], ['f32'], 'first input');
  expectSameDType(name, inputs[0], inputs[1]);
  return [{ shape: broadcastShapes(name, inputs[0].shape, inputs[1].shape), dtype: 'f32' }];
}

function binaryOp(name: string, spec: BinarySpec): OpDef {
  return defineOp({
    name,
    shape: (inputs) => binaryShape(name, inputs),
    cpu({ inputs: [a, b], outputs: [y], inputSpecs, outputSpecs }) {
      if (shapesEqual(inputSpecs[0].shape, inputSpecs[1].shape)) {
        for (let i = 0; i < y.length; i++) y[i] = spec.cpu(a[i], b[i]);
        return;
      }
      const [offsetA, offsetB] = broadcastOffsets([inputSpecs[0].shape, inputSpecs[1].shape], outputSpecs[0].shape);
      for (let i = 0; i < y.length; i++) y[i] = spec.cpu(a[offsetA[i]], b[offsetB[i]]);
    },
    webgpu: ({ inputSpecs, outputSpecs }) =>
      mapProgram({ name, inputs: inputSpecs, output: outputSpecs[0], expression: spec.wgsl, helpers: spec.helpers }),
    backward: spec.backward,
  });
}

function binary(def: OpDef, a: TensorLike, b: TensorLike): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new TypeError(`${def.name}: at least one operand must be a Tensor`);
  const left = a instanceof Tensor ? a : asTensor(a, b as Tensor);
  const right = b instanceof Tensor ? b : asTensor(b, left);
  try {
    return runOp(def, [left, right], {})[0];
  } finally {
    if (left !== a) left.dispose();
    if (right !== b) right.dispose();
  }
}

export const addOp = binaryOp('add', {
  cpu: (a, b) => a + b,
  wgsl: 'x0 + x1',
  backward: ({ inputs: [a, b], grads: [g] }) => [sumToShape(g!, a.shape), sumToShape(g!, b.shape)],
});

export const subOp = binaryOp('sub', {
  cpu: (a, b) => a - b,
  wgsl: 'x0 - x1',
  backward: ({ inputs: [a, b], grads: [g], needsInputGrad: [needA, needB] }) => [
    needA ? sumToShape(g!, a.shape) : null,
    needB ? sumToShape(neg(g!), b.shape) : null,
  ],
});

export const mulOp = binaryOp('mul', {
  cpu: (a, b) => a * b,
  wgsl: 'x0 * x1',
  backward: ({ inputs: [a, b], grads: [g], needsInputGrad: [needA, needB] }) => [
    needA ? sumToShape(mul(g!, b), a.shape) : null,
    needB ? sumToShape(mul(g!, a), b.shape) : null,
  ],
});

export const divOp = binaryOp('div', {
  cpu: (a, b) => a / b,
  wgsl: 'x0 / x1',
  backward: ({ inputs: [a, b], outputs: [y], grads: [g], needsInputGrad: [needA, needB] }) => [
    needA ? sumToShape(div(g!, b), a.shape) : null,
    needB ? sumToShape(neg(div(mul(g!, y), b)), b.shape) : null,
  ],
});

/**
 * Power with the CPU's rules for a negative base: an integer exponent gives a signed result,
 * a fractional one NaN; `0^b` is 0 for b > 0, 1 for b = 0 and +Infinity for b < 0.
 */
function powReference(a: number, b: number): number {
  if (a === 0) return b > 0 ? 0 : b === 0 ? 1 : Infinity;
  if (a < 0 && !Number.isInteger(b)) return NaN;
  const magnitude = Math.exp(b * Math.log(Math.abs(a)));
  return a < 0 && Math.abs(b % 2) === 1 ? -magnitude : magnitude;
}

export const powOp = binaryOp('pow', {
  cpu: (a, b) => (a > 0 ? Math.pow(a, b) : powReference(a, b)),
  wgsl: 'sparrow_pow(x0, x1)',
  // Infinity and NaN come from private variables: WGSL rejects them as constant expressions.
  helpers: `var<private> INFINITY_BITS: u32 = 0x7f800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn sparrow_pow(a: f32, b: f32) -> f32 {
  if (a == 0.0) { return select(select(bitcast<f32>(INFINITY_BITS), 1.0, b == 0.0), 0.0, b > 0.0); }
  if (a > 0.0) { return pow(a, b); }
  if (b != trunc(b)) { return bitcast<f32>(NAN_BITS); }
  let magnitude = pow(-a, b);
  return select(magnitude, -magnitude, abs(b % 2.0) == 1.0);
}`,
  backward: ({ inputs: [a, b], outputs: [y], grads: [g] }) => {
    const gradA = mul(g!, mul(b, pow(a, sub(b, 1))));
    // d(a^b)/db = a^b * log(a), taken as 0 where a <= 0 (log undefined there).
    const positive = greater(a, 0);
    const safeLog = log(where(positive, a, 1));
    const gradB = mul(g!, mul(y, safeLog));
    return [sumToShape(gradA, a.shape), sumToShape(gradB, b.shape)];
  },
});

export const maximumOp = binaryOp('maximum', {
  cpu: (a, b) => (a >= b ? a : b),
  wgsl: 'select(x1, x0, x0 >= x1)',
  backward: ({ inputs: [a, b], grads: [g] }) => {
    const takeA = greaterEqual(a, b);
    return [sumToShape(mul(g!, takeA), a.shape), sumToShape(mul(g!, sub(1, takeA)), b.shape)];
  },
});

const comparison = (name: string, cpu: (a: number, b: number) => boolean, wgsl: string) =>
  binaryOp(name, {
    cpu: (a, b) => (cpu(a, b) ? 1 : 0),
    wgsl: `select(0.0, 1.0, ${wgsl})`,
    backward: { notDifferentiable: 'comparisons return 0 or 1 and are piecewise constant' },
  });

/**
 * The gradient that passes a ReLU: `g` where `x` > 0, else 0, in one pass instead of a
 * comparison and a product. Broadcasts like any binary op; `x` gets no gradient (the mask is
 * piecewise constant).
 */
export const maskPositiveOp = binaryOp('maskPositive', {
  cpu: (g, x) => (x > 0 ? g : 0),
  wgsl: 'select(0.0, x0, x1 > 0.0)',
  backward: ({ inputs: [g, x], grads: [gg] }) => [sumToShape(maskPositive(gg!, x), g.shape), null],
});

export const greaterOp = comparison('greater', (a, b) => a > b, 'x0 > x1');
export const greaterEqualOp = comparison('greaterEqual', (a, b) => a >= b, 'x0 >= x1');
export const lessOp = comparison('less', (a, b) => a < b, 'x0 < x1');
export const equalOp = comparison('equal', (a, b) => a === b, 'x0 == x1');

export const add = (a: TensorLike, b: TensorLike): Tensor => binary(addOp, a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binary(subOp, a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binary(mulOp, a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => binary(divOp, a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binary(powOp, a, b);
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binary(maximumOp, a, b);
/** `g` where `x` > 0, else 0: the gradient through a ReLU of input (or output) `x`. */
export const maskPositive = (g: TensorLike, x: TensorLike): Tensor => binary(maskPositiveOp, g, x);
/** 1 where a > b, else 0 (f32). */
export const greater = (a: TensorLike, b: TensorLike): Tensor => binary(greaterOp, a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => binary(greaterEqualOp, a, b);
export const less = (a: TensorLike, b: TensorLike): Tensor => binary(lessOp, a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binary(equalOp, a, b);

// ---------------------------------------------------------------------------------------------
// where and cast

/**
 * Picks `a` where `condition` is non-zero and `b` elsewhere, broadcasting all three.
 * The condition may be f32, i32 or u32 and gets no gradient.
 */
export const whereOp = defineOp({
  name: 'where',
  shape(inputs) {
    expectInputs('where', inputs, 3);
    expectDType('where', inputs[1], ['f32'], 'a');
    expectSameDType('where', inputs[1], inputs[2]);
    const shape = broadcastShapes('where', broadcastShapes('where', inputs[0].shape, inputs[1].shape), inputs[2].shape);
    return [{ shape, dtype: 'f32' }];
  },
  cpu({ inputs: [condition, a, b], outputs: [y], inputSpecs, outputSpecs }) {
    const [oc, oa, ob] = broadcastOffsets(
      inputSpecs.map((spec) => spec.shape),
      outputSpecs[0].shape,
    );
    for (let i = 0; i < y.length; i++) y[i] = condition[oc[i]] !== 0 ? a[oa[i]] : b[ob[i]];
  },
  webgpu: ({ inputSpecs, outputSpecs }) =>
    mapProgram({
      name: 'where',
      inputs: inputSpecs,
      output: outputSpecs[0],
      expression: `select(x2, x1, x0 != ${inputSpecs[0].dtype === 'f32' ? '0.0' : inputSpecs[0].dtype === 'i32' ? '0i' : '0u'})`,
    }),
  backward: ({ inputs: [condition, a, b], grads: [g] }) => {
    const zero = scalarLike(0, g!);
    const gradA = sumToShape(where(condition, g!, zero), a.shape);
    const gradB = sumToShape(where(condition, zero, g!), b.shape);
    zero.dispose();
    return [null, gradA, gradB];
  },
});

export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const left = asTensor(a, condition);
  const right = asTensor(b, condition);
  try {
    return runOp(whereOp, [condition, left, right], {})[0];
  } finally {
    if (left !== a) left.dispose();
    if (right !== b) right.dispose();
  }
}

interface CastAttrs {
  dtype: DType;
}

/** Float to integer truncates toward zero and saturates at the integer range; NaN becomes 0. */
function castReference(value: number, from: DType, to: DType): number {
  if (to === 'f32' || from === to) return value;
  if (from === 'f32') {
    if (Number.isNaN(value)) return 0;
    const truncated = Math.trunc(value);
    return to === 'i32' ? Math.min(Math.max(truncated, -2147483648), 2147483520) : Math.min(Math.max(truncated, 0), 4294967040);
  }
  // Between i32 and u32 the bits are reinterpreted, as WGSL's bitcast does.
  return to === 'u32' ? value >>> 0 : value | 0;
}

export const castOp = defineOp<CastAttrs>({
  name: 'cast',
  shape(inputs, { dtype }) {
    expectInputs('cast', inputs, 1);
    return [{ shape: inputs[0].shape, dtype }];
  },
  cpu({ inputs: [x], outputs: [y], inputSpecs, attrs }) {
    for (let i = 0; i < x.length; i++) y[i] = castReference(x[i], inputSpecs[0].dtype, attrs.dtype);
  },
  webgpu({ inputSpecs, outputSpecs, attrs }) {
    const from = inputSpecs[0].dtype;
    const to = attrs.dtype;
    let expression = `${to}(x0)`;
    if (from === to) expression = 'x0';
    else if (from !== 'f32' && to !== 'f32') expression = `bitcast<${to}>(x0)`;
    else if (from === 'f32' && to === 'i32') expression = 'select(i32(clamp(x0, -2147483648.0, 2147483520.0)), 0i, x0 != x0)';
    else if (from === 'f32' && to === 'u32') expression = 'select(u32(clamp(x0, 0.0, 4294967040.0)), 0u, x0 != x0)';
    return mapProgram({ name: 'cast', inputs: inputSpecs, output: outputSpecs[0], expression });
  },
  backward: ({ inputs: [x], grads: [g] }) => [x.dtype === 'f32' ? g : null],
});

/** Converts to another dtype; see `castReference` for the rules. */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkDType('cast', dtype);
  return runOp(castOp, [x], { dtype })[0];
}
