// Parity, gradient and bad-input checks for gather, scatterAdd and oneHot on every backend present.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { expectParity, gradcheck, testBackends, type InputSpec } from '../src/testing/index.js';

// gather, oneHot and scatterAdd copy values or add them in the CPU's order, in float32 on
// both backends, so results match bit for bit.
const EXACT = { atol: 0, rtol: 0 };

function idSpec(shape: number[], rows: number, dtype: 'i32' | 'u32' = 'i32'): InputSpec {
  return { shape, dtype, low: 0, high: rows, differentiable: false };
}

async function webgpuPresent(): Promise<boolean> {
  return (await testBackends()).includes('webgpu');
}

describe('gather', () => {
  // [table shape, ids shape, ids dtype]: a one-row table, a rank-1 table (scalar rows), ids
  // just past a 256-wide workgroup, 2-D ids, a multi-dimensional row shape, and u32 ids.
  const cases: [number[], number[], 'i32' | 'u32'][] = [
    [[1, 3], [5], 'i32'],
    [[7], [3], 'i32'],
    [[7, 3], [257], 'i32'],
    [[13, 5], [2, 3], 'i32'],
    [[11, 2, 3], [4], 'u32'],
    [[5, 67], [9], 'u32'],
  ];

  test('parity at awkward sizes', async () => {
    for (const [table, ids, dtype] of cases) {
      await expectParity('gather', (table, ids) => sp.gather(table, ids), [{ shape: table }, idSpec(ids, table[0], dtype)], { tolerance: EXACT });
    }
  });

  test('gradcheck with duplicate ids', () => {
    // Ten ids over four rows repeat some rows, so the gradient accumulates; one row may get none.
    expect(gradcheck((table, ids) => sp.gather(table, ids), [{ shape: [4, 3] }, idSpec([10], 4)])).toBe(12);
  });

  test('values of a small case', async () => {
    const table = sp.tensor([[1, 2], [3, 4], [5, 6]], undefined, { backend: 'cpu' });
    const ids = sp.tensor(new Int32Array([2, 0, 2]), [3], { backend: 'cpu' });
    expect(await sp.gather(table, ids).array()).toEqual([[5, 6], [1, 2], [5, 6]]);
  });

  test('empty ids give an empty output', async () => {
    for (const backend of await testBackends()) {
      const table = sp.tensor([1, 2, 3, 4], [2, 2], { backend });
      const ids = sp.tensor(new Int32Array([]), [0], { backend });
      const out = sp.gather(table, ids);
      expect(out.shape).toEqual([0, 2]);
      expect((await out.data()).length).toBe(0);
    }
  });

  test('out-of-range id throws on the CPU', () => {
    const table = sp.zeros([4, 2], { backend: 'cpu' });
    const tooLarge = sp.tensor(new Int32Array([0, 1, 2, 3, 4, 1]), [2, 3], { backend: 'cpu' });
    expect(() => sp.gather(table, tooLarge)).toThrow(RangeError);
    expect(() => sp.gather(table, tooLarge)).toThrow('gather: ids[1, 1] is 4, outside the valid range [0, 4) of table rows');

    const negative = sp.tensor(new Int32Array([-1]), [1], { backend: 'cpu' });
    expect(() => sp.gather(table, negative)).toThrow('gather: ids[0] is -1, outside the valid range [0, 4)');
  });

  test('out-of-range id gives a zero row on WebGPU', async () => {
    if (!(await webgpuPresent())) return;
    const table = sp.tensor([1, 2, 3, 4, 5, 6], [3, 2], { backend: 'webgpu' });
    const ids = sp.tensor(new Int32Array([1, 3, -1, 2147483647, 0]), [5], { backend: 'webgpu' });
    expect(await sp.gather(table, ids).array()).toEqual([[3, 4], [0, 0], [0, 0], [0, 0], [1, 2]]);

    const unsigned = sp.tensor(new Uint32Array([4294967295, 2]), [2], { backend: 'webgpu' });
    expect(await sp.gather(table, unsigned).array()).toEqual([[0, 0], [5, 6]]);
  });

  test('bad dtypes and shapes are rejected', () => {
    const table = sp.zeros([4, 2], { backend: 'cpu' });
    const ids = sp.tensor(new Int32Array([0]), [1], { backend: 'cpu' });
    expect(() => sp.gather(table, sp.zeros([1], { backend: 'cpu' }))).toThrow(/gather: ids f32\[1\] has dtype f32; expected i32 or u32/);
    expect(() => sp.gather(sp.zeros([4, 2], { backend: 'cpu', dtype: 'i32' }), ids)).toThrow(sp.DTypeError);
    expect(() => sp.gather(sp.tensor(3, [], { backend: 'cpu' }), ids)).toThrow(/gather: table must have rank at least 1/);
  });
});

