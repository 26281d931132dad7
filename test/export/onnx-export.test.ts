// ONNX export: onnxruntime's task predictions and scores match Sparrow's for Wide & Deep and multi-task models.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import type { BackendName } from '../../src/backend/backend.js';
import type { SparseBatch } from '../../src/data/batch.js';
import { OnnxExportError } from '../../src/export/errors.js';
import { onnxFeeds, type OnnxFeed, type OnnxInputSpec } from '../../src/export/onnx-inputs.js';
import { exportOnnx } from '../../src/export/onnx-model.js';
import { loadModel, saveModel, type SavedModel } from '../../src/models/checkpoint.js';
import { MultiTaskModel, type MultiTaskConfig } from '../../src/models/multitask.js';
import { computeScores, type ScoreConfig } from '../../src/models/score.js';
import { WideAndDeep, type WideDeepKind } from '../../src/models/wide-deep.js';
import { MLP } from '../../src/nn/layers.js';
import { testBackends } from '../../src/testing/index.js';
import { predict, train } from '../../src/train/trainer.js';
import { buildCli, lastJson, sparrow } from '../helpers/cli.js';

type Ort = typeof import('onnxruntime-node');
const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort;

const backends = await testBackends();
const scratch = mkdtempSync(join(tmpdir(), 'sparrow-onnx-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Float32 arithmetic in another order (onnxruntime's Gemm and reductions against Sparrow's
 * kernels) differs by a few ulps per layer; 1e-5 relative to values of order 1 leaves room
 * for that and nothing more.
 */
const TOLERANCE = 1e-5;

const TASKS = ['click', 'like', 'watch'];

/**
 * Writes a small shop log as CSV, with its schema. It has a single-valued field, a
 * multi-valued field that may be empty and a weighted multi-valued field pooled by sum. It
 * also has a cross of two fields, numeric columns that feed the wide part, the deep part or
 * both, a bias field, and binary and numeric tasks.
 */
function writeShopData(directory: string, rows: number): { schema: string; data: string } {
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const pick = (count: number, pool: number, prefix: string) => {
    const values = new Set<string>();
    while (values.size < count) values.add(`${prefix}${Math.floor(random() * pool)}`);
    return [...values];
  };

  const lines = ['user,tags,genres,genre_weights,price,age,hour,position,click,like,watch'];
  for (let row = 0; row < rows; row++) {
    const user = Math.floor(random() * 20);
    const tags = pick(Math.floor(random() * 4), 10, 't');
    const genres = pick(1 + Math.floor(random() * 3), 6, 'g');
    const weights = genres.map(() => (0.25 + random() * 2).toFixed(3));
    const price = (5 + random() * 40).toFixed(2);
    const age = 18 + Math.floor(random() * 50);
    const hour = Math.floor(random() * 24);
    const position = 1 + Math.floor(random() * 5);
    const affinity = (user % 3) - 1 + tags.length * 0.4 - position * 0.2 + (Number(price) < 20 ? 0.5 : -0.5);
    const click = random() < 1 / (1 + Math.exp(-affinity)) ? 1 : 0;
    const like = click && random() < 0.5 + 0.1 * (user % 4) ? 1 : 0;
    const watch = click ? (2 + affinity + random()).toFixed(3) : '0';
    lines.push([`u${user}`, tags.join('|'), genres.join('|'), weights.join('|'), price, age, hour, `p${position}`, click, like, watch].join(','));
  }

  const schema = {
    name: 'shop',
    csv: { header: true, columns: lines[0].split(',') },
    features: [
      { name: 'user', type: 'categorical', feeds: 'both', embeddingDim: 4 },
      { name: 'tags', type: 'categorical', separator: '|', feeds: 'both', embeddingDim: 4, combiner: 'mean', missing: { policy: 'empty' } },
      { name: 'genres', type: 'categorical', separator: '|', weightColumn: 'genre_weights', feeds: 'deep', embeddingDim: 3, combiner: 'sum' },
      { name: 'price', type: 'numeric', normalize: 'standardize', feeds: 'both' },
      { name: 'age', type: 'numeric', normalize: 'standardize', feeds: 'deep' },
      { name: 'hour', type: 'numeric', feeds: 'wide' },
      { name: 'position', type: 'categorical', feeds: 'bias', embeddingDim: 2 },
      { name: 'user-x-tags', type: 'cross', features: ['user', 'tags'], buckets: 64, feeds: 'wide' },
    ],
    labels: [
      { name: 'click', type: 'binary', positive: ['1'], negative: ['0'] },
      { name: 'like', type: 'binary', positive: ['1'], negative: ['0'] },
      { name: 'watch', type: 'numeric' },
    ],
  };
  const paths = { schema: join(directory, 'shop.schema.json'), data: join(directory, 'shop.csv') };
  writeFileSync(paths.schema, JSON.stringify(schema));
  writeFileSync(paths.data, `${lines.join('\n')}\n`);
  return paths;
}

const shopPaths = writeShopData(scratch, 320);
const opened = sp.openData({ schema: shopPaths.schema, data: shopPaths.data });
const { state: fitted } = await sp.fit(opened.schema, opened.train);
const shop = await sp.encodeAll(opened.train, new sp.Encoder(fitted, opened.train.columns));
/** Rows compared between Sparrow and onnxruntime. */
const rows = sp.selectRows(shop, Array.from({ length: 96 }, (_, i) => i));

const SUM_SCORE: ScoreConfig = { kind: 'sum', weights: { click: 1, like: 2, watch: -0.5 } };
const PRODUCT_SCORE: ScoreConfig = { kind: 'product', weights: { click: 1, like: 0.5 } };

/** Trains a model for a few steps, so that every weight (the wide tables start at 0) has moved. */
async function trainBriefly<M extends WideAndDeep | MultiTaskModel>(model: M, backend: BackendName): Promise<M> {
  const parts = model.parameterParts();
  const groups: sp.ParamGroupOptions[] = [{ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: 0.02 }];
  if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: 0.02 });
  await train(model, new sp.Optimizer(groups), shop, { epochs: 1, batchSize: 64, seed: 1, backend });
  return model;
}

