// Embedding bags: CPU-WebGPU parity, gradients against a dense computation, sharding, determinism, bad input.

import { describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { gradcheck, testBackends } from '../../src/testing/index.js';
import { hashU32 } from '../../src/ops/random-hash.js';

type Backend = 'cpu' | 'webgpu';

interface Case {
  fields: sp.FieldSpec[];
  batchSize: number;
  dim: number;
  /** Bag lengths cycle through these, so bags of 0, 1 and many ids all occur. */
  lengths: number[];
  pooling: sp.Pooling;
  weighted?: boolean;
  shardRows?: number;
  shardsPerPass?: number;
  atomicGrad?: boolean;
}

/** Seeded CSR fields: small vocabularies make ids repeat within and across bags. */
function makeFields(layout: sp.TableLayout, c: Case, seed: number): sp.SparseFieldInput[] {
  let state = seed >>> 0;
  const next = () => (state = hashU32(state + 1));
  return layout.fields.map((field, f) => {
    const ids: number[] = [];
    const offsets = [0];
    const weights: number[] = [];
    for (let b = 0; b < c.batchSize; b++) {
      const length = c.lengths[(b + f) % c.lengths.length];
      for (let j = 0; j < length; j++) {
        ids.push(next() % field.rows);
        weights.push(0.25 + (next() % 1000) / 500);
      }
      offsets.push(ids.length);
    }
    return { ids, offsets, weights: c.weighted ? weights : undefined };
  });
}

function tableValues(rows: number, dim: number, seed: number): Float32Array {
  return Float32Array.from(sp.testing.inputValues({ shape: [rows, dim] }, seed, 0));
}

interface Run {
  output: Float32Array;
  /** Densified gradient of the whole table, and the raw rows of shard 0's gradient. */
  grad: Float32Array;
  rows: Uint32Array;
}

async function run(backend: Backend, c: Case, seed = 11): Promise<Run> {
  const layout = new sp.TableLayout(c.fields);
  const table = sp.ShardedTable.create(layout.totalRows, c.dim, {
    backend,
    shardRows: c.shardRows,
    init: { kind: 'values', values: tableValues(layout.totalRows, c.dim, seed) },
    requiresGrad: true,
  });
  const batch = sp.embeddingBatch(layout, makeFields(layout, c, seed), { backend });
  const projection = sp.tensor(sp.testing.inputValues({ shape: [c.batchSize, layout.fieldCount, c.dim], low: 0.5, high: 1.5 }, seed + 1, 0), [c.batchSize, layout.fieldCount, c.dim], { backend });

  const output = sp.embeddingBags(table, batch, { pooling: c.pooling, shardsPerPass: c.shardsPerPass, atomicGrad: c.atomicGrad });
  sp.sum(sp.mul(output, projection)).backward();

  const grad = new Float32Array(layout.totalRows * c.dim);
  for (const [k, shard] of table.shards.entries()) {
    const dense = sp.rowSparseToDense(shard.sparseGrad!);
    grad.set((await dense.data()) as Float32Array, k * table.shardRows * c.dim);
    dense.dispose();
  }
  const result: Run = {
    output: (await output.data()) as Float32Array,
    grad,
    rows: (await table.shards[0].sparseGrad!.rows.data()) as Uint32Array,
  };
  [output, projection].forEach((t) => t.dispose());
  batch.dispose();
  table.dispose();
  layout.dispose();
  return result;
}

function expectClose(label: string, got: Float32Array, expected: Float32Array, atol: number, rtol: number): void {
  expect(got.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Object.is(got[i], expected[i]) || Math.abs(got[i] - expected[i]) <= atol + rtol * Math.abs(expected[i])) continue;
    throw new Error(`${label}: element ${i} is ${got[i]}, expected ${expected[i]} (atol ${atol}, rtol ${rtol})`);
  }
}

