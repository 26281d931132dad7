// The embedding benchmark grid: one training step of table-batched embedding bags, Sparrow beside the TF.js peers.

import { formatBytes, runCase, type BenchResult, type Impl, type TimingOptions } from './harness.js';
import type { GridContext } from './matmul.js';
import { createSparrowEmbeddingRunner, type SparrowEmbeddingMemory } from './peers/sparrow-embedding.js';
import { createTfjsEmbeddingRunner, tfjsEmbeddingSkipReason } from './peers/tfjs-embedding.js';

export const EMBEDDING_CASE = 'embedding';

/**
 * Distribution of the ids drawn from a field's table: `uniform` or `zipf`. Under `zipf` the id of
 * rank r (from 0) has probability proportional to 1 / (r + 1)^ZIPF_EXPONENT, as in click logs
 * where a few items get most of the traffic. Ranks map to ids through a fixed permutation, so
 * the hot rows are spread over the table.
 */
export type IdDistribution = 'uniform' | 'zipf';

/** The shape of one embedding step; `vocab` is the total number of rows over all fields' tables. */
export interface EmbeddingShape {
  vocab: number;
  dim: number;
  batch: number;
  fields: number;
  /** Present on the skewed rows only: absent means uniform ids. */
  ids?: 'zipf';
}

/** One field of a host batch in CSR form, plus the bag of each id for the segment-sum formulation. */
export interface HostField {
  /** Local ids of the field, in [0, rows of the field). */
  ids: Uint32Array;
  /** `batch + 1` offsets: bag b is `ids[offsets[b] .. offsets[b + 1])`. */
  offsets: Uint32Array;
  /** The bag (example) of each id, as the segment ids of `tf.unsortedSegmentSum`. */
  bagOfId: Int32Array;
}

/** The seeded inputs of one grid shape, generated once and shared by every implementation. */
export interface EmbeddingInputs {
  shape: EmbeddingShape;
  /** Rows of each field's table; they add up to `shape.vocab`. */
  fieldRows: number[];
  /** Distinct host batches that the runners cycle through, one per step. */
  batches: HostBatch[];
  /** Fixed f32 [batch, fields, dim] weights of the loss `sum(pooled * lossWeights)`. */
  lossWeights: Float32Array;
  /** The Adam learning rate of every implementation. */
  learningRate: number;
}

export interface HostBatch {
  fields: HostField[];
  /** Number of ids over all fields. */
  nnz: number;
}

/** The result record of one embedding row: the report's fields plus the embedding-specific ones. */
export interface EmbeddingResult extends Omit<BenchResult, 'shape'> {
  shape: EmbeddingShape;
  /** For sparrow-webgpu, the gradient path: `sorted` (deterministic, the default) or `atomic`. */
  variant?: 'sorted' | 'atomic';
  /** Mean number of distinct table rows that one step's batch touches, over the cycled batches. */
  touchedRows: number;
  /** Bytes of the table plus the two Adam state tensors of the same shape (f32). */
  tableAndStateBytes: number;
  /** Sparrow only: the largest device allocation during the case above the allocation before it. */
  peakDeviceBytes?: number;
  /** Sparrow only: the same for the bytes that live tensors held. */
  peakTensorBytes?: number;
  /** True when the case did not raise the backend's all-time peak, so the peaks above are upper bounds. */
  peakIsUpperBound?: boolean;
}

const BATCH = 4096;
const FIELDS = 26;
const MIN_BAG = 1;
const MAX_BAG = 20;
const DIMS = [16, 64];
/**
 * Largest first. NOTE: in two full runs with the 10^7-row shapes last, the process grew to 24 GB
 * resident at 10^7 rows and dim 64, after the TF.js WebGPU cases, and was killed for lack of memory
 * on a 24 GB machine. That case alone peaks at 8.5 GB. What the TF.js cases leave behind was not
 * identified, so the 10^7-row shapes run before any TF.js case.
 */
const VOCABS = [1e7, 1e6, 1e4];
/** Distinct batches per shape: enough that no two consecutive steps see the same ids. */
const BATCH_COUNT = 3;
const LEARNING_RATE = 0.001;
/** Exponent of the skewed rows' Zipf distribution. */
const ZIPF_EXPONENT = 1.05;
/** Vocabularies of the skewed rows, which only sparrow-webgpu's sorted path runs. */
const ZIPF_VOCABS = [1e4, 1e6];

