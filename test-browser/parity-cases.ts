// The op parity cases that the browser test runs on the page's WebGPU adapter against the CPU backend.
//
// Each case runs one op family on seeded random inputs (never all zeros) at awkward sizes:
// 1, primes, just past a 256-wide workgroup, and past 65,535 workgroups where a kernel splits
// its grid. The tolerances are the ones of the Node suites under test/, with the same reasons.

import * as sp from '../src/browser.js';

type Tolerance = sp.testing.Tolerance;

/** One named case; `run` throws an Error that names the op, the shapes and the first differing element. */
export interface ParityCase {
  name: string;
  run(): Promise<void>;
}

// Sums, maxima, moves and integer ops round the same way on both backends, so they match bit for bit.
const EXACT: Tolerance = { atol: 0, rtol: 0 };
// GPU exp, log and pow differ from the CPU's float64 results by a few ulps.
const MATH: Tolerance = { atol: 1e-5, rtol: 1e-5 };
// A float32 sum on the GPU adds in another order than the CPU's float64 sum.
const SUM: Tolerance = { atol: 1e-4, rtol: 1e-5 };
const SOFTMAX: Tolerance = { atol: 1e-6, rtol: 1e-5 };
const LOG_SOFTMAX: Tolerance = { atol: 1e-5, rtol: 1e-5 };
// The driver may fuse a multiply and an add, and WGSL bounds f32 division to 2.5 ulps, so
// weighted and mean pooling differ from the CPU's correctly rounded float32 by a few ulps.
const POOLING_ROUNDED: Tolerance = { atol: 1e-6, rtol: 1e-5 };
// The CPU computes each optimizer update in float64 and rounds once, the GPU rounds every
// operation to f32 (division within 2.5 ulps, sqrt about 2), so after several steps weights
// near 2 differ by a few f32 ulps, about 1e-6.
const OPTIMIZER: Tolerance = { atol: 2e-6, rtol: 2e-5 };

/** Matmul accumulates in float32 on the GPU and in float64 on the CPU: the error grows like sqrt(k) ulps of the dot products. */
function matmulTolerance(k: number): Tolerance {
  return { atol: 2e-6 * Math.sqrt(k) * 4, rtol: 1e-5 };
}

function ids(shape: number[], high: number, dtype: 'i32' | 'u32' = 'i32'): sp.testing.InputSpec {
  return { shape, dtype, low: 0, high, differentiable: false };
}

function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): void {
  if (actual.length !== expected.length) throw new Error(`${label}: ${actual.length} values, expected ${expected.length}`);
  let failures = 0;
  let first = '';
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (Object.is(actual[i], expected[i]) || difference <= tolerance.atol + tolerance.rtol * Math.abs(expected[i])) continue;
    if (failures === 0) first = `element ${i}: webgpu ${actual[i]}, cpu ${expected[i]}`;
    failures++;
  }
  if (failures > 0) throw new Error(`${label}: ${failures} of ${expected.length} values differ beyond atol ${tolerance.atol}, rtol ${tolerance.rtol}; first at ${first}`);
}

function expectEqualArrays(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expectClose(label, actual, expected, EXACT);
}

const UNARY: [string, (x: sp.Tensor) => sp.Tensor, Partial<sp.testing.InputSpec>][] = [
  ['neg', sp.neg, {}],
  ['exp', sp.exp, {}],
  ['log', sp.log, { low: 0.1, high: 3 }],
  ['sqrt', sp.sqrt, { low: 0.1, high: 3 }],
  ['abs', sp.abs, {}],
  ['relu', sp.relu, {}],
  ['leakyRelu', (x) => sp.leakyRelu(x, 0.2), {}],
  ['sigmoid', sp.sigmoid, { low: -6, high: 6 }],
  ['tanh', sp.tanh, { low: -4, high: 4 }],
  ['clamp', (x) => sp.clamp(x, -0.5, 0.7), {}],
];

