// Kernel benchmarks in the page: matmul and an embedding-bag training step, Sparrow on WebGPU beside Sparrow on the CPU.

import * as sp from '../../dist/browser.js';

/** Square products and one dense layer (256 inputs, 128 outputs) applied to a batch of 1,024 rows. */
export const MATMUL_SHAPES = [
  { m: 128, k: 128, n: 128 },
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 256, n: 128 },
];

/** Embedding-bag steps: `fields` tables of `vocab` rows in all, batches of `batch` examples with bags of 1 to 10 ids. */
export const EMBEDDING_SHAPES = [
  { vocab: 10_000, dim: 16, batch: 1024, fields: 8 },
  { vocab: 100_000, dim: 64, batch: 1024, fields: 8 },
];

/**
 * Timing of one case: the first timed run apart (it compiles the WebGPU pipelines unless the
 * case ran before, as a matmul does for its check), one more
 * warm-up run, then samples until there are at least `minSamples` and `minSeconds` have passed,
 * or `maxSamples` exist. The reported time is the median sample.
 */
const TIMING = { warmupRuns: 1, minSamples: 5, maxSamples: 30, minSeconds: 0.5 };

/** Times `run` (which must finish its GPU work before it resolves) under TIMING. */
async function time(run) {
  const firstStarted = performance.now();
  await run();
  const firstMs = performance.now() - firstStarted;
  for (let i = 0; i < TIMING.warmupRuns; i++) await run();

  const samples = [];
  const started = performance.now();
  while (samples.length < TIMING.maxSamples && (samples.length < TIMING.minSamples || performance.now() - started < TIMING.minSeconds * 1000)) {
    const sampleStarted = performance.now();
    await run();
    samples.push(performance.now() - sampleStarted);
  }
  samples.sort((a, b) => a - b);
  return { firstMs, medianMs: samples[Math.floor(samples.length / 2)], samples: samples.length };
}

/** Checks c[0, 0] of a product against a float64 dot product, so a kernel that returns garbage fails instead of looking fast. */
async function checkCorner(backend, a, b, { m, k, n }) {
  const c = sp.matmul(a, b);
  const actual = (await c.data())[0];
  c.dispose();
  const aValues = await a.data();
  const bValues = await b.data();
  let expected = 0;
  for (let i = 0; i < k; i++) expected += aValues[i] * bValues[i * n];
  // Float32 accumulation of k terms of size at most 1: an error far above k * 2^-24 means a wrong result.
  if (!(Math.abs(actual - expected) <= 1e-4 * k)) throw new Error(`matmul ${m}x${k}x${n} on ${backend}: c[0, 0] is ${actual}, expected ${expected.toFixed(6)}`);
}

async function benchMatmul(backend, shape) {
  const { m, k, n } = shape;
  const a = sp.randomUniform([m, k], { seed: 1, backend });
  const b = sp.randomUniform([k, n], { seed: 2, backend });
  await checkCorner(backend, a, b, shape);
  const timing = await time(async () => {
    const c = sp.matmul(a, b);
    // sync waits for the submitted GPU work without reading the product back; the CPU has finished already.
    await sp.sync(backend);
    c.dispose();
  });
  a.dispose();
  b.dispose();
  return { case: 'matmul', shape: `${m}x${k}x${n}`, backend, ...timing, rate: `${((2 * m * k * n) / (timing.medianMs * 1e6)).toFixed(2)} GFLOP/s` };
}

/** Seeded host batches in CSR form; the same seed gives the same batches on both backends. */
function embeddingBatches(layout, shape, count) {
  const values = sp.testing.inputValues({ shape: [count * shape.batch * shape.fields * 11], dtype: 'u32', low: 0, high: 2 ** 31 }, shape.vocab, 0);
  let next = 0;
  return Array.from({ length: count }, () =>
    layout.fields.map((field) => {
      const offsets = [0];
      const ids = [];
      for (let b = 0; b < shape.batch; b++) {
        const length = 1 + (values[next++] % 10);
        for (let j = 0; j < length; j++) ids.push(values[next++] % field.rows);
        offsets.push(ids.length);
      }
      return { ids, offsets };
    }),
  );
}