/** The largest vocabulary at which the TF.js peers and Sparrow's CPU backend run. */
const PEER_MAX_VOCAB = 1e6;
const SPARROW_CPU_MAX_VOCAB = 1e4;
/** The largest table (rows x dim over all fields) at which TF.js wasm runs: 10^6 x 16. */
const WASM_MAX_ELEMENTS = 16e6;
/** The largest vocabulary at which sparrow-webgpu also runs its atomic gradient path. */
const ATOMIC_MAX_VOCAB = 1e6;

const GPU_IMPLS: readonly Impl[] = ['sparrow-webgpu', 'tfjs-webgpu'];

/** Returns a seeded generator of uniform numbers in [0, 1) (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits `vocab` rows over `fields` tables as evenly as possible. */
function splitVocabulary(vocab: number, fields: number): number[] {
  const base = Math.floor(vocab / fields);
  const extra = vocab % fields;
  return Array.from({ length: fields }, (_, f) => base + (f < extra ? 1 : 0));
}

/** Returns a sampler of ids in [0, rows) under `distribution`, drawing from `random`. */
function idSampler(rows: number, distribution: IdDistribution, random: () => number): () => number {
  if (distribution === 'uniform') return () => Math.floor(random() * rows);

  const cumulative = new Float64Array(rows);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    total += 1 / Math.pow(r + 1, ZIPF_EXPONENT);
    cumulative[r] = total;
  }
  // rank -> (rank * multiplier + 12345) mod rows is a bijection when gcd(multiplier, rows) = 1.
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const multiplier = [2654435761, 2246822519, 3266489917].find((m) => gcd(m % rows, rows) === 1 && m % rows !== 0) ?? 1;
  return () => {
    const target = random() * total;
    let low = 0;
    let high = rows - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return Number((BigInt(low) * BigInt(multiplier) + 12345n) % BigInt(rows));
  };
}

/**
 * Generates one batch: every bag has a length drawn uniformly from [MIN_BAG, MAX_BAG], and every
 * id is drawn from its field's rows by `distribution`. Uniform ids are the access pattern of
 * FBGEMM's table-batched embedding benchmark without Zipf skew: they touch the most distinct
 * rows for a given number of ids, so they are the least favourable case for a row-sparse update.
 */
function generateBatch(fieldRows: readonly number[], distribution: IdDistribution, random: () => number): HostBatch {
  const fields = fieldRows.map((rows): HostField => {
    const sample = idSampler(rows, distribution, random);
    const offsets = new Uint32Array(BATCH + 1);
    for (let b = 0; b < BATCH; b++) {
      offsets[b + 1] = offsets[b] + MIN_BAG + Math.floor(random() * (MAX_BAG - MIN_BAG + 1));
    }

    const nnz = offsets[BATCH];
    const ids = new Uint32Array(nnz);
    const bagOfId = new Int32Array(nnz);
    for (let b = 0; b < BATCH; b++) {
      for (let p = offsets[b]; p < offsets[b + 1]; p++) {
        ids[p] = sample();
        bagOfId[p] = b;
      }
    }
    return { ids, offsets, bagOfId };
  });
  return { fields, nnz: fields.reduce((total, field) => total + field.ids.length, 0) };
}

/** Generates the inputs of one shape from seeds that depend only on the shape. */
export function generateInputs(vocab: number, dim: number, distribution: IdDistribution = 'uniform'): EmbeddingInputs {
  const shape: EmbeddingShape = { vocab, dim, batch: BATCH, fields: FIELDS };
  if (distribution === 'zipf') shape.ids = 'zipf';
  const fieldRows = splitVocabulary(vocab, FIELDS);

  const random = seededRandom(vocab + 7);
  const batches = Array.from({ length: BATCH_COUNT }, () => generateBatch(fieldRows, distribution, random));

  const weightRandom = seededRandom(dim + 11);
  const lossWeights = new Float32Array(BATCH * FIELDS * dim);
  for (let i = 0; i < lossWeights.length; i++) lossWeights[i] = 2 * weightRandom() - 1;

  return { shape, fieldRows, batches, lossWeights, learningRate: LEARNING_RATE };
}

/** Returns the mean of `countTouchedRows` over the cycled batches, rounded. */
function meanTouchedRows(inputs: EmbeddingInputs): number {
  const touched = inputs.batches.map((batch) => countTouchedRows(batch, inputs.fieldRows));
  return Math.round(touched.reduce((x, y) => x + y, 0) / touched.length);
}

/** Counts the distinct (field, id) pairs of a batch: the rows its gradient touches. */
function countTouchedRows(batch: HostBatch, fieldRows: readonly number[]): number {
  let touched = 0;
  batch.fields.forEach((field, f) => {
    const seen = new Uint8Array(fieldRows[f]);
    for (const id of field.ids) {
      if (seen[id] === 0) touched++;
      seen[id] = 1;
    }
  });
  return touched;
}

