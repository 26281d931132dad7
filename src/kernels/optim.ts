// WGSL for the fused optimizer updates, which write weights and state in place, dense or row-sparse.

import type { KernelProgram } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

const WORKGROUP_SIZE = 256;

export interface OptimizerKernelOptions {
  /** Algorithm name for labels, e.g. `adam`. */
  name: string;
  /** `dense`: the gradient has the parameter's shape. `sparse`: row ids and their gradient rows. */
  mode: 'dense' | 'sparse';
  /** Elements of the parameter. */
  paramSize: number;
  /** Elements per row (product of the row shape); 1 for a rank-1 parameter. */
  rowSize: number;
  /** Rows of the parameter (its first dimension), the bound that a sparse row id is checked against. */
  rows: number;
  /** Entries C of a sparse gradient (touched rows plus padding); unused for dense. */
  touchedRows: number;
  /** First row of the parameter in the row ids of a sparse gradient; 0 for dense. */
  rowOffset: number;
  /** WGSL names of the state slots, one f32 buffer of the parameter's shape each. */
  slots: string[];
  /** Hyperparameters, read in `body` as `u.<name>`. */
  uniforms: UniformField[];
  /**
   * WGSL statements of the update of one element, or of 4 adjacent ones as vec4. They read the
   * gradient `g`, and read and assign the weight `w` and one variable per slot (named as the
   * slot). All of these have the WGSL type alias `T` (`f32` or `vec4<f32>`), so the statements
   * use element-wise built-ins and `select` instead of branches on values.
   */
  body: string;
}

/**
 * Generates the update pass of one optimizer. It runs one invocation per updated element and
 * writes the parameter and its state slots in place, so they are bound `read_write` although
 * they are op inputs. The op has no outputs.
 *
 * Dense: element k of the parameter takes gradient element k.
 * Sparse: invocation e updates local row `rows[e / rowSize] - rowOffset` (in u32, so a row
 * below the offset wraps to a large value), column `e % rowSize`, with gradient element
 * `values[e]` (with 4 elements per invocation, e counts groups of 4 columns). A local row of at least `rows` is skipped: padding entries, rows of other
 * shards and bad ids alike, so no write lands out of bounds. Rows must be unique, because two
 * invocations that update one element would race. The element index
 * `row * rowSize + column` fits in u32 because the parameter fits one storage binding (at
 * most 2^32 bytes, so under 2^30 f32 elements).
 */
export function optimizerProgram(options: OptimizerKernelOptions): KernelProgram {
  const { name, mode, paramSize, rowSize, rows, touchedRows, slots } = options;
  // Rows (sparse) or parameters (dense) of a multiple of 4 elements update 4 per invocation.
  const lanes = (mode === 'dense' ? paramSize : rowSize) % 4 === 0 ? 4 : 1;
  const type = lanes === 4 ? 'vec4<f32>' : 'f32';
  const count = (mode === 'dense' ? paramSize : touchedRows * rowSize) / lanes;
  if (count === 0) return { passes: [] };

  const slotBindings: BindingDecl[] = slots.map((slot, i) => ({
    name: `${slot}_state`,
    dtype: type,
    ref: { kind: 'input', index: (mode === 'dense' ? 2 : 3) + i, access: 'read_write' },
  }));
  const gradientBindings: BindingDecl[] =
    mode === 'dense'
      ? [{ name: 'grad', dtype: type, ref: { kind: 'input', index: 1, access: 'read' } }]
      : [
          { name: 'rows', dtype: 'u32', ref: { kind: 'input', index: 1, access: 'read' } },
          { name: 'values', dtype: type, ref: { kind: 'input', index: 2, access: 'read' } },
        ];
  const bindings: BindingDecl[] = [
    { name: 'param', dtype: type, ref: { kind: 'input', index: 0, access: 'read_write' } },
    ...gradientBindings,
    ...slotBindings,
  ];
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['groups', 'u32', rowSize / lanes],
    ['rows', 'u32', rows],
    ['row_offset', 'u32', options.rowOffset],
    ...options.uniforms,
  ];

  // Indices count groups of `lanes` elements; a row has `u.groups` of them.
  const locate =
    mode === 'dense'
      ? `  let k = e;
  let g = grad[e];`
      : `  let row = rows[e / u.groups] - u.row_offset;
  if (row >= u.rows) { return; }
  let k = row * u.groups + e % u.groups;
  let g = values[e];`;
  const loads = slots.map((slot) => `  var ${slot} = ${slot}_state[k];`).join('\n');
  const stores = slots.map((slot) => `  ${slot}_state[k] = ${slot};`).join('\n');

  const wgsl = `${declareBindings(bindings, uniforms)}
alias T = ${type};
${computeEntry(WORKGROUP_SIZE)} {
  let e = ${flatWorkgroupIndex()} * ${WORKGROUP_SIZE}u + lid;
  if (e >= u.count) { return; }
${locate}
  var w = param[k];
${loads}
${options.body}
  param[k] = w;
${stores}
}
`;
  const shape = mode === 'dense' ? `[${paramSize}]` : `rows ${touchedRows} of [${rows},${rowSize}]`;
  return {
    passes: [
      {
        label: `${name} ${mode} ${shape}`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: grid1d(Math.ceil(count / WORKGROUP_SIZE)),
      },
    ],
  };
}

/** SGD: L2 decay added to the gradient, then the momentum buffer (heavy-ball or Nesterov), then the step. */
export function sgdBody(momentum: boolean, nesterov: boolean): string {
  const lines = ['  var d = g + u.weight_decay * w;'];
  if (momentum) {
    lines.push('  momentum_buffer = u.momentum * momentum_buffer + d;');
    lines.push(nesterov ? '  d = d + u.momentum * momentum_buffer;' : '  d = momentum_buffer;');
  }
  lines.push('  w = w - u.lr * d;');
  return lines.join('\n');
}

/**
 * Adam and AdamW. `u.step_size` is lr / (1 - beta1^t) and `u.sqrt_bias2` is sqrt(1 - beta2^t),
 * both computed on the host. AdamW scales the weight by `u.decay_factor` = 1 - lr * weight_decay
 * first; Adam adds `u.weight_decay * w` to the gradient instead.
 */
export function adamBody(decoupled: boolean): string {
  return `${decoupled ? '  w = w * u.decay_factor;\n  let d = g;' : '  let d = g + u.weight_decay * w;'}
  exp_avg = u.beta1 * exp_avg + u.one_minus_beta1 * d;
  exp_avg_sq = u.beta2 * exp_avg_sq + u.one_minus_beta2 * d * d;
  let denom = sqrt(exp_avg_sq) / u.sqrt_bias2 + u.eps;
  w = w - u.step_size * (exp_avg / denom);`;
}

/** Adagrad: the accumulator adds the squared gradient, and the step divides by its root. */
export function adagradBody(): string {
  return `  let d = g + u.weight_decay * w;
  sum = sum + d * d;
  w = w - u.lr * (d / (sqrt(sum) + u.eps));`;
}

/**
 * FTRL-Proximal, per coordinate, as in McMahan et al. 2013, "Ad Click Prediction: a View from
 * the Trenches", Algorithm 1, with `u.alpha` the learning-rate scale.
 */
export function ftrlBody(): string {
  return `  let n_next = n + g * g;
  let sigma = (sqrt(n_next) - sqrt(n)) / u.alpha;
  z = z + g - sigma * w;
  n = n_next;
  w = select(-(z - sign(z) * u.l1) / ((u.beta + sqrt(n)) / u.alpha + u.l2), T(0.0), abs(z) <= T(u.l1));`;
}