const BINARY: [string, (a: sp.Tensor, b: sp.Tensor) => sp.Tensor, Partial<sp.testing.InputSpec>][] = [
  ['add', sp.add, {}],
  ['sub', sp.sub, {}],
  ['mul', sp.mul, {}],
  ['div', sp.div, { awayFromZero: 0.3 }],
  ['pow', sp.pow, { low: 0.2, high: 2 }],
  ['maximum', sp.maximum, {}],
];

// Operand shapes of the binary ops: equal, broadcast both ways, and a scalar past one workgroup.
const BINARY_SHAPES: [number[], number[]][] = [
  [[1], [1]],
  [[13], [13]],
  [[4, 1, 3], [5, 1]],
  [[257], []],
];

/** Bags of a seeded embedding batch: lengths cycle through `lengths`, so empty, single and long bags all occur. */
function embeddingFields(layout: sp.TableLayout, batchSize: number, lengths: number[], weighted: boolean, seed: number): sp.SparseFieldInput[] {
  const values = sp.testing.inputValues({ shape: [batchSize * 64], dtype: 'u32', low: 0, high: 1_000_000 }, seed, 9);
  let next = 0;
  return layout.fields.map((field, f) => {
    const fieldIds: number[] = [];
    const offsets = [0];
    const weights: number[] = [];
    for (let b = 0; b < batchSize; b++) {
      const length = lengths[(b + f) % lengths.length];
      for (let j = 0; j < length; j++) {
        fieldIds.push(values[next++ % values.length] % field.rows);
        weights.push(0.25 + (values[next++ % values.length] % 1000) / 500);
      }
      offsets.push(fieldIds.length);
    }
    return { ids: fieldIds, offsets, weights: weighted ? weights : undefined };
  });
}

interface EmbeddingCase {
  fields: sp.FieldSpec[];
  batchSize: number;
  dim: number;
  lengths: number[];
  pooling: sp.Pooling;
  weighted?: boolean;
  shardRows?: number;
  atomicGrad?: boolean;
}

/** Runs embedding bags forward and backward on `backend`; returns the pooled output and the densified table gradient. */
async function runEmbeddingBags(backend: sp.BackendName, c: EmbeddingCase): Promise<{ output: Float32Array; grad: Float32Array; rows: number[] }> {
  const layout = new sp.TableLayout(c.fields);
  const tableValues = Float32Array.from(sp.testing.inputValues({ shape: [layout.totalRows, c.dim] }, 11, 0));
  const table = sp.ShardedTable.create(layout.totalRows, c.dim, { backend, shardRows: c.shardRows, init: { kind: 'values', values: tableValues }, requiresGrad: true });
  const batch = sp.embeddingBatch(layout, embeddingFields(layout, c.batchSize, c.lengths, c.weighted ?? false, 11), { backend });
  const projectionShape = [c.batchSize, layout.fieldCount, c.dim];
  const projection = sp.tensor(sp.testing.inputValues({ shape: projectionShape, low: 0.5, high: 1.5 }, 12, 0), projectionShape, { backend });

  const output = sp.embeddingBags(table, batch, { pooling: c.pooling, atomicGrad: c.atomicGrad });
  sp.sum(sp.mul(output, projection)).backward();

  const grad = new Float32Array(layout.totalRows * c.dim);
  const rows: number[] = [];
  for (const [k, shard] of table.shards.entries()) {
    const dense = sp.rowSparseToDense(shard.sparseGrad!);
    grad.set((await dense.data()) as Float32Array, k * table.shardRows * c.dim);
    dense.dispose();
    rows.push(...Array.from(await shard.sparseGrad!.rows.data()).map((row) => row + k * table.shardRows));
  }
  const result = { output: (await output.data()) as Float32Array, grad, rows };
  [output, projection].forEach((tensor) => tensor.dispose());
  batch.dispose();
  table.dispose();
  layout.dispose();
  return result;
}