async function expectBackendsAgree(name: string, c: Case, tolerance = { atol: 0, rtol: 0 }): Promise<void> {
  const reference = await run('cpu', c);
  expect(reference.output.some((v) => v !== 0), `${name}: the CPU output is all zeros`).toBe(true);
  for (const backend of (await testBackends()).filter((b) => b !== 'cpu')) {
    const actual = await run(backend as Backend, c);
    expectClose(`${name} on ${backend}, output`, actual.output, reference.output, tolerance.atol, tolerance.rtol);
    expectClose(`${name} on ${backend}, gradient`, actual.grad, reference.grad, tolerance.atol, tolerance.rtol);
    // The atomic path lists rows in no particular order.
    const order = (rows: Uint32Array) => (c.atomicGrad ? Array.from(rows).sort((a, b) => a - b) : Array.from(rows));
    expect(order(actual.rows), `${name} on ${backend}, gradient rows`).toEqual(order(reference.rows));
  }
}

const FIELDS: sp.FieldSpec[] = [
  { name: 'city', rows: 13 },
  { name: 'tags', rows: 5, paddingId: 0 },
  { name: 'device', rows: 1 },
];
// Unweighted sums and maxima add or compare float32 values in one order on both backends,
// so they match bit for bit.
const EXACT = { atol: 0, rtol: 0 };
// The driver may contract a weight times a value and the following add into a fused
// multiply-add, and WGSL bounds f32 division only to 2.5 ulps. So weighted sums and means
// may differ from the CPU's correctly rounded float32 by a few ulps.
const ROUNDED = { atol: 1e-6, rtol: 1e-5 };

describe('embeddingBags parity', () => {
  test('sum with bags of 0, 1 and many ids', async () => {
    await expectBackendsAgree('sum', { fields: FIELDS, batchSize: 37, dim: 5, lengths: [0, 1, 7, 2, 20], pooling: 'sum' }, EXACT);
  });

  test('weighted sum', async () => {
    await expectBackendsAgree('weighted sum', { fields: FIELDS, batchSize: 29, dim: 3, lengths: [3, 0, 1, 9], pooling: 'sum', weighted: true }, ROUNDED);
  });

  test('mean', async () => {
    await expectBackendsAgree('mean', { fields: FIELDS, batchSize: 31, dim: 67, lengths: [1, 4, 0, 11], pooling: 'mean' }, ROUNDED);
  });

  test('max', async () => {
    await expectBackendsAgree('max', { fields: FIELDS, batchSize: 23, dim: 4, lengths: [2, 0, 5, 1, 13], pooling: 'max' }, EXACT);
  });

  // A dimension that is a multiple of 4 runs the vec4 kernels: one invocation takes a chunk
  // of 16, 8, 4, 2 or 1 vec4 groups (dims 64; 32; 16; 8; 12).
  test('every pooling at a dimension of a multiple of 4', async () => {
    const lengths = [0, 1, 7, 2, 20];
    await expectBackendsAgree('vec4 sum', { fields: FIELDS, batchSize: 33, dim: 8, lengths, pooling: 'sum' }, EXACT);
    await expectBackendsAgree('vec4 weighted sum', { fields: FIELDS, batchSize: 29, dim: 12, lengths, pooling: 'sum', weighted: true }, ROUNDED);
    await expectBackendsAgree('vec4 mean', { fields: FIELDS, batchSize: 31, dim: 8, lengths, pooling: 'mean' }, ROUNDED);
    await expectBackendsAgree('vec4 max', { fields: FIELDS, batchSize: 23, dim: 12, lengths, pooling: 'max' }, EXACT);
    await expectBackendsAgree('vec4 chunk sum', { fields: FIELDS, batchSize: 35, dim: 16, lengths, pooling: 'sum' }, EXACT);
    await expectBackendsAgree('vec4 chunk weighted sum', { fields: FIELDS, batchSize: 27, dim: 32, lengths, pooling: 'sum', weighted: true }, ROUNDED);
    await expectBackendsAgree('vec4 chunk mean', { fields: FIELDS, batchSize: 19, dim: 64, lengths, pooling: 'mean' }, ROUNDED);
    await expectBackendsAgree('vec4 chunk max of 64', { fields: FIELDS, batchSize: 13, dim: 64, lengths, pooling: 'max' }, EXACT);
    await expectBackendsAgree('vec4 chunk max', { fields: FIELDS, batchSize: 21, dim: 16, lengths, pooling: 'max' }, EXACT);
    const fields: sp.FieldSpec[] = [
      { name: 'a', rows: 11 },
      { name: 'b', rows: 8, paddingId: 3 },
    ];
    const sharded: Case = { fields, batchSize: 41, dim: 8, lengths: [0, 3, 1, 8], pooling: 'max', shardRows: 4, shardsPerPass: 2 };
    await expectBackendsAgree('vec4 sharded max', sharded, EXACT);
    await expectBackendsAgree('vec4 sharded mean', { ...sharded, pooling: 'mean' }, ROUNDED);
    await expectBackendsAgree('vec4 chunk sharded max', { ...sharded, dim: 16 }, EXACT);
    await expectBackendsAgree('vec4 chunk sharded weighted sum', { ...sharded, dim: 16, pooling: 'sum', weighted: true }, ROUNDED);
  });

  test('sharded table over several passes', async () => {
    // 19 rows in shards of 4 give 5 shards; two per pass make three forward passes.
    const fields: sp.FieldSpec[] = [
      { name: 'a', rows: 11 },
      { name: 'b', rows: 8, paddingId: 3 },
    ];
    const c: Case = { fields, batchSize: 41, dim: 6, lengths: [0, 3, 1, 8], pooling: 'sum', shardRows: 4, shardsPerPass: 2 };
    // Passes add their shards' partial sums separately, so the order of additions differs.
    await expectBackendsAgree('sharded sum', c, ROUNDED);
    await expectBackendsAgree('sharded max', { ...c, pooling: 'max' }, EXACT);
    await expectBackendsAgree('sharded mean', { ...c, pooling: 'mean', shardsPerPass: undefined }, ROUNDED);
  });

  test('atomic gradient', async () => {
    const c: Case = { fields: FIELDS, batchSize: 57, dim: 9, lengths: [0, 1, 6, 20], pooling: 'sum', shardRows: 6 };
    // Atomic additions run in thread order, so sums of a row's repeated ids are rounded in
    // another order than the CPU's.
    await expectBackendsAgree('atomic sum', { ...c, atomicGrad: true }, ROUNDED);
    await expectBackendsAgree('atomic mean', { ...c, pooling: 'mean', atomicGrad: true }, ROUNDED);
    await expectBackendsAgree('atomic max', { ...c, pooling: 'max', atomicGrad: true }, ROUNDED);
  });

  test('more bags than 65,535 workgroups', async () => {
    // 2 x 70,000 bags x 32 columns at 64 invocations per workgroup need 70,000 workgroups.
    const fields: sp.FieldSpec[] = [
      { name: 'user', rows: 1000 },
      { name: 'item', rows: 300 },
    ];
    await expectBackendsAgree('many bags', { fields, batchSize: 70000, dim: 32, lengths: [1, 2, 0], pooling: 'sum' }, EXACT);
  });
});