function ortTensors(feeds: Record<string, OnnxFeed>): Record<string, InstanceType<Ort['Tensor']>> {
  return Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, new ort.Tensor(feed.dtype, feed.data, feed.dims)]));
}

/** Runs an exported model on onnxruntime's CPU provider. */
async function runOnnx(bytes: Uint8Array, feeds: Record<string, OnnxFeed>): Promise<{ predictions: Float32Array; score: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const result = await session.run(ortTensors(feeds));
    return { predictions: result.predictions.data as Float32Array, score: result.score.data as Float32Array, dims: result.predictions.dims };
  } finally {
    await session.release();
  }
}

function expectClose(actual: number, expected: number, label: string): void {
  expect(Number.isFinite(actual), `${label} is ${actual}`).toBe(true);
  expect(Math.abs(actual - expected), `${label}: onnxruntime ${actual}, Sparrow ${expected}`).toBeLessThanOrEqual(TOLERANCE * Math.max(1, Math.abs(expected)));
}

/** Exports `model` with `score` and checks onnxruntime's predictions and score against Sparrow's on `batch`. */
async function expectParity(model: SavedModel, score: ScoreConfig, batch: SparseBatch, backend: BackendName): Promise<void> {
  const exported = await exportOnnx(model, { score });
  const onnx = await runOnnx(exported.bytes, onnxFeeds(batch, exported.inputs));
  expect(onnx.dims).toEqual([batch.size, TASKS.length]);
  expect(onnx.score).toHaveLength(batch.size);

  const predictions = await predict(model, batch, { backend });
  const scores = computeScores(score, predictions);
  // A network whose ReLUs all died predicts one value for every row and would hide a wrong input path.
  for (const task of TASKS) expect(new Set(predictions[task]).size, `distinct ${task} predictions`).toBeGreaterThan(batch.size / 2);
  TASKS.forEach((task, t) => {
    for (let row = 0; row < batch.size; row++) expectClose(onnx.predictions[row * TASKS.length + t], predictions[task][row], `${task} of row ${row}`);
  });
  for (let row = 0; row < batch.size; row++) expectClose(onnx.score[row], scores[row], `${score.kind} score of row ${row}`);
}

describe('test rows', () => {
  test('cover empty, single and multi-id bags', () => {
    // The parity tests below rely on these bag shapes to exercise padding and mean pooling.
    const lengths = (field: string) => Array.from({ length: rows.size }, (_, row) => rows.fields[field].offsets[row + 1] - rows.fields[field].offsets[row]);
    expect(lengths('tags')).toContain(0);
    expect(lengths('tags')).toContain(1);
    expect(Math.max(...lengths('tags'))).toBeGreaterThanOrEqual(3);
    expect(lengths('user-x-tags')).toContain(0);
    expect(Math.max(...lengths('genres'))).toBeGreaterThanOrEqual(2);
    expect(rows.fields.genres.weights).toBeDefined();
  });
});

describe('wide & deep', () => {
  for (const backend of backends) {
    for (const kind of ['wide', 'deep', 'wide-deep'] as WideDeepKind[]) {
      test(`${kind} matches onnxruntime on ${backend}`, async () => {
        const model = await trainBriefly(new WideAndDeep(shop.layout, { kind, hidden: [12, 6], seed: 2 }, backend), backend);
        await expectParity(model, SUM_SCORE, rows, backend);
        if (kind === 'wide-deep') await expectParity(model, PRODUCT_SCORE, rows, backend);
        model.dispose();
      });
    }
  }
});

