// Wide & Deep end to end through the library: learning, gradients on both backends, checkpoints and resume.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { loadModel, saveModel } from '../../src/models/checkpoint.js';
import { WideAndDeep, type WideDeepKind } from '../../src/models/wide-deep.js';
import { evaluate, train } from '../../src/train/trainer.js';
import { testBackends } from '../../src/testing/index.js';

const backends = await testBackends();
const scratch = mkdtempSync(join(tmpdir(), 'sparrow-models-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A small foodio data set, fitted and encoded once for every test here. */
async function foodio(rows: number, seed = 3) {
  const opened = sp.openData({ preset: 'foodio', rows, seed });
  const { state } = await sp.fit(opened.schema, opened.train);
  const trainSet = await sp.encodeAll(opened.train, new sp.Encoder(state, opened.train.columns));
  const testSet = await sp.encodeAll(opened.test!, new sp.Encoder(state, opened.test!.columns));
  return { state, trainSet, testSet };
}

function optimizerFor(model: Pick<WideAndDeep, 'parameterParts'>): sp.Optimizer {
  const parts = model.parameterParts();
  const groups: sp.ParamGroupOptions[] = [];
  if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: 0.01 });
  if (Object.keys(parts.deep).length > 0) groups.push({ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: 0.01 });
  return new sp.Optimizer(groups);
}

const data = await foodio(3000);

describe('learning', () => {
  for (const kind of ['wide', 'deep', 'wide-deep'] as WideDeepKind[]) {
    test(`${kind} learns foodio on the default backend`, async () => {
      const backend = sp.getBackend().name;
      const model = new WideAndDeep(data.trainSet.layout, { kind, hidden: [16], seed: 2 }, backend);
      const result = await train(model, optimizerFor(model), data.trainSet, { epochs: 3, batchSize: 128, seed: 1, backend }, data.testSet);
      const metrics = result.finalMetrics!.consumed;
      // Labels are noisy draws of relevance. Wide alone misses unseen exploratory pairs and deep
      // alone blurs targeted ones, so each part alone gets a lower bound than both together.
      expect(metrics.auc).toBeGreaterThan(kind === 'wide-deep' ? 0.75 : 0.65);
      expect(result.examplesPerSecond).toBeGreaterThan(0);
      model.dispose();
    });
  }
});

describe('schedules', () => {
  test('cosine decay leaves FTRL groups alone', async () => {
    const backend = sp.getBackend().name;
    const weights: Float32Array[] = [];
    for (const schedule of [{ kind: 'cosine' }, { kind: 'constant' }] as const) {
      const model = new WideAndDeep(data.trainSet.layout, { kind: 'wide', seed: 2 }, backend);
      const optimizer = new sp.Optimizer([{ name: 'wide', params: model.parameterParts().wide, optimizer: { kind: 'ftrl' }, lr: 0.5 }]);
      await train(model, optimizer, data.trainSet, { epochs: 2, batchSize: 128, seed: 1, backend, schedule });
      expect(optimizer.groups[0].lr).toBe(0.5);
      weights.push((await model.stateDict())['wide.table0'].data as Float32Array);
      model.dispose();
    }
    // FTRL's weights are proportional to alpha, so a decayed alpha would shrink them all toward
    // 0; the schedule must not touch FTRL, and both runs give the same weights.
    expect(Array.from(weights[0])).toEqual(Array.from(weights[1]));
    expect(Math.max(...Array.from(weights[0], Math.abs))).toBeGreaterThan(0.05);
  });
});

describe('backends agree', () => {
  test('one training step gives the same weights on CPU and WebGPU', async () => {
    if (!backends.includes('webgpu')) return;
    const weights: Record<string, Float32Array>[] = [];
    const small = sp.selectRows(data.trainSet, Array.from({ length: 64 }, (_, i) => i));
    for (const backend of ['cpu', 'webgpu'] as const) {
      const model = new WideAndDeep(small.layout, { kind: 'wide-deep', hidden: [8], seed: 5 }, backend);
      await train(model, optimizerFor(model), small, { epochs: 1, batchSize: 64, seed: 1, backend });
      const state = await model.stateDict();
      weights.push(Object.fromEntries(Object.entries(state).map(([name, record]) => [name, record.data as Float32Array])));
      model.dispose();
    }
    for (const [name, values] of Object.entries(weights[0])) {
      const other = weights[1][name];
      values.forEach((value, i) => expect(Math.abs(other[i] - value), `${name}[${i}]`).toBeLessThan(1e-4 + 1e-3 * Math.abs(value)));
    }
  });
});