describe('embeddingBags values', () => {
  const layout = new sp.TableLayout([
    { name: 'a', rows: 3, paddingId: 2 },
    { name: 'b', rows: 2 },
  ]);
  // Rows 0-2 are field a, rows 3-4 field b.
  const values = [1, 10, 2, 20, 4, 40, 100, 1000, 200, 2000];
  // Example 0: a = [0, 0, 2], b = []; example 1: a = [2], b = [1, 0].
  const fields = [
    { ids: [0, 0, 2, 2], offsets: [0, 3, 4] },
    { ids: [1, 0], offsets: [0, 0, 2] },
  ];

  test('pooling, padding and empty bags', async () => {
    for (const backend of await testBackends()) {
      const table = sp.tensor(values, [5, 2], { backend });
      const batch = sp.embeddingBatch(layout, fields, { backend });
      expect(await sp.embeddingBags(table, batch).array()).toEqual([
        [[2, 20], [0, 0]],
        [[0, 0], [300, 3000]],
      ]);
      expect(await sp.embeddingBags(table, batch, { pooling: 'mean' }).array()).toEqual([
        [[1, 10], [0, 0]],
        [[0, 0], [150, 1500]],
      ]);
      expect(await sp.embeddingBags(table, batch, { pooling: 'max' }).array()).toEqual([
        [[1, 10], [0, 0]],
        [[0, 0], [200, 2000]],
      ]);
    }
  });

  test('max ignores NaN wherever it is', async () => {
    const single = new sp.TableLayout([{ name: 'tags', rows: 3 }]);
    for (const backend of await testBackends()) {
      // Row 0 is [NaN, 1, NaN, 7], row 1 [5, -2, NaN, 3], row 2 [NaN, NaN, NaN, NaN]: dim 4 takes the vec4 kernel.
      const table = sp.tensor([NaN, 1, NaN, 7, 5, -2, NaN, 3, NaN, NaN, NaN, NaN], [3, 4], { backend, requiresGrad: true });
      const batch = sp.embeddingBatch(single, [{ ids: [0, 1, 1, 0, 2, 2], offsets: [0, 2, 4, 6] }], { backend });
      const pooled = sp.embeddingBags(table, batch, { pooling: 'max' });
      expect(await pooled.array()).toEqual([[[5, 1, 0, 7]], [[5, 1, 0, 7]], [[0, 0, 0, 0]]]);

      // Each column's gradient goes to the row of its maximum; all-NaN columns get none.
      sp.sum(pooled).backward();
      expect(Array.from(await sp.rowSparseToDense(table.sparseGrad!).data())).toEqual([0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0]);
    }
  });

  test('invalid pooling is rejected', async () => {
    const table = sp.tensor(values, [5, 2], { backend: 'cpu' });
    const batch = sp.embeddingBatch(layout, fields, { backend: 'cpu' });
    expect(() => sp.embeddingBags(table, batch, { pooling: 'avg' as sp.Pooling })).toThrow(
      `embeddingBags: invalid pooling "avg"; use one of 'sum', 'mean', 'max'`,
    );
  });

  test('batch of empty bags only', async () => {
    for (const backend of await testBackends()) {
      const table = sp.tensor(values, [5, 2], { backend, requiresGrad: true });
      const batch = sp.embeddingBatch(layout, [{ ids: [], offsets: [0, 0] }, { ids: [], offsets: [0, 0] }], { backend });
      const out = sp.embeddingBags(table, batch, { pooling: 'mean' });
      expect(await out.array()).toEqual([[[0, 0], [0, 0]]]);
      sp.sum(out).backward();
      expect(table.sparseGrad!.rowCount).toBe(0);
      expect(Array.from(await sp.rowSparseToDense(table.sparseGrad!).data())).toEqual(new Array(10).fill(0));
    }
  });

  test('gradient rows are unique and sorted', async () => {
    for (const backend of await testBackends()) {
      const table = sp.tensor(values, [5, 2], { backend, requiresGrad: true });
      const batch = sp.embeddingBatch(layout, fields, { backend });
      sp.sum(sp.embeddingBags(table, batch)).backward();
      expect(table.grad).toBeNull();
      const grad = table.sparseGrad!;
      // Row 0 twice, padding id 2 of field a skipped, rows 3 and 4 of field b once each:
      // the host counts three distinct rows, so there are no padding entries.
      expect(grad.rowCount).toBe(3);
      expect(Array.from(await grad.rows.data())).toEqual([0, 3, 4]);
      expect(await grad.values.array()).toEqual([[2, 2], [1, 1], [1, 1]]);
    }
  });
});