async function expectEmbeddingParity(label: string, c: EmbeddingCase, tolerance: Tolerance): Promise<void> {
  const cpu = await runEmbeddingBags('cpu', c);
  if (!cpu.output.some((value) => value !== 0)) throw new Error(`${label}: the CPU output is all zeros; choose inputs that exercise the op`);
  const gpu = await runEmbeddingBags('webgpu', c);
  expectClose(`${label}, output`, gpu.output, cpu.output, tolerance);
  expectClose(`${label}, table gradient`, gpu.grad, cpu.grad, tolerance);
  // The atomic path lists the gradient rows in no particular order.
  const order = (rows: number[]) => (c.atomicGrad ? [...rows].sort((a, b) => a - b) : rows);
  expectEqualArrays(`${label}, gradient rows`, order(gpu.rows), order(cpu.rows));
}

/** Seeded CSR bags of one crossed field: about one bag in five empty, ids of both signs for i32 and near 2^32 for u32. */
function crossField(bags: number, maxLength: number, dtype: 'i32' | 'u32', seed: number): { ids: number[]; offsets: number[]; dtype: 'i32' | 'u32' } {
  const pool = dtype === 'i32' ? [0, 1, 7, -1, -2, -2147483648, 2147483647, 123456789] : [0, 1, 7, 4294967295, 4294967294, 2147483648, 3000000000, 99];
  const draws = sp.testing.inputValues({ shape: [bags * (maxLength + 1) * 3], dtype: 'u32', low: 0, high: 1_000_000 }, seed, 3);
  let next = 0;
  const draw = () => draws[next++] / 1_000_000;
  const fieldIds: number[] = [];
  const offsets = [0];
  for (let b = 0; b < bags; b++) {
    // A single bag is never empty, so every case has crossed ids.
    const length = maxLength === 1 ? 1 : bags > 1 && draw() < 0.2 ? 0 : 1 + Math.floor(draw() * maxLength);
    for (let i = 0; i < length; i++) fieldIds.push(draw() < 0.5 ? pool[Math.floor(draw() * pool.length)] : Math.floor(draw() * 1000));
    offsets.push(fieldIds.length);
  }
  return { ids: fieldIds, offsets, dtype };
}

interface OptimizerRun {
  weights: Float32Array;
  state: Record<string, Float32Array>;
}

/** Applies one optimizer step per gradient to a seeded parameter; `rows` makes the gradients row-sparse. */
async function runOptimizer(backend: sp.BackendName, optimizer: sp.OptimizerConfig, lr: number, shape: number[], rows: number[][] | null): Promise<OptimizerRun> {
  const size = shape.reduce((a, b) => a * b, 1);
  const rowSize = size / shape[0];
  const param = sp.tensor(sp.testing.inputValues({ shape }, 3, 0), shape, { backend, requiresGrad: true });
  const opt = new sp.Optimizer([{ params: { p: param }, optimizer, lr }]);
  const steps = rows ?? [null, null, null];
  for (const [step, stepRows] of steps.entries()) {
    if (stepRows === null) {
      param.grad = sp.tensor(sp.testing.inputValues({ shape }, 11, step + 1), shape, { backend });
    } else {
      const rowIds = sp.tensor(new Uint32Array(stepRows), [stepRows.length], { backend });
      const values = sp.tensor(sp.testing.inputValues({ shape: [stepRows.length * rowSize] }, 13, step + 1), [stepRows.length, ...shape.slice(1)], { backend });
      param.sparseGrad = new sp.RowSparse(rowIds, values, shape);
    }
    opt.step();
    opt.zeroGrad();
  }
  const dict = opt.stateDict();
  const state: Record<string, Float32Array> = {};
  for (const [name, value] of Object.entries(dict.tensors)) state[name] = value instanceof Float32Array ? value : ((await value.data()) as Float32Array);
  const weights = (await param.data()) as Float32Array;
  opt.dispose();
  param.dispose();
  return { weights, state };
}