describe('multi-task', () => {
  const configs: Record<string, MultiTaskConfig> = {
    mmoe: { kind: 'mmoe', experts: 3, expertHidden: [6], towerHidden: [4], sharedHidden: [10], wideTasks: ['click', 'watch'], gateDropout: 0.2, seed: 3 },
    omoe: { kind: 'omoe', experts: 2, expertHidden: [5], towerHidden: [], seed: 4 },
    'shared-bottom': { kind: 'shared-bottom', towerHidden: [4], wideTasks: ['like'], seed: 5 },
  };
  for (const backend of backends) {
    for (const [name, config] of Object.entries(configs)) {
      test(`${name} matches onnxruntime on ${backend}`, async () => {
        const model = await trainBriefly(new MultiTaskModel(shop.layout, config, backend), backend);
        // Every binary task gets the bias tower by default; serving leaves it out.
        expect(model.biasTower).not.toBeNull();
        await expectParity(model, SUM_SCORE, rows, backend);
        await expectParity(model, PRODUCT_SCORE, rows, backend);
        model.dispose();
      });
    }
  }
});

describe('graph layout', () => {
  test('inputs follow the field and column order, without bias features', async () => {
    const model = new MultiTaskModel(shop.layout, { kind: 'mmoe', experts: 2, wideTasks: ['click'], seed: 1 }, 'cpu');
    const exported = await exportOnnx(model, { score: SUM_SCORE });
    const summary = exported.inputs.map((input) => [input.name, input.dtype, input.shape.join(',')]);
    expect(summary).toEqual([
      ['user_ids', 'int64', 'batch,user_len'],
      ['tags_ids', 'int64', 'batch,tags_len'],
      ['genres_ids', 'int64', 'batch,genres_len'],
      ['genres_weights', 'float32', 'batch,genres_len'],
      ['user-x-tags_ids', 'int64', 'batch,user-x-tags_len'],
      ['numeric', 'float32', 'batch,3'],
    ]);
    expect(exported.inputs.at(-1)!.columns).toEqual(['price', 'age', 'hour']);
    expect(exported.outputs.map((output) => output.name)).toEqual(['predictions', 'score']);
    expect(exported.outputs[0].columns).toEqual(TASKS);
    expect(exported.omitted).toEqual(['biasTower']);

    const session = await ort.InferenceSession.create(exported.bytes);
    expect([...session.inputNames]).toEqual(exported.inputs.map((input) => input.name));
    expect([...session.outputNames]).toEqual(['predictions', 'score']);
    await session.release();
    model.dispose();
  });

  test('extra padding leaves the outputs unchanged', async () => {
    const model = await trainBriefly(new WideAndDeep(shop.layout, { kind: 'wide-deep', hidden: [8], seed: 6 }, 'cpu'), 'cpu');
    const exported = await exportOnnx(model, { score: SUM_SCORE });
    const feeds = onnxFeeds(rows, exported.inputs);
    const widened = Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, widen(feed, exported.inputs.find((input) => input.name === name)!)]));
    const plain = await runOnnx(exported.bytes, feeds);
    const padded = await runOnnx(exported.bytes, widened);
    expect(Array.from(padded.predictions)).toEqual(Array.from(plain.predictions));
    expect(Array.from(padded.score)).toEqual(Array.from(plain.score));
    model.dispose();
  });

  test('score without weighted tasks is the empty sum or product', async () => {
    const model = new WideAndDeep(shop.layout, { kind: 'deep', hidden: [4], seed: 1 }, 'cpu');
    for (const [kind, expected] of [['sum', 0], ['product', 1]] as const) {
      const exported = await exportOnnx(model, { score: { kind, weights: { click: 0 } } });
      const onnx = await runOnnx(exported.bytes, onnxFeeds(rows, exported.inputs));
      expect(new Set(onnx.score)).toEqual(new Set([expected]));
    }
    model.dispose();
  });

  test('score naming an unknown task is rejected', async () => {
    const model = new WideAndDeep(shop.layout, { kind: 'wide', seed: 1 }, 'cpu');
    await expect(exportOnnx(model, { score: { kind: 'sum', weights: { views: 1 } } })).rejects.toThrow(/unknown task "views"; the model's tasks are click, like, watch/);
    model.dispose();
  });
});

/** Appends three padding slots to every bag of an ids or weights feed. */
function widen(feed: OnnxFeed, input: OnnxInputSpec): OnnxFeed {
  if (input.kind === 'numeric') return feed;
  const [batch, width] = feed.dims;
  const wider = width + 3;
  const data = input.kind === 'ids' ? new BigInt64Array(batch * wider).fill(-1n) : new Float32Array(batch * wider).fill(7);
  for (let row = 0; row < batch; row++) {
    for (let i = 0; i < width; i++) data[row * wider + i] = feed.data[row * width + i];
  }
  return { dtype: feed.dtype, dims: [batch, wider], data };
}