describe('scatterAdd', () => {
  // [ids shape, row shape, rows]: one output row, a scalar row, more ids than one 64-id
  // tile, rows wider than one 64-column block, and 2-D ids.
  const cases: [number[], number[], number][] = [
    [[5], [3], 1],
    [[7], [], 4],
    [[130], [3], 7],
    [[9], [67], 5],
    [[2, 3], [2, 2], 3],
  ];

  test('parity at awkward sizes', async () => {
    for (const [ids, row, rows] of cases) {
      const fn = (i: sp.Tensor, v: sp.Tensor) => sp.scatterAdd(i, v, rows);
      await expectParity('scatterAdd', fn, [idSpec(ids, rows), { shape: [...ids, ...row] }], { tolerance: EXACT });
      await expectParity('scatterAdd u32', fn, [idSpec(ids, rows, 'u32'), { shape: [...ids, ...row] }], { tolerance: EXACT });
    }
  });

  test('more than 65,535 output rows', async () => {
    // One workgroup per output row, so 70,000 rows need a grid that spans y.
    const fn = (ids: sp.Tensor, values: sp.Tensor) => sp.scatterAdd(ids, values, 70000);
    await expectParity('scatterAdd many rows', fn, [idSpec([20], 70000), { shape: [20] }], { tolerance: EXACT });
  });

  test('gradcheck', () => {
    const fn = (ids: sp.Tensor, values: sp.Tensor) => sp.scatterAdd(ids, values, 4);
    expect(gradcheck(fn, [idSpec([6], 4), { shape: [6, 2] }])).toBe(12);
  });

  test('is the gradient of gather', async () => {
    const table = sp.tensor([1, 2, 3, 4, 5, 6], [3, 2], { backend: 'cpu', requiresGrad: true });
    const ids = sp.tensor(new Int32Array([2, 2, 0]), [3], { backend: 'cpu' });
    sp.sum(sp.gather(table, ids)).backward();
    expect(await table.grad!.array()).toEqual([[1, 1], [0, 0], [2, 2]]);
  });

  test('sums duplicates and leaves unnamed rows zero', async () => {
    for (const backend of await testBackends()) {
      const ids = sp.tensor(new Int32Array([1, 3, 1]), [3], { backend });
      const values = sp.tensor([1, 2, 10, 20, 100, 200], [3, 2], { backend });
      expect(await sp.scatterAdd(ids, values, 4).array()).toEqual([[0, 0], [101, 202], [0, 0], [10, 20]]);
    }
  });

  test('no ids give zeros', async () => {
    for (const backend of await testBackends()) {
      const ids = sp.tensor(new Int32Array([]), [0], { backend });
      const values = sp.zeros([0, 3], { backend });
      expect(Array.from(await sp.scatterAdd(ids, values, 2).data())).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  test('out-of-range id throws on the CPU', () => {
    const ids = sp.tensor(new Int32Array([0, 5]), [2], { backend: 'cpu' });
    const values = sp.ones([2, 3], { backend: 'cpu' });
    expect(() => sp.scatterAdd(ids, values, 5)).toThrow(RangeError);
    expect(() => sp.scatterAdd(ids, values, 5)).toThrow('scatterAdd: ids[1] is 5, outside the valid range [0, 5) of output rows');
  });

  test('out-of-range id adds nothing on WebGPU', async () => {
    if (!(await webgpuPresent())) return;
    const ids = sp.tensor(new Int32Array([0, 2, -1, 1]), [4], { backend: 'webgpu' });
    const values = sp.tensor([1, 2, 3, 4], [4], { backend: 'webgpu' });
    expect(Array.from(await sp.scatterAdd(ids, values, 2).data())).toEqual([1, 4]);
  });

  test('bad shapes and rows are rejected', () => {
    const ids = sp.tensor(new Int32Array([0, 1]), [2], { backend: 'cpu' });
    expect(() => sp.scatterAdd(ids, sp.zeros([3, 2], { backend: 'cpu' }), 4)).toThrow(
      'scatterAdd: values [3, 2] must start with the ids shape [2] ([...ids.shape, ...rowShape])',
    );
    expect(() => sp.scatterAdd(ids, sp.zeros([2], { backend: 'cpu' }), -1)).toThrow(/scatterAdd: rows must be a non-negative integer, got -1/);
    expect(() => sp.scatterAdd(ids, sp.zeros([2], { backend: 'cpu' }), 2.5)).toThrow(RangeError);
  });
});

describe('oneHot', () => {
  test('parity at awkward sizes', async () => {
    const cases: [number[], number][] = [
      [[1], 1],
      [[7], 3],
      [[257], 5],
      [[2, 3], 300],
    ];
    for (const [shape, depth] of cases) {
      await expectParity('oneHot', (ids) => sp.oneHot(ids, depth), [idSpec(shape, depth)], { tolerance: EXACT });
      await expectParity('oneHot u32', (ids) => sp.oneHot(ids, depth), [idSpec(shape, depth, 'u32')], { tolerance: EXACT });
    }
  });

  test('values of a small case', async () => {
    const ids = sp.tensor(new Uint32Array([2, 0]), [2], { backend: 'cpu' });
    expect(await sp.oneHot(ids, 3).array()).toEqual([[0, 0, 1], [1, 0, 0]]);
  });

  test('out-of-range id throws on the CPU', () => {
    const ids = sp.tensor(new Int32Array([1, 3]), [2], { backend: 'cpu' });
    expect(() => sp.oneHot(ids, 3)).toThrow('oneHot: ids[1] is 3, outside the valid range [0, 3) of classes (depth)');
  });

  test('out-of-range id gives a zero row on WebGPU', async () => {
    if (!(await webgpuPresent())) return;
    const ids = sp.tensor(new Int32Array([1, 3, -1]), [3], { backend: 'webgpu' });
    expect(await sp.oneHot(ids, 3).array()).toEqual([[0, 1, 0], [0, 0, 0], [0, 0, 0]]);
  });

  test('bad dtype and depth are rejected', () => {
    const ids = sp.tensor(new Int32Array([0]), [1], { backend: 'cpu' });
    expect(() => sp.oneHot(sp.zeros([1], { backend: 'cpu' }), 2)).toThrow(sp.DTypeError);
    expect(() => sp.oneHot(ids, 0)).toThrow('oneHot: depth must be a positive integer, got 0');
  });
});
