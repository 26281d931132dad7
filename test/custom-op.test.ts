// The worked example of docs/custom-ops.md, tested with the helpers that the docs recommend.

import { expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck } from '../src/testing/index.js';
import { scaleRows } from '../examples/scale-rows.js';

test('scaleRows parity on every backend', async () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 13],
    [65, 4],
  ]) {
    await expectParity('scaleRows', scaleRows, [{ shape: [rows, cols] }, { shape: [rows] }], { tolerance: { atol: 1e-6, rtol: 1e-6 } });
  }
});

test('scaleRows gradcheck', () => {
  expect(gradcheck(scaleRows, [{ shape: [3, 4] }, { shape: [3] }])).toBe(15);
});

test('scaleRows rejects mismatched shapes', () => {
  const x = sp.zeros([3, 4], { backend: 'cpu' });
  const s = sp.zeros([2], { backend: 'cpu' });
  expect(() => scaleRows(x, s)).toThrow(/scaleRows: expected x \[N, D\] and s \[N\], got \[3,4\] and \[2\]/);
});

// A doubling op whose backward can be made wrong on purpose: `badShape` returns [N, 1] for [N, D].
const doubleOp = sp.defineOp<{ badShape: boolean }>({
  name: 'doubleForTest',
  shape: (inputs) => [{ shape: inputs[0].shape, dtype: 'f32' }],
  cpu: ({ inputs: [x], outputs: [out] }) => {
    for (let i = 0; i < x.length; i++) out[i] = 2 * x[i];
  },
  webgpu: ({ inputSpecs, outputSpecs }) => sp.mapProgram({ name: 'doubleForTest', inputs: inputSpecs, output: outputSpecs[0], expression: '2.0 * x0' }),
  backward: ({ grads: [g], attrs }) => [attrs.badShape ? sp.sum(g!, [1], true) : sp.mul(g!, 2)],
});

test('wrong gradient shape names the op', () => {
  const leaf = sp.ones([3, 4], { backend: 'cpu', requiresGrad: true });
  expect(() => sp.sum(sp.runOp(doubleOp, [leaf], { badShape: true })[0]).backward()).toThrow(
    "doubleForTest backward: the gradient of input 0 is [3, 1], but input 0 is tensor",
  );
  expect(leaf.grad).toBeNull();
  const inner = sp.mul(sp.ones([3, 4], { backend: 'cpu', requiresGrad: true }), 1);
  expect(() => sp.sum(sp.runOp(doubleOp, [inner], { badShape: true })[0]).backward()).toThrow(/^doubleForTest backward: the gradient of input 0 is \[3, 1\]/);
});

test('backward names the op that stopped the gradient', () => {
  const x = sp.ones([3], { backend: 'cpu', requiresGrad: true });
  const flags = sp.greater(x, 0);
  expect(() => sp.sum(sp.cast(flags, 'f32')).backward()).toThrow(/does not require a gradient: op greater, which made it, is not differentiable \(/);
});

test('defineOp names a missing function', () => {
  expect(() => sp.defineOp({ name: 'incomplete' } as unknown as sp.OpDef)).toThrow('defineOp: op "incomplete" has no shape function; every op needs shape, cpu and webgpu');
  const noBackward = { name: 'noBackward', shape: () => [], cpu: () => {}, webgpu: () => ({ passes: [] }) } as unknown as sp.OpDef;
  expect(() => sp.defineOp(noBackward)).toThrow(`defineOp: op "noBackward" needs a backward function, or { notDifferentiable: 'reason' } when it has no gradient`);
});