/** A table row that the first step's batch touches, and its gradient in that step. */
export interface ProbeRow {
  field: number;
  /** The local id in the field's table. */
  id: number;
  gradient: Float64Array;
}

/**
 * Picks the first id of the last field in the first batch, which lies in the last shard of a large
 * Sparrow table, and computes its gradient in float64. With sum pooling and the loss
 * sum(pooled * lossWeights), that gradient is the sum of the loss weights of each bag that contains
 * the id, once per occurrence.
 */
export function findProbeRow(inputs: EmbeddingInputs): ProbeRow {
  const { shape, batches, lossWeights } = inputs;
  const field = shape.fields - 1;
  const { ids, offsets } = batches[0].fields[field];
  const id = ids[0];

  const gradient = new Float64Array(shape.dim);
  for (let b = 0; b < shape.batch; b++) {
    for (let p = offsets[b]; p < offsets[b + 1]; p++) {
      if (ids[p] !== id) continue;
      const base = (b * shape.fields + field) * shape.dim;
      for (let c = 0; c < shape.dim; c++) gradient[c] += lossWeights[base + c];
    }
  }
  return { field, id, gradient };
}

/**
 * Checks the probe row after the first step, so that a wrong kernel fails instead of producing a
 * fast time. Adam's first bias-corrected update is lr * g / (|g| + eps), which is lr * sign(g) to
 * within eps / |g|. Columns whose gradient is under 1e-3 are skipped, so that term stays below
 * 1e-4 relative for both Sparrow (eps 1e-8) and TF.js (eps 1e-7).
 */
export function checkFirstAdamStep(impl: Impl, inputs: EmbeddingInputs, probe: ProbeRow, initial: ArrayLike<number>, updated: ArrayLike<number>): void {
  // The update is 1e-3 per column, so a wrong sign or a missing update is off by 1e-3 or more.
  // Float32 rounding of values near 0.05 is about 1e-8.
  const tolerance = 1e-6;
  for (let c = 0; c < inputs.shape.dim; c++) {
    const g = probe.gradient[c];
    if (Math.abs(g) < 1e-3) continue;
    const expected = initial[c] - inputs.learningRate * Math.sign(g);
    if (!(Math.abs(updated[c] - expected) <= tolerance)) {
      throw new Error(
        `${impl}: after one Adam step, field ${probe.field} id ${probe.id} column ${c} is ${updated[c]}, ` +
          `expected ${expected.toFixed(7)} (initial ${initial[c]}, gradient ${g.toFixed(4)}, tolerance ${tolerance})`,
      );
    }
  }
}

/**
 * Returns the timing budget of one implementation on one shape, sized so that the grid takes
 * minutes, not tens of minutes, on a 2-core machine with the llvmpipe adapter. One step there
 * moves about 1.1 million ids. There a Sparrow step took 0.1 to 1.4 s, and a steady tfjs-webgpu
 * step 1.5 s (10^4 rows, dim 16) to 7.7 s (10^6 rows, dim 64). Every implementation takes at
 * least 3 samples. Sparrow's steps are steady after the first (compiling) one, so one warm-up
 * run follows it. TF.js WebGPU's are not: at 10^6 rows its steps after the first took 7.0, 5.4,
 * 2.1, 2.2, 2.4 and 2.4 s (dim 16) and 16.4, 14.3, 7.7, 7.8 and 7.6 s (dim 64), so it gets 3.
 */
function timingFor(impl: Impl): TimingOptions {
  if (impl === 'tfjs-webgpu') {
    return { warmupRuns: 3, maxTime: 0, minSamples: 3, maxRunMs: 60_000 };
  }
  // Over 30 s per step, 3 samples alone would take minutes.
  return { warmupRuns: 1, maxTime: 0.5, minSamples: 3, maxRunMs: 30_000 };
}