const OPTIMIZERS: { label: string; optimizer: sp.OptimizerConfig; lr: number }[] = [
  { label: 'sgd momentum', optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }, lr: 0.05 },
  { label: 'adam', optimizer: { kind: 'adam' }, lr: 0.01 },
  { label: 'adamw', optimizer: { kind: 'adamw', weightDecay: 0.05 }, lr: 0.01 },
  { label: 'adagrad', optimizer: { kind: 'adagrad', weightDecay: 0.01 }, lr: 0.1 },
  { label: 'ftrl', optimizer: { kind: 'ftrl', beta: 1, l1: 0.3, l2: 0.1 }, lr: 0.5 },
];

export const PARITY_CASES: ParityCase[] = [
  {
    name: 'harness compares the CPU with WebGPU',
    async run() {
      // An op that differs on WebGPU only must fail expectParity; otherwise every case below would pass on the CPU alone.
      const skewed = (x: sp.Tensor) => (x.backend.name === 'webgpu' ? sp.add(x, sp.full([1], 1e-3, { backend: 'webgpu' })) : sp.add(x, sp.full([1], 0, { backend: 'cpu' })));
      let message = '';
      try {
        await sp.testing.expectParity('skewed add', skewed, [{ shape: [5] }], { tolerance: MATH, gradients: false });
      } catch (error) {
        message = (error as Error).message;
      }
      if (!message.includes('skewed add on webgpu')) throw new Error(`expectParity passed an op that adds 1e-3 on WebGPU only${message ? `; it threw "${message}"` : ''}`);
    },
  },
  {
    name: 'unary element-wise ops',
    async run() {
      for (const [name, fn, range] of UNARY) {
        for (const shape of [[1], [7], [257], [3, 5]]) await sp.testing.expectParity(`${name} [${shape}]`, fn, [{ shape, ...range }], { tolerance: MATH });
      }
    },
  },
  {
    name: 'binary element-wise ops with broadcasting',
    async run() {
      for (const [name, fn, range] of BINARY) {
        for (const [a, b] of BINARY_SHAPES) {
          await sp.testing.expectParity(`${name} [${a}] [${b}]`, fn, [{ shape: a, ...range }, { shape: b, ...range }], { tolerance: MATH });
        }
      }
      const condition: sp.testing.InputSpec = { shape: [2, 3], dtype: 'i32', low: 0, high: 2 };
      await sp.testing.expectParity('where', (c, a, b) => sp.where(c, a, b), [condition, { shape: [2, 3] }, { shape: [3] }], { tolerance: MATH });
    },
  },
  {
    name: 'element-wise map past 65,535 workgroups',
    async run() {
      // 256 x 65,536 + 3 elements need 65,537 workgroups of 256, so the grid spans y.
      await sp.testing.expectParity('add', sp.add, [{ shape: [256 * 65536 + 3] }, { shape: [1] }], { tolerance: MATH, gradients: false });
    },
  },
  {
    name: 'reductions',
    async run() {
      const cases: [number[], number[], boolean][] = [
        [[7], [0], false],
        [[257, 3], [0], true],
        [[5, 1031], [1], false],
        [[3, 4, 5], [0, 2], true],
      ];
      for (const [shape, axes, keepDims] of cases) {
        await sp.testing.expectParity(`sum [${shape}] axes ${axes}`, (x) => sp.sum(x, axes, keepDims), [{ shape }], { tolerance: SUM });
        await sp.testing.expectParity(`mean [${shape}] axes ${axes}`, (x) => sp.mean(x, axes, keepDims), [{ shape }], { tolerance: SUM });
        await sp.testing.expectParity(`max [${shape}] axes ${axes}`, (x) => sp.max(x, axes, keepDims), [{ shape }], { tolerance: EXACT });
      }
    },
  },
  {
    name: 'matmul and linear',
    async run() {
      const sizes: [number, number, number][] = [
        [1, 7, 1],
        [7, 13, 5],
        [65, 67, 63],
        [129, 96, 257],
      ];
      for (const [m, k, n] of sizes) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            await sp.testing.expectParity(
              `matmul ${transposeA ? 'Aᵀ' : 'A'}${transposeB ? 'Bᵀ' : 'B'} ${m}x${k}x${n}`,
              (a, b) => sp.matmul(a, b, { transposeA, transposeB }),
              [{ shape: transposeA ? [k, m] : [m, k] }, { shape: transposeB ? [n, k] : [k, n] }],
              { tolerance: matmulTolerance(k), gradTolerance: matmulTolerance(Math.max(m, n, k)) },
            );
          }
        }
      }
      await sp.testing.expectParity('matmul batched', (a, b) => sp.matmul(a, b), [{ shape: [3, 5, 7] }, { shape: [3, 7, 4] }], { tolerance: matmulTolerance(7) });
      await sp.testing.expectParity('matmul past 65,535 workgroups', (a, b) => sp.matmul(a, b), [{ shape: [70000, 1, 2] }, { shape: [70000, 2, 1] }], {
        tolerance: matmulTolerance(2),
        gradients: false,
      });
      for (const activation of ['none', 'relu', 'sigmoid', 'tanh'] as const) {
        await sp.testing.expectParity(`linear ${activation}`, (x, w, b) => sp.linear(x, w, b, { activation }), [{ shape: [33, 19] }, { shape: [19, 70] }, { shape: [70] }], {
          tolerance: matmulTolerance(19),
        });
      }
    },
  },
  {
    name: 'softmax and logSoftmax',
    async run() {
      for (const [shape, axis] of [[[1, 2], -1], [[7, 13], -1], [[5, 300], 1], [[4, 3, 5], 0]] as [number[], number][]) {
        await sp.testing.expectParity(`softmax [${shape}] axis ${axis}`, (x) => sp.softmax(x, axis), [{ shape, low: -4, high: 4 }], { tolerance: SOFTMAX });
        await sp.testing.expectParity(`logSoftmax [${shape}] axis ${axis}`, (x) => sp.logSoftmax(x, axis), [{ shape, low: -4, high: 4 }], { tolerance: LOG_SOFTMAX });
      }
    },
  },
  {
    name: 'gather, scatterAdd and oneHot',
    async run() {
      for (const [table, idShape] of [[[1, 1], [1]], [[13, 5], [7]], [[300, 3], [4, 61]], [[70, 257], [3]]] as [number[], number[]][]) {
        for (const dtype of ['i32', 'u32'] as const) {
          await sp.testing.expectParity(`gather [${table}] by ${dtype} [${idShape}]`, (t, i) => sp.gather(t, i), [{ shape: table }, ids(idShape, table[0], dtype)], { tolerance: EXACT });
        }
      }
      await sp.testing.expectParity('scatterAdd', (i, v) => sp.scatterAdd(i, v, 11), [ids([5, 7], 11), { shape: [5, 7, 3] }], { tolerance: EXACT });
      await sp.testing.expectParity('scatterAdd past 65,535 rows', (i, v) => sp.scatterAdd(i, v, 70000), [ids([20], 70000), { shape: [20] }], { tolerance: EXACT });
      await sp.testing.expectParity('oneHot', (i) => sp.oneHot(i, 9), [ids([4, 7], 9)], { tolerance: EXACT });
    },
  },
  {
    name: 'losses and dropout',
    async run() {
      const labels: sp.testing.InputSpec = { shape: [257], low: 0, high: 1, differentiable: false };
      await sp.testing.expectParity('binaryCrossEntropyWithLogits', (x, y) => sp.binaryCrossEntropyWithLogits(x, y), [{ shape: [257], low: -8, high: 8 }, labels], { tolerance: MATH });
      await sp.testing.expectParity('meanSquaredError', (x, y) => sp.meanSquaredError(x, y), [{ shape: [3, 5] }, { shape: [3, 5] }], { tolerance: MATH });
      await sp.testing.expectParity('softmaxCrossEntropy', (x, y) => sp.softmaxCrossEntropy(x, y), [{ shape: [13, 7], low: -4, high: 4 }, ids([13], 7)], { tolerance: MATH });
      for (const rate of [0.1, 0.5]) {
        await sp.testing.expectParity(`dropout rate ${rate}`, (x) => sp.dropout(x, rate, 5), [{ shape: [1031] }], { tolerance: EXACT });
      }
    },
  },
  {
    name: 'shape ops',
    async run() {
      await sp.testing.expectParity('transpose', (x) => sp.transpose(x, [2, 0, 1]), [{ shape: [3, 17, 5] }], { tolerance: EXACT });
      await sp.testing.expectParity('slice', (x) => sp.slice(x, [1, 2], [5, 250]), [{ shape: [7, 257] }], { tolerance: EXACT });
      await sp.testing.expectParity('concat', (a, b, c) => sp.concat([a, b, c], 1), [{ shape: [5, 1] }, { shape: [5, 13] }, { shape: [5, 257] }], { tolerance: EXACT });
    },
  },
  {
    name: 'embedding bags forward and backward',
    async run() {
      const fields: sp.FieldSpec[] = [
        { name: 'city', rows: 13 },
        { name: 'tags', rows: 5, paddingId: 0 },
        { name: 'device', rows: 1 },
      ];
      await expectEmbeddingParity('sum', { fields, batchSize: 37, dim: 5, lengths: [0, 1, 7, 2, 20], pooling: 'sum' }, EXACT);
      await expectEmbeddingParity('weighted sum', { fields, batchSize: 29, dim: 3, lengths: [3, 0, 1, 9], pooling: 'sum', weighted: true }, POOLING_ROUNDED);
      await expectEmbeddingParity('mean', { fields, batchSize: 31, dim: 67, lengths: [1, 4, 0, 11], pooling: 'mean' }, POOLING_ROUNDED);
      await expectEmbeddingParity('max', { fields, batchSize: 23, dim: 4, lengths: [2, 0, 5, 1, 13], pooling: 'max' }, EXACT);
      // Shards of 4 rows: the passes add their shards' partial sums separately, in another order than the CPU.
      await expectEmbeddingParity('sharded sum', { fields, batchSize: 41, dim: 6, lengths: [0, 3, 1, 8], pooling: 'sum', shardRows: 4 }, POOLING_ROUNDED);
      // Atomic additions run in thread order, so repeated ids of a row are summed in another order.
      await expectEmbeddingParity('atomic gradient', { fields, batchSize: 57, dim: 9, lengths: [0, 1, 6, 20], pooling: 'sum', atomicGrad: true }, POOLING_ROUNDED);
      await expectEmbeddingParity('more bags than 65,535 workgroups', { fields: [{ name: 'user', rows: 1000 }, { name: 'item', rows: 300 }], batchSize: 70000, dim: 32, lengths: [1, 2, 0], pooling: 'sum' }, EXACT);
    },
  },
  {
    name: 'sortPairs and segmentSum',
    async run() {
      const keys = (count: number, high: number): sp.testing.InputSpec => ({ shape: [count], dtype: 'u32', low: 0, high, differentiable: false });
      for (const [count, high, keyBits] of [[1, 5, 3], [7, 4, 3], [1025, 50, 6], [20011, 1000, 10], [4099, 4294967295, 32]]) {
        await sp.testing.expectParity(`sortPairs ${count} keys of ${keyBits} bits`, (k) => sp.sortPairs(k, { keyBits }), [keys(count, high)], { tolerance: EXACT, gradients: false });
      }
      for (const [count, high, row, keyLimit] of [[1, 3, [4], 3], [9, 12, [3], 8], [20, 6, [257], 6], [5003, 700, [2], 700]] as [number, number, number[], number][]) {
        const fn = (k: sp.Tensor, v: sp.Tensor) => {
          const [sorted, positions] = sp.sortPairs(k, { keyBits: sp.bitLength(keyLimit) });
          return sp.segmentSum(sorted, positions, v, { keyLimit });
        };
        await sp.testing.expectParity(`segmentSum ${count} keys`, fn, [keys(count, high), { shape: [count, ...row] }], { tolerance: EXACT, gradients: false });
      }
    },
  },
  {
    name: 'hashed crosses',
    async run() {
      const cases: { label: string; bags: number; fields: [number, 'i32' | 'u32'][] }[] = [
        { label: 'single-valued i32 pair', bags: 300, fields: [[1, 'i32'], [1, 'i32']] },
        { label: 'multi-valued mixed pair', bags: 300, fields: [[5, 'i32'], [4, 'u32']] },
        { label: 'multi-valued triple', bags: 97, fields: [[3, 'u32'], [1, 'i32'], [4, 'i32']] },
        { label: 'one bag', bags: 1, fields: [[6, 'i32'], [6, 'u32']] },
        { label: 'many bags', bags: 20000, fields: [[3, 'i32'], [2, 'u32']] },
      ];
      const options = { buckets: 1000003, seed: 1234567 };
      for (const { label, bags, fields } of cases) {
        const host = fields.map(([maxLength, dtype], f) => crossField(bags, maxLength, dtype, 100 * f + bags));
        const expected = sp.hashedCrossHost(host, options);
        if (expected.ids.length === 0) throw new Error(`hashedCross ${label}: the case has no crossed ids`);
        for (const backend of ['cpu', 'webgpu'] as const) {
          const device = host.map((field) => ({
            ids: sp.tensor(field.dtype === 'i32' ? new Int32Array(field.ids) : new Uint32Array(field.ids), [field.ids.length], { backend }),
            offsets: sp.tensor(new Uint32Array(field.offsets), [field.offsets.length], { backend }),
          }));
          const cross = await sp.hashedCross(device, options);
          expectEqualArrays(`hashedCross ${label} on ${backend}, offsets`, await cross.offsets.data(), expected.offsets);
          expectEqualArrays(`hashedCross ${label} on ${backend}, ids`, await cross.ids.data(), expected.ids);
          for (const tensor of [cross.ids, cross.offsets, ...device.flatMap((field) => [field.ids, field.offsets])]) tensor.dispose();
        }
      }
    },
  },
  {
    name: 'optimizer steps, dense and row-sparse',
    async run() {
      // [300] spans two 256-wide workgroups; [61, 7] has rows of 7, so a workgroup straddles rows.
      // The sparse steps touch the first and last rows, one row alone, and 60 rows (past one workgroup).
      const sparseRows = [[0, 5, 60], [5], Array.from({ length: 60 }, (_, i) => i + 1), [2, 3, 5, 7, 11, 13]];
      for (const { label, optimizer, lr } of OPTIMIZERS) {
        for (const [shape, rows] of [[[300], null], [[37, 5], null], [[61, 7], sparseRows]] as [number[], number[][] | null][]) {
          const caseLabel = `${label} ${rows ? 'row-sparse' : 'dense'} [${shape}]`;
          const cpu = await runOptimizer('cpu', optimizer, lr, shape, rows);
          const gpu = await runOptimizer('webgpu', optimizer, lr, shape, rows);
          expectClose(`${caseLabel}, weights`, gpu.weights, cpu.weights, OPTIMIZER);
          const names = Object.keys(cpu.state).sort();
          if (Object.keys(gpu.state).sort().join() !== names.join()) throw new Error(`${caseLabel}: state tensors ${Object.keys(gpu.state).sort()} on webgpu, ${names} on cpu`);
          for (const name of names) expectClose(`${caseLabel}, state ${name}`, gpu.state[name], cpu.state[name], OPTIMIZER);
        }
      }
    },
  },
];