describe('checkpoints', () => {
  test('save and load reproduce the metrics exactly', async () => {
    const backend = sp.getBackend().name;
    const model = new WideAndDeep(data.trainSet.layout, { kind: 'wide-deep', hidden: [8], seed: 4 }, backend);
    const optimizer = optimizerFor(model);
    const result = await train(model, optimizer, data.trainSet, { epochs: 1, batchSize: 256, seed: 1, backend }, data.testSet);
    const dir = join(scratch, 'saved');
    await saveModel(dir, model, data.state, { optimizer, training: { options: {}, state: result.state }, metrics: result.finalMetrics });

    const loaded = loadModel(dir, backend);
    const metrics = await evaluate(loaded.model, data.testSet, { backend });
    expect(metrics.consumed.auc).toBe(result.finalMetrics!.consumed.auc);
    expect(metrics.consumed.logloss).toBe(result.finalMetrics!.consumed.logloss);
    expect(loaded.config.metrics?.consumed.auc).toBe(result.finalMetrics!.consumed.auc);
  });

  // The cosine schedule checks that a resumed run schedules from the base learning rates, not
  // from the already decayed rates that the optimizer's state holds.
  test.each([{ kind: 'constant' }, { kind: 'cosine', minFactor: 0.1 }] as const)('resuming gives the weights of an uninterrupted run (%o)', async (schedule) => {
    const backend = 'cpu';
    const options = { epochs: 3, batchSize: 200, seed: 7, backend, schedule } as const;
    const small = sp.selectRows(data.trainSet, Array.from({ length: 600 }, (_, i) => i));

    const straight = new WideAndDeep(small.layout, { kind: 'wide-deep', hidden: [8], dropout: 0.2, seed: 9 }, backend);
    await train(straight, optimizerFor(straight), small, options);

    const first = new WideAndDeep(small.layout, { kind: 'wide-deep', hidden: [8], dropout: 0.2, seed: 9 }, backend);
    const firstOptimizer = optimizerFor(first);
    const partial = await train(first, firstOptimizer, small, { ...options, stopAfterEpochs: 1 });
    const dir = join(scratch, 'resume');
    await saveModel(dir, first, data.state, { optimizer: firstOptimizer, training: { options: {}, state: partial.state } });

    const loaded = loadModel(dir, backend, { optimizer: true });
    const optimizer = optimizerFor(loaded.model);
    const { tensors: _unused, ...saved } = firstOptimizer.stateDict();
    optimizer.loadStateDict({ ...saved, tensors: Object.fromEntries(Object.entries(loaded.optimizerTensors!).map(([name, t]) => [name, t.data as Float32Array])) });
    await train(loaded.model, optimizer, small, { ...options, resume: loaded.config.training?.state ?? partial.state });

    const expected = await straight.stateDict();
    const actual = await loaded.model.stateDict();
    for (const name of Object.keys(expected)) expect(Array.from(actual[name].data), name).toEqual(Array.from(expected[name].data));
  });

  test('onEpoch gives the state to resume from', async () => {
    const backend = 'cpu';
    const options = { epochs: 3, batchSize: 200, seed: 7, backend } as const;
    const small = sp.selectRows(data.trainSet, Array.from({ length: 600 }, (_, i) => i));
    const model = new WideAndDeep(small.layout, { kind: 'wide-deep', hidden: [8], dropout: 0.2, seed: 9 }, backend);
    const states: sp.TrainState[] = [];
    await train(model, optimizerFor(model), small, { ...options, onEpoch: (event) => void states.push(event.state) });

    expect(states.map((state) => [state.epoch, state.stepInEpoch, state.globalStep])).toEqual([[1, 0, 3], [2, 0, 6], [3, 0, 9]]);
    const other = new WideAndDeep(small.layout, { kind: 'wide-deep', hidden: [8], dropout: 0.2, seed: 9 }, backend);
    const partial = await train(other, optimizerFor(other), small, { ...options, stopAfterEpochs: 1 });
    expect(states[0]).toEqual(partial.state);
  });

  test('a checkpoint with a wrong shape is rejected with the tensor name', async () => {
    const backend = 'cpu';
    const model = new WideAndDeep(data.trainSet.layout, { kind: 'deep', hidden: [8], seed: 1 }, backend);
    const dir = join(scratch, 'bad-shape');
    await saveModel(dir, model, data.state);
    const config = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'config.json'), 'utf8'));
    config.config.model.hidden = [9];
    (await import('node:fs')).writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    expect(() => loadModel(dir, backend)).toThrow(/deep\.mlp\.layer0\.weight.*\[\d+, 9\]/);
  });

  test('a missing checkpoint names the path', () => {
    expect(() => loadModel(join(scratch, 'nothing-here'), 'cpu')).toThrow(/nothing-here/);
  });
});