/** Seeded uniform values in [-0.05, 0.05) for a [vocab, dim] table, drawn on the CPU backend. */
async function initialTable(shape) {
  const values = sp.randomUniform([shape.vocab, shape.dim], { seed: 1, low: -0.05, high: 0.05, backend: 'cpu' });
  const data = await values.data();
  values.dispose();
  return data;
}

/**
 * Times one embedding training step as `sparrow bench` does: upload a batch, pool every field by
 * sum with embeddingBags, take the loss sum(pooled * weights), run backward to a row-sparse
 * gradient, and apply one lazy Adam update of the touched rows.
 */
async function benchEmbedding(backend, shape) {
  const fieldRows = Array.from({ length: shape.fields }, (_, f) => Math.floor(shape.vocab / shape.fields) + (f < shape.vocab % shape.fields ? 1 : 0));
  const layout = new sp.TableLayout(fieldRows.map((rows, f) => ({ name: `field${f}`, rows })));
  // The table starts from the same values on both backends, so their pooled outputs can be compared bit for bit.
  const table = sp.ShardedTable.create(shape.vocab, shape.dim, { backend, requiresGrad: true, init: { kind: 'values', values: await initialTable(shape) } });
  const weightShape = [shape.batch, shape.fields, shape.dim];
  const weights = sp.keep(sp.tensor(sp.testing.inputValues({ shape: weightShape, low: 0.5, high: 1.5 }, 5, 0), weightShape, { backend }));
  const optimizer = new sp.Optimizer([{ params: table.shards, optimizer: { kind: 'adam' }, lr: 0.001 }]);
  const batches = embeddingBatches(layout, shape, 3);

  // The pooled output of the first batch, read before any update, is what the two backends compare.
  const first = sp.embeddingBatch(layout, batches[0], { backend });
  const pooled = sp.embeddingBags(table, first, { pooling: 'sum' });
  const check = (await pooled.data()).slice(0, 4096);
  pooled.dispose();
  first.dispose();

  let step = 0;
  const timing = await time(async () => {
    const batch = sp.embeddingBatch(layout, batches[step++ % batches.length], { backend });
    sp.tidy(() => {
      sp.sum(sp.mul(sp.embeddingBags(table, batch, { pooling: 'sum' }), weights)).backward();
      optimizer.step();
    });
    optimizer.zeroGrad();
    batch.dispose();
    await sp.sync(backend);
  });
  optimizer.dispose();
  weights.dispose();
  table.dispose();
  layout.dispose();
  return {
    case: 'embedding step',
    shape: `${shape.vocab} rows x ${shape.dim}, ${shape.fields} fields, batch ${shape.batch}`,
    backend,
    ...timing,
    rate: `${Math.round((shape.batch / timing.medianMs) * 1000)} examples/s`,
    check,
  };
}

/**
 * Runs every case on WebGPU (when the page has it) and on the CPU, and passes each result to
 * `onResult`. It also checks that the pooled embeddings of both backends agree bit for bit. They
 * are unweighted sums of the same float32 values in the same order.
 */
export async function runKernelBenchmarks({ onResult = () => {}, onStatus = () => {} } = {}) {
  const backends = sp.getWebGPUBackend() ? ['webgpu', 'cpu'] : ['cpu'];
  const results = [];
  const add = (result) => {
    results.push(result);
    onResult(result);
  };

  for (const shape of MATMUL_SHAPES) {
    for (const backend of backends) {
      onStatus(`matmul ${shape.m}x${shape.k}x${shape.n} on ${backend}`);
      add(await benchMatmul(backend, shape));
    }
  }
  for (const shape of EMBEDDING_SHAPES) {
    const checks = [];
    for (const backend of backends) {
      onStatus(`embedding step, ${shape.vocab} rows x ${shape.dim}, on ${backend}`);
      const { check, ...result } = await benchEmbedding(backend, shape);
      checks.push(check);
      add(result);
    }
    const mismatch = checks.length === 2 ? checks[0].findIndex((value, i) => !Object.is(value, checks[1][i])) : -1;
    if (mismatch >= 0) throw new Error(`embedding step ${shape.vocab} x ${shape.dim}: pooled value ${mismatch} is ${checks[0][mismatch]} on webgpu and ${checks[1][mismatch]} on the CPU`);
  }
  return results;
}