describe('embeddingBags op without host counts', () => {
  test('pads each shard gradient to its capacity', async () => {
    const layout = new sp.TableLayout([{ name: 'a', rows: 6 }]);
    for (const backend of await testBackends()) {
      const shards = [sp.tensor(tableValues(4, 2, 1), [4, 2], { backend, requiresGrad: true }), sp.tensor(tableValues(2, 2, 2), [2, 2], { backend, requiresGrad: true })];
      const ids = sp.tensor(new Uint32Array([5, 1, 1, 0, 5]), [5], { backend });
      const offsets = sp.tensor(new Uint32Array([0, 2, 5]), [3], { backend });
      const attrs = { pooling: 'sum' as const, batchSize: 2, fieldNames: ['a'], dim: 2, shardCount: 2, shardRows: 4, totalRows: 6, hasWeights: false };
      const [out] = sp.runOp(sp.embeddingBagsOp, [...shards, ids, offsets, layout.fieldInfo(backend)], attrs);
      sp.sum(out).backward();
      // Capacity min(5 ids, shard rows): 4 entries for shard 0 (rows 0 and 1), 2 for shard 1 (row 5).
      expect(Array.from(await shards[0].sparseGrad!.rows.data())).toEqual([0, 1, sp.PADDING_ROW, sp.PADDING_ROW]);
      expect(Array.from(await shards[0].sparseGrad!.values.data())).toEqual([1, 1, 2, 2, 0, 0, 0, 0]);
      expect(Array.from(await shards[1].sparseGrad!.rows.data())).toEqual([5, sp.PADDING_ROW]);
      expect(Array.from(await shards[1].sparseGrad!.values.data())).toEqual([2, 2, 0, 0]);
      expect(Array.from(await sp.rowSparseToDense(shards[1].sparseGrad!).data())).toEqual([0, 0, 2, 2]);
    }
  });
});

