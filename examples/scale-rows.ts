// A custom op defined outside Sparrow's source: y[n, d] = x[n, d] * s[n], with its gradient.

import * as sp from '../src/index.js';

const { declareBindings, input, output, packUniforms, grid1d, flatWorkgroupIndex, computeEntry } = sp.wgsl;

export const scaleRowsOp = sp.defineOp({
  name: 'scaleRows',

  // Shape rule: x is [N, D], s is [N]; the output has the shape of x.
  shape([x, s]) {
    if (x.shape.length !== 2 || s.shape.length !== 1 || s.shape[0] !== x.shape[0]) {
      throw new sp.ShapeError(`scaleRows: expected x [N, D] and s [N], got [${x.shape}] and [${s.shape}]`);
    }
    return [{ shape: x.shape, dtype: 'f32' }];
  },

  // CPU reference: plain loops.
  cpu({ inputs: [x, s], outputs: [y], inputSpecs }) {
    const [rows, cols] = inputSpecs[0].shape;
    for (let n = 0; n < rows; n++) {
      for (let d = 0; d < cols; d++) y[n * cols + d] = x[n * cols + d] * s[n];
    }
  },

  // WebGPU: one invocation per output element, over a grid that never exceeds 65,535 groups.
  webgpu({ inputSpecs }) {
    const [rows, cols] = inputSpecs[0].shape;
    const bindings = [input(0, 'x', 'f32'), input(1, 's', 'f32'), output(0, 'y', 'f32')];
    const uniforms: sp.wgsl.UniformField[] = [
      ['size', 'u32', rows * cols],
      ['cols', 'u32', cols],
    ];
    const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(64)} {
  let i = ${flatWorkgroupIndex()} * 64u + lid;
  if (i >= u.size) { return; }
  y[i] = x[i] * s[i / u.cols];
}`;
    return {
      passes: [
        {
          label: `scaleRows [${rows},${cols}]`,
          wgsl,
          buffers: bindings.map((binding) => binding.ref),
          uniforms: packUniforms(uniforms),
          dispatch: grid1d(Math.ceil((rows * cols) / 64)),
        },
      ],
    };
  },

  // Backward from public ops, so it runs on every backend: dx = g * s, ds = sum(g * x, 1).
  backward({ inputs: [x, s], grads: [g] }) {
    const column = s.reshape([s.shape[0], 1]);
    return [sp.mul(g!, column), sp.sum(sp.mul(g!, x), 1)];
  },
});

export function scaleRows(x: sp.Tensor, s: sp.Tensor): sp.Tensor {
  return sp.runOp(scaleRowsOp, [x, s], {})[0];
}