/** Returns why `impl` (and its gradient path) does not run at `shape`, or undefined when it does. */
function skipReason(impl: Impl, shape: EmbeddingShape, context: GridContext, variant?: 'sorted' | 'atomic'): string | undefined {
  if (GPU_IMPLS.includes(impl) && context.gpu === null) return `no WebGPU adapter: ${context.noGpuReason ?? 'none found'}`;
  if (variant === 'atomic' && shape.vocab > ATOMIC_MAX_VOCAB) {
    return `the atomic gradient path runs this grid up to ${ATOMIC_MAX_VOCAB} rows; at 10^7 rows and dim 64 one step took 26 s against 7 s sorted`;
  }
  if (impl === 'sparrow-cpu' && shape.vocab > SPARROW_CPU_MAX_VOCAB) {
    return `the CPU backend is the plain-loop reference and runs this grid at ${SPARROW_CPU_MAX_VOCAB} rows only`;
  }
  if (impl.startsWith('tfjs-')) {
    if (shape.vocab > PEER_MAX_VOCAB) {
      return `TF.js runs this grid up to ${PEER_MAX_VOCAB} rows; above that its dense gather gradient and Adam update cover every row of the table`;
    }
    if (impl === 'tfjs-wasm' && shape.vocab * shape.dim > WASM_MAX_ELEMENTS) {
      return (
        `at 10^6 rows and dim 64, TF.js wasm's second step did not finish in 3 minutes, with the process at 4.3 GB, ` +
        `next to the 4 GiB ceiling of a wasm32 heap (table, dense gradient, Adam state and their temporaries)`
      );
    }
    return tfjsEmbeddingSkipReason(impl as 'tfjs-webgpu' | 'tfjs-wasm' | 'tfjs-cpu');
  }
  return undefined;
}

/** Runs one implementation (and for sparrow-webgpu one gradient path) on one shape. */
async function runOne(
  impl: Impl,
  inputs: EmbeddingInputs,
  touchedRows: number,
  context: GridContext,
  variant?: 'sorted' | 'atomic',
): Promise<EmbeddingResult> {
  const { shape } = inputs;
  const memory: SparrowEmbeddingMemory = {};
  const label = `vocab=${shape.vocab} dim=${shape.dim}${shape.ids === undefined ? '' : ` ids=${shape.ids}`}${variant === undefined ? '' : ` ${variant}`}`;

  const result = await runCase({
    caseName: EMBEDDING_CASE,
    shape: label,
    impl,
    examples: shape.batch,
    setup: () =>
      impl === 'sparrow-webgpu' || impl === 'sparrow-cpu'
        ? createSparrowEmbeddingRunner(impl, inputs, { atomicGrad: variant === 'atomic', memory })
        : createTfjsEmbeddingRunner(impl, inputs),
    options: timingFor(impl),
    skip: skipReason(impl, shape, context, variant),
  });

  const record: EmbeddingResult = {
    ...result,
    shape,
    touchedRows,
    tableAndStateBytes: 3 * shape.vocab * shape.dim * 4,
  };
  if (variant !== undefined) record.variant = variant;
  if (impl === 'sparrow-webgpu' && memory.peakAllocatedBytes !== undefined) {
    record.peakDeviceBytes = memory.peakAllocatedBytes;
    record.peakTensorBytes = memory.peakTensorBytes;
    if (memory.isUpperBound) record.peakIsUpperBound = true;
    const ratio = memory.peakAllocatedBytes / record.tableAndStateBytes;
    process.stderr.write(
      `[bench] ${EMBEDDING_CASE} ${label} ${impl}: peak device memory ${formatBytes(memory.peakAllocatedBytes)}` +
        `${memory.isUpperBound ? ' (upper bound)' : ''}, ${ratio.toFixed(2)}x the table plus Adam state ` +
        `(${formatBytes(record.tableAndStateBytes)})\n`,
    );
  }
  return record;
}

/**
 * Runs every shape of the grid on every implementation in `context.impls`, one shape at a time.
 * sparrow-webgpu runs twice per shape: the sorted (deterministic) gradient path, then the atomic one.
 */
export async function runEmbeddingGrid(context: GridContext): Promise<BenchResult[]> {
  const results: EmbeddingResult[] = [];

  for (const vocab of VOCABS) {
    for (const dim of DIMS) {
      const inputs = generateInputs(vocab, dim);
      const touchedRows = meanTouchedRows(inputs);

      for (const impl of context.impls) {
        if (impl === 'sparrow-webgpu') {
          results.push(await runOne(impl, inputs, touchedRows, context, 'sorted'));
          results.push(await runOne(impl, inputs, touchedRows, context, 'atomic'));
        } else {
          results.push(await runOne(impl, inputs, touchedRows, context));
        }
      }
    }
  }

  // Skewed ids: does the step follow the touched rows? Only the sorted path, the default.
  if (context.impls.includes('sparrow-webgpu')) {
    for (const vocab of ZIPF_VOCABS) {
      for (const dim of DIMS) {
        const inputs = generateInputs(vocab, dim, 'zipf');
        results.push(await runOne('sparrow-webgpu', inputs, meanTouchedRows(inputs), context, 'sorted'));
      }
    }
  }

  // NOTE: BenchResult.shape is typed as the matmul case's string; embedding rows carry an
  // EmbeddingShape object instead, which report.ts formats. Widening that type in harness.ts
  // would remove this cast.
  return results as unknown as BenchResult[];
}