describe('embeddingBags gradients', () => {
  const layout = new sp.TableLayout([
    { name: 'x', rows: 4, paddingId: 1 },
    { name: 'y', rows: 3 },
  ]);
  const fields = [
    { ids: [0, 2, 2, 1, 3], offsets: [0, 3, 3, 5], weights: [0.5, 2, 1.5, 3, 0.75] },
    { ids: [1, 1, 0, 2], offsets: [0, 1, 1, 4] },
  ];

  test('gradcheck for every pooling', () => {
    const batch = sp.embeddingBatch(layout, fields, { backend: 'cpu' });
    const unweighted = sp.embeddingBatch(layout, fields.map(({ ids, offsets }) => ({ ids, offsets })), { backend: 'cpu' });
    // Multiplying by 1 makes the table a non-leaf, so the row-sparse gradient is densified
    // into the dense flow that gradcheck reads.
    const cases: [sp.EmbeddingBatch, sp.Pooling][] = [
      [batch, 'sum'],
      [unweighted, 'mean'],
      [unweighted, 'max'],
    ];
    for (const [b, pooling] of cases) {
      const fn = (table: sp.Tensor) => sp.embeddingBags(sp.mul(table, 1), b, { pooling });
      expect(gradcheck(fn, [{ shape: [7, 3] }])).toBe(21);
    }
  });

  test('sum matches gather and a dense sum', async () => {
    for (const backend of await testBackends()) {
      const batch = sp.embeddingBatch(layout, fields, { backend });
      const init = tableValues(7, 3, 3);
      const sparse = sp.tensor(init, [7, 3], { backend, requiresGrad: true });
      const dense = sp.tensor(init, [7, 3], { backend, requiresGrad: true });
      const weights = sp.tensor([1.5, -2, 0.5, 1, 3, -1], [3, 2, 1], { backend });
      sp.sum(sp.mul(sp.embeddingBags(sparse, batch), weights)).backward();

      // The same function densely: gather every combined row, weight it, sum each bag by a
      // one-hot bag matrix. The padding id 1 of field x gets weight 0.
      const rows = [0, 2, 2, 1, 3, 4 + 1, 4 + 1, 4 + 0, 4 + 2];
      const idWeights = [0.5, 2, 1.5, 0, 0.75, 1, 1, 1, 1];
      const bagOf = [0, 0, 0, 2, 2, 3, 5, 5, 5];
      const outIndex = bagOf.map((q) => (q % 3) * 2 + Math.floor(q / 3));
      const assign = sp.oneHot(sp.tensor(new Uint32Array(outIndex), [9], { backend }), 6);
      const gathered = sp.mul(sp.gather(dense, sp.tensor(new Uint32Array(rows), [9], { backend })), sp.tensor(idWeights, [9, 1], { backend }));
      const pooled = sp.matmul(sp.transpose(assign), gathered).reshape([3, 2, 3]);
      sp.sum(sp.mul(pooled, weights)).backward();

      const densified = await sp.rowSparseToDense(sparse.sparseGrad!).data();
      expectClose(`gradient on ${backend}`, densified as Float32Array, (await dense.grad!.data()) as Float32Array, 1e-6, 1e-6);
    }
  });

  test('two backward calls accumulate', async () => {
    for (const backend of await testBackends()) {
      const batch = sp.embeddingBatch(layout, fields, { backend });
      const table = sp.tensor(tableValues(7, 3, 4), [7, 3], { backend, requiresGrad: true });
      sp.sum(sp.embeddingBags(table, batch)).backward();
      const once = Array.from(await sp.rowSparseToDense(table.sparseGrad!).data());
      sp.sum(sp.embeddingBags(table, batch)).backward();
      const grad = table.sparseGrad!;
      // Six distinct rows per call; the sum keeps both capacities and pads the repeats.
      expect(grad.rowCount).toBe(12);
      const twice = Array.from(await sp.rowSparseToDense(grad).data());
      expect(twice).toEqual(once.map((v) => 2 * v));
      // Re-coalescing keeps the rows unique and sorted.
      const rows = Array.from(await grad.rows.data()).filter((r) => r !== sp.PADDING_ROW);
      expect(rows).toEqual([...new Set(rows)].sort((a, b) => a - b));
    }
  });

  test('two runs give identical bits', async () => {
    const c: Case = { fields: FIELDS, batchSize: 300, dim: 16, lengths: [4, 0, 20, 1], pooling: 'mean', weighted: false };
    for (const backend of await testBackends()) {
      const first = await run(backend as Backend, c);
      const second = await run(backend as Backend, c);
      expect(new Uint32Array(second.output.buffer)).toEqual(new Uint32Array(first.output.buffer));
      expect(new Uint32Array(second.grad.buffer)).toEqual(new Uint32Array(first.grad.buffer));
    }
  });
});