describe('unsupported layers', () => {
  test('an MLP with LayerNorm names the layer', async () => {
    const model = new WideAndDeep(shop.layout, { kind: 'deep', hidden: [8], seed: 1 }, 'cpu');
    // No command builds normalization into a model's MLP, so the test swaps one in.
    const normalized = new MLP(model.deep!.mlp.inFeatures, [8], { norm: 'layer', outFeatures: TASKS.length, backend: 'cpu' });
    Object.defineProperty(model.deep!, 'mlp', { value: normalized });

    const attempt = exportOnnx(model, { score: SUM_SCORE });
    await expect(attempt).rejects.toThrow(OnnxExportError);
    await expect(exportOnnx(model, { score: SUM_SCORE })).rejects.toThrow(/layer "deep\.mlp\.norm0": LayerNorm is not supported.*Linear and Dropout/);
    normalized.dispose();
    model.dispose();
  });
});

describe('sparrow export', () => {
  const modelDir = join(scratch, 'mmoe-model');
  const out = join(scratch, 'exported', 'mmoe.onnx');

  beforeAll(async () => {
    await buildCli();
    const model = await trainBriefly(new MultiTaskModel(shop.layout, { kind: 'mmoe', experts: 2, wideTasks: ['click'], seed: 8 }, 'cpu'), 'cpu');
    await saveModel(modelDir, model, fitted, { score: { kind: 'sum', weights: { click: 3, like: 1 } } });
    model.dispose();
    mkdirSync(join(scratch, 'exported'));
  });

  test('writes a file that onnxruntime runs like the saved model', async () => {
    const result = await sparrow(['export', '--model', modelDir, '--format', 'onnx', '--out', out, '--score-kind', 'product', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = lastJson(result.stdout);
    expect(summary.out).toBe(out);
    expect(summary.opset).toBe(17);
    expect(summary.paddingId).toBe(-1);
    // --score-kind alone keeps the saved weights.
    expect(summary.score).toEqual({ kind: 'product', weights: { click: 3, like: 1 } });
    expect(summary.scoreSource).toBe('command line');
    expect(summary.inputs.map((input: OnnxInputSpec) => input.name)).toEqual(['user_ids', 'tags_ids', 'genres_ids', 'genres_weights', 'user-x-tags_ids', 'numeric']);
    expect(summary.outputs.map((output: { name: string }) => output.name)).toEqual(['predictions', 'score']);
    expect(summary.omitted).toEqual(['biasTower']);

    const bytes = readFileSync(out);
    expect(summary.bytes).toBe(bytes.length);
    const { model } = loadModel(modelDir, 'cpu');
    const onnx = await runOnnx(bytes, onnxFeeds(rows, summary.inputs));
    const predictions = await predict(model, rows, { backend: 'cpu' });
    const scores = computeScores(summary.score, predictions);
    TASKS.forEach((task, t) => {
      for (let row = 0; row < rows.size; row++) expectClose(onnx.predictions[row * TASKS.length + t], predictions[task][row], `${task} of row ${row}`);
    });
    for (let row = 0; row < rows.size; row++) expectClose(onnx.score[row], scores[row], `score of row ${row}`);
    model.dispose();
  });

  test('prints a summary and documents its options', async () => {
    const result = await sparrow(['export', '--model', modelDir, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^wrote .*mmoe\.onnx \(\d+ bytes, ONNX opset 17\): mmoe model/);
    expect(result.stdout).toMatch(/tags_ids +int64 \[batch, tags_len\] +ids of "tags" in \[0, \d+\), padded with -1/);
    expect(result.stdout).toMatch(/score sum: 3 x click \+ 1 x like \(saved with the model\)/);
    expect(result.stdout).toMatch(/left out \(training only\): biasTower/);

    const help = await sparrow(['export', '--help']);
    expect(help.code).toBe(0);
    // Commander wraps the help at 80 columns, so a line break may fall anywhere in these.
    expect(help.stdout).toMatch(/--format <format>[^-]*choices:\s+"onnx",\s+default:\s+"onnx"/);
    expect(help.stdout).toMatch(/--out <path>[^-]*default:\s+"model\.onnx"/);
  });

  test('a missing model directory fails with its path', async () => {
    const missing = join(scratch, 'no-such-model');
    const result = await sparrow(['export', '--model', missing, '--out', out]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${missing}: checkpoint directory not found`);
  });

  test('an --out in a missing directory fails before writing', async () => {
    const target = join(scratch, 'no-such-directory', 'model.onnx');
    const result = await sparrow(['export', '--model', modelDir, '--out', target]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`--out: the directory ${join(scratch, 'no-such-directory')} of "${target}" does not exist`);
  });
});