describe('gather with sparseGrad', () => {
  test('matches the dense gradient', async () => {
    for (const backend of await testBackends()) {
      const init = tableValues(9, 4, 8);
      const ids = sp.tensor(new Int32Array([3, 0, 3, 8, 3, 1]), [2, 3], { backend });
      const sparse = sp.tensor(init, [9, 4], { backend, requiresGrad: true });
      const dense = sp.tensor(init, [9, 4], { backend, requiresGrad: true });
      const weights = sp.tensor(sp.testing.inputValues({ shape: [2, 3, 4] }, 2, 0), [2, 3, 4], { backend });
      sp.sum(sp.mul(sp.gather(sparse, ids, { sparseGrad: true }), weights)).backward();
      sp.sum(sp.mul(sp.gather(dense, ids), weights)).backward();
      expect(sparse.grad).toBeNull();
      expect(Array.from(await sparse.sparseGrad!.rows.data())).toEqual([0, 1, 3, 8, sp.PADDING_ROW, sp.PADDING_ROW]);
      expect(Array.from(await sp.rowSparseToDense(sparse.sparseGrad!).data())).toEqual(Array.from(await dense.grad!.data()));
    }
  });
});

describe('embeddingBags bad input', () => {
  const layout = new sp.TableLayout([
    { name: 'city', rows: 10 },
    { name: 'tags', rows: 4 },
  ]);
  const good = { ids: [1, 2, 3], offsets: [0, 2, 3] };

  test('id outside the table', () => {
    expect(() => sp.embeddingBatch(layout, [good, { ids: [0, 4], offsets: [0, 1, 2] }], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "tags": ids[1] is 4, outside the valid range [0, 4) of the field\'s table',
    );
    expect(() => sp.embeddingBatch(layout, [{ ids: [1, -1], offsets: [0, 1, 2] }, good], { backend: 'cpu' })).toThrow(/field "city": ids\[1\] is -1/);
    expect(() => sp.embeddingBatch(layout, [{ ids: [1, 2.5], offsets: [0, 1, 2] }, good], { backend: 'cpu' })).toThrow(/field "city": ids\[1\] is 2.5; ids must be integers/);
    // Typed arrays of ids are checked the same way.
    const typed = (ids: Uint32Array | Int32Array) => [good, { ids, offsets: [0, 1, 2] }];
    expect(() => sp.embeddingBatch(layout, typed(new Uint32Array([0, 4])), { backend: 'cpu' })).toThrow(/field "tags": ids\[1\] is 4, outside/);
    expect(() => sp.embeddingBatch(layout, typed(new Int32Array([-3, 1])), { backend: 'cpu' })).toThrow(/field "tags": ids\[0\] is -3, outside/);
    expect(sp.embeddingBatch(layout, typed(new Uint32Array([3, 0])), { backend: 'cpu' }).nnz).toBe(5);
  });

  test('ids that are not host arrays', () => {
    expect(() => sp.embeddingBatch(layout, [good, { offsets: [0, 0, 0] } as unknown as sp.SparseFieldInput], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "tags": ids is missing; expected an array or typed array of integers (host data, not a Tensor)',
    );
    const tensorIds = sp.tensor(new Uint32Array([1, 2, 3]), [3], { backend: 'cpu' });
    expect(() => sp.embeddingBatch(layout, [{ ids: tensorIds as unknown as number[], offsets: [0, 2, 3] }, good], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "city": ids is a Tensor; expected an array or typed array of integers (host data, not a Tensor)',
    );
    expect(() => sp.embeddingBatch(layout, [{ ...good, weights: 'heavy' as unknown as number[] }, good], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "city": weights is string "heavy"; expected an array or typed array of numbers, one per id',
    );
  });

  test('decreasing offsets', () => {
    expect(() => sp.embeddingBatch(layout, [{ ids: [1, 2, 3], offsets: [0, 3, 2] }, good], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "city": offsets[2] is 2, less than offsets[1] = 3; offsets must not decrease',
    );
  });

  test('offsets that do not end at the number of ids', () => {
    expect(() => sp.embeddingBatch(layout, [good, { ids: [1, 2, 3], offsets: [0, 1, 2] }], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "tags": offsets[2] is 2 but there are 3 ids; the last offset must equal the number of ids',
    );
    expect(() => sp.embeddingBatch(layout, [good, { ids: [1], offsets: [1, 1, 1] }], { backend: 'cpu' })).toThrow(/offsets\[0\] is 1; the first offset must be 0/);
    expect(() => sp.embeddingBatch(layout, [good, { ids: [1], offsets: [0, 1] }], { backend: 'cpu' })).toThrow(
      /field "tags": offsets has 2 entries, expected 3 \(batch size 2 \+ 1/,
    );
  });

  test('weights of the wrong length or not finite', () => {
    expect(() => sp.embeddingBatch(layout, [{ ...good, weights: [1, 2] }, good], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "city": weights has 2 entries but there are 3 ids; give one weight per id',
    );
    expect(() => sp.embeddingBatch(layout, [good, { ...good, weights: [1, NaN, 2] }], { backend: 'cpu' })).toThrow(
      'embeddingBatch: field "tags": weights[1] is NaN; weights must be finite',
    );
  });

  test('bad ids in raw tensors throw on the CPU', () => {
    const table = sp.zeros([14, 2], { backend: 'cpu' });
    const info = layout.fieldInfo('cpu');
    const ids = sp.tensor(new Uint32Array([1, 2, 3, 0, 7]), [5], { backend: 'cpu' });
    const offsets = sp.tensor(new Uint32Array([0, 2, 3, 4, 5]), [5], { backend: 'cpu' });
    const attrs = { pooling: 'sum' as const, batchSize: 2, fieldNames: ['city', 'tags'], dim: 2, shardCount: 1, shardRows: 14, totalRows: 14, hasWeights: false };
    expect(() => sp.runOp(sp.embeddingBagsOp, [table, ids, offsets, info], attrs)).toThrow(
      'embeddingBags: field "tags" ids[1] is 7, outside the valid range [0, 4) of the field\'s table',
    );
  });

  test('NaN in a gradient is named before any update', async () => {
    for (const backend of await testBackends()) {
      const table = sp.tensor(tableValues(14, 2, 1), [14, 2], { backend, requiresGrad: true });
      const batch = sp.embeddingBatch(layout, [good, { ids: [3, 0], offsets: [0, 2, 2] }], { backend });
      const out = sp.embeddingBags(table, batch);
      const scale = sp.tensor([1, 1, 1, 1, 1, NaN, 1, 1], [2, 2, 2], { backend });
      sp.sum(sp.mul(out, scale)).backward();
      // Element [1, 0, 1] of the output gradient is NaN: example 1 of field city, id 3.
      await expect(sp.assertFiniteGradient(table.sparseGrad!, { name: 'embeddings', layout })).rejects.toThrow(
        'embeddings: the gradient of field "city" id 3, column 1, is NaN; gradients must be finite',
      );
      const fine = sp.tensor(tableValues(14, 2, 1), [14, 2], { backend, requiresGrad: true });
      sp.sum(sp.embeddingBags(fine, batch)).backward();
      await expect(sp.assertFiniteGradient(fine.sparseGrad!)).resolves.toBeUndefined();
    }
  });

  test('invalid table init kind', () => {
    const init = { kind: 'normall', mean: 0, std: 1 } as unknown as sp.ShardedTableOptions['init'];
    expect(() => sp.ShardedTable.create(2, 2, { backend: 'cpu', init })).toThrow(
      'ShardedTable: invalid init kind "normall"; use one of zeros, uniform, normal, values',
    );
  });

  test('table and batch that do not match', () => {
    const batch = sp.embeddingBatch(layout, [good, good], { backend: 'cpu' });
    expect(() => sp.embeddingBags(sp.zeros([13, 2], { backend: 'cpu' }), batch)).toThrow(
      'embeddingBags: the table has 13 rows but the batch\'s layout has 14 rows over 2 fields',
    );
    const weighted = sp.embeddingBatch(layout, [{ ...good, weights: [1, 1, 1] }, good], { backend: 'cpu' });
    expect(() => sp.embeddingBags(sp.zeros([14, 2], { backend: 'cpu' }), weighted, { pooling: 'mean' })).toThrow("per-id weights need pooling 'sum', got 'mean'");
  });
});

describe('embeddingBags on a table past the binding limit', () => {
  test('lookups and gradients across the split', async () => {
    if (!(await testBackends()).includes('webgpu')) return;
    const limit = sp.getWebGPUBackend()!.limits.maxStorageBufferBindingSize;
    // Just over one binding: past 128 MiB on the compatibility adapter. Skipped where a
    // binding is larger than this test should allocate.
    if (limit > 256 * 1024 * 1024) return;
    const dim = 8;
    const rows = Math.floor(limit / (4 * dim)) + 1000;
    const layout = new sp.TableLayout([
      { name: 'small', rows: 100 },
      { name: 'huge', rows: rows - 100 },
    ]);
    const table = sp.ShardedTable.create(rows, dim, { backend: 'webgpu', seed: 5, requiresGrad: true });
    expect(table.shards.length).toBe(2);
    const shardRows = table.shardRows;

    // Field huge's ids around the split (combined rows shardRows - 1 and shardRows) and at the end.
    const edge = shardRows - 100;
    const fields = [
      { ids: [7, 99, 7], offsets: [0, 2, 3] },
      { ids: [edge - 1, edge, rows - 101, edge], offsets: [0, 2, 4] },
    ];
    const batch = sp.embeddingBatch(layout, fields, { backend: 'webgpu' });
    const out = sp.embeddingBags(table, batch);
    sp.sum(out).backward();

    const first = (await table.shards[0].data()) as Float32Array;
    const second = (await table.shards[1].data()) as Float32Array;
    const rowOf = (row: number) => (row < shardRows ? first.subarray(row * dim, (row + 1) * dim) : second.subarray((row - shardRows) * dim, (row - shardRows + 1) * dim));
    const bagSum = (combined: number[]) => Array.from({ length: dim }, (_, c) => combined.reduce((total, row) => Math.fround(total + rowOf(row)[c]), 0));
    const expected = [
      [bagSum([7, 99]), bagSum([shardRows - 1, shardRows])],
      [bagSum([7]), bagSum([rows - 1, shardRows])],
    ];
    expect(await out.array()).toEqual(expected);

    // Each shard gets its own rows, in row ids of the whole table.
    const expectedGrads: [number[], number[]][] = [
      [[7, 99, shardRows - 1], [2, 1, 1]],
      [[shardRows, rows - 1], [2, 1]],
    ];
    for (const [k, shard] of table.shards.entries()) {
      const grad = shard.sparseGrad!;
      expect(grad.rowOffset).toBe(k * shardRows);
      expect(Array.from(await grad.rows.data())).toEqual(expectedGrads[k][0]);
      expect(Array.from(await grad.values.data())).toEqual(expectedGrads[k][1].flatMap((n) => new Array(dim).fill(n)));
    }
    table.dispose();
    batch.dispose();
  });
});
