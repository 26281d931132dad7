// Multi-task models: gates, gate dropout, the bias tower, masked labels, checkpoints and a small MMoE-versus-shared-bottom run.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import type { SparseBatch } from '../../src/data/batch.js';
import { MmoeSynthetic } from '../../src/data/synthetic/mmoe.js';
import { loadModel, saveModel } from '../../src/models/checkpoint.js';
import { GateDropout } from '../../src/models/masked-dropout.js';
import { matchingBottomSize, meanGateWeights, mlpParameterCount, MultiTaskModel, type MultiTaskConfig } from '../../src/models/multitask.js';
import { multiTaskLoss } from '../../src/train/loss.js';
import { evaluate, predict, train } from '../../src/train/trainer.js';
import { testBackends } from '../../src/testing/index.js';

const backends = await testBackends();
const scratch = mkdtempSync(join(tmpdir(), 'sparrow-multitask-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** youtube-sim rows: binary and numeric tasks, rating missing without a click, and bias fields position and device. */
async function youtubeSim(rows: number, seed = 3) {
  const opened = sp.openData({ preset: 'youtube-sim', rows, seed });
  const { state } = await sp.fit(opened.schema, opened.train);
  const trainSet = await sp.encodeAll(opened.train, new sp.Encoder(state, opened.train.columns));
  return { state, trainSet };
}

const sim = await youtubeSim(400);
const firstRows = (data: SparseBatch, count: number) => sp.selectRows(data, Array.from({ length: count }, (_, i) => i));

function optimizerFor(model: MultiTaskModel, lr: number): sp.Optimizer {
  const parts = model.parameterParts();
  const groups: sp.ParamGroupOptions[] = [{ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr }];
  if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr });
  return new sp.Optimizer(groups);
}

async function values(tensor: sp.Tensor): Promise<number[]> {
  return Array.from(await tensor.data());
}

describe('gates', () => {
  for (const backend of backends) {
    for (const kind of ['mmoe', 'omoe'] as const) {
      test(`${kind} gates sum to one on ${backend}`, async () => {
        const model = new MultiTaskModel(sim.trainSet.layout, { kind, experts: 5, seed: 2 }, backend);
        const batch = firstRows(sim.trainSet, 37);
        const gates = model.gates(batch)!;
        expect(Object.keys(gates)).toEqual(model.taskNames);
        for (const name of model.taskNames) {
          expect(gates[name].shape).toEqual([37, 5]);
          const weights = await values(gates[name]);
          for (let row = 0; row < 37; row++) {
            const slice = weights.slice(row * 5, row * 5 + 5);
            expect(Math.abs(slice.reduce((a, b) => a + b, 0) - 1), `${name} row ${row}`).toBeLessThan(1e-5);
            for (const weight of slice) expect(weight).toBeGreaterThan(0);
          }
        }
        if (kind === 'omoe') expect(gates.click).toBe(gates.like);
        else expect(await values(gates.click)).not.toEqual(await values(gates.like));
        model.dispose();
      });
    }
  }

  test('shared-bottom has no gates', () => {
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'shared-bottom', seed: 2 }, 'cpu');
    expect(model.gates(firstRows(sim.trainSet, 4))).toBeNull();
    expect(model.expertCount).toBe(0);
    model.dispose();
  });

  test('mean gate weights sum to one per task', async () => {
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', experts: 4, seed: 2 }, 'cpu');
    const means = (await meanGateWeights(model, sim.trainSet, { batchSize: 150 }))!;
    for (const name of model.taskNames) {
      expect(means[name]).toHaveLength(4);
      expect(Math.abs(means[name].reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    }
    expect(model.training).toBe(true);
    model.dispose();
  });
});

describe('backends agree', () => {
  test('training outputs and gradients match on CPU and WebGPU', async () => {
    if (!backends.includes('webgpu')) return;
    const batch = firstRows(sim.trainSet, 48);
    const results: { outputs: number[]; grads: Record<string, number[]> }[] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      const model = new MultiTaskModel(batch.layout, { kind: 'mmoe', experts: 3, wideTasks: ['click'], gateDropout: 0.3, biasDropout: 0.3, seed: 7 }, backend);
      const outputs = model.forward(batch);
      multiTaskLoss(outputs, batch, backend).backward();
      const grads: Record<string, number[]> = {};
      for (const [name, parameter] of model.namedParameters()) if (parameter.grad) grads[name] = await values(parameter.grad);
      results.push({ outputs: await values(outputs), grads });
      model.dispose();
    }
    // f32 sums in different orders: a few ulps per op, through three layers.
    results[0].outputs.forEach((value, i) => expect(Math.abs(results[1].outputs[i] - value), `output ${i}`).toBeLessThan(1e-4 + 1e-4 * Math.abs(value)));
    expect(Object.keys(results[1].grads)).toEqual(Object.keys(results[0].grads));
    for (const [name, grad] of Object.entries(results[0].grads)) {
      grad.forEach((value, i) => expect(Math.abs(results[1].grads[name][i] - value), `${name}[${i}]`).toBeLessThan(1e-4 + 1e-3 * Math.abs(value)));
    }
  });
});

describe('gate dropout', () => {
  test('zeroes experts and renormalizes in training', async () => {
    const rows = 200;
    const experts = 6;
    const raw = Float32Array.from({ length: rows * experts }, (_, i) => 0.1 + ((i * 7919) % 13) / 13);
    const gates = sp.softmax(sp.tensor(raw, [rows, experts], { backend: 'cpu' }), 1);
    const before = await values(gates);
    const dropout = new GateDropout(0.3, 4);
    const after = await values(dropout.forward(gates));

    let zeros = 0;
    for (let row = 0; row < rows; row++) {
      const kept = after.slice(row * experts, (row + 1) * experts);
      expect(Math.abs(kept.reduce((a, b) => a + b, 0) - 1), `row ${row}`).toBeLessThan(1e-5);
      const keptMass = before.slice(row * experts, (row + 1) * experts).reduce((total, weight, e) => total + (kept[e] > 0 ? weight : 0), 0);
      for (let e = 0; e < experts; e++) {
        if (kept[e] === 0) zeros++;
        // A kept expert's weight is its softmax weight divided by the kept experts' total.
        else expect(Math.abs(kept[e] - before[row * experts + e] / keptMass), `row ${row} expert ${e}`).toBeLessThan(1e-5);
      }
    }
    // 1200 draws at rate 0.3: the zero fraction's standard deviation is about 0.013.
    expect(zeros / (rows * experts)).toBeGreaterThan(0.25);
    expect(zeros / (rows * experts)).toBeLessThan(0.35);
  });

  test('keeps every expert when all are drawn', async () => {
    const gates = sp.tensor([0.5, 0.5], [1, 2], { backend: 'cpu' });
    const dropout = new GateDropout(0.99, 1);
    for (let call = 0; call < 20; call++) expect(await values(dropout.forward(gates))).toEqual([0.5, 0.5]);
  });

  test('is off in evaluation mode', async () => {
    const gates = sp.softmax(sp.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: 'cpu' }), 1);
    const dropout = new GateDropout(0.5, 1);
    dropout.eval();
    expect(dropout.forward(gates)).toBe(gates);
    expect(dropout.calls).toBe(0);
  });

  test('changes training outputs and not evaluation outputs', async () => {
    const layout = sim.trainSet.layout;
    const batch = firstRows(sim.trainSet, 32);
    const config: MultiTaskConfig = { kind: 'mmoe', experts: 4, biasTasks: [], seed: 6 };
    const plain = new MultiTaskModel(layout, { ...config, gateDropout: 0 }, 'cpu');
    const dropped = new MultiTaskModel(layout, { ...config, gateDropout: 0.5 }, 'cpu');
    expect(await values(dropped.forward(batch))).not.toEqual(await values(plain.forward(batch)));
    plain.eval();
    dropped.eval();
    expect(await values(dropped.forward(batch))).toEqual(await values(plain.forward(batch)));
  });
});

describe('bias tower', () => {
  const layout = sim.trainSet.layout;
  const base: MultiTaskConfig = { kind: 'mmoe', experts: 3, gateDropout: 0, biasDropout: 0, seed: 8 };

  test('defaults to every binary task', () => {
    const model = new MultiTaskModel(layout, base, 'cpu');
    expect(model.config.biasTasks).toEqual(['click', 'like', 'dismiss']);
    expect(model.config.biasDropoutFeatures).toEqual(['position', 'device']);
    expect(model.biasTower).not.toBeNull();
  });

  test('adds its logit to training outputs of the chosen tasks only', async () => {
    const model = new MultiTaskModel(layout, { ...base, biasTasks: ['click', 'dismiss'] }, 'cpu');
    const batch = firstRows(sim.trainSet, 40);
    const training = await values(model.forward(batch));
    const bias = await values(model.biasTower!.forward(batch, 'cpu'));
    model.eval();
    const serving = await values(model.forward(batch));

    const tasks = model.taskNames;
    for (let row = 0; row < 40; row++) {
      tasks.forEach((name, t) => {
        const expected = serving[row * tasks.length + t] + (name === 'click' || name === 'dismiss' ? bias[row] : 0);
        expect(Math.abs(training[row * tasks.length + t] - expected), `${name} row ${row}`).toBeLessThan(1e-6);
      });
    }
    expect(bias.some((value) => Math.abs(value) > 1e-3)).toBe(true);
  });

  test('serving outputs ignore position and device', async () => {
    const model = new MultiTaskModel(layout, base, 'cpu');
    const batch = firstRows(sim.trainSet, 40);
    const moved: SparseBatch = { ...batch, fields: { ...batch.fields } };
    for (const name of ['position', 'device']) {
      const field = batch.fields[name];
      const rows = layout.fields.find((f) => f.name === name)!.vocabularySize;
      moved.fields[name] = { ...field, ids: field.ids.map((id) => (id + 1) % rows) };
    }
    expect(await values(model.forward(moved))).not.toEqual(await values(model.forward(batch)));
    model.eval();
    expect(await values(model.forward(moved))).toEqual(await values(model.forward(batch)));

    // Without the tower, the same seed gives the same serving outputs.
    const without = new MultiTaskModel(layout, { ...base, biasTasks: [] }, 'cpu');
    without.eval();
    expect(await values(without.forward(batch))).toEqual(await values(model.forward(batch)));
  });

  test('bias dropout zeroes whole features of some rows', async () => {
    const model = new MultiTaskModel(layout, { ...base, biasDropout: 0.5, biasDropoutFeatures: ['position'] }, 'cpu');
    const tower = model.biasTower!;
    const batch = firstRows(sim.trainSet, 100);
    const input = tower.input.forward(batch, 'cpu');
    const clean = await values(input);
    const dropped = await values(tower.featureDropout.forward(input));
    const width = tower.input.width;
    const position = tower.input.columns.find((column) => column.name === 'position')!;
    let droppedRows = 0;
    for (let row = 0; row < 100; row++) {
      const slice = (data: number[], start: number, end: number) => data.slice(row * width + start, row * width + end);
      const positionValues = slice(dropped, position.start, position.end);
      if (positionValues.every((value) => value === 0)) droppedRows++;
      else expect(positionValues).toEqual(slice(clean, position.start, position.end));
      const others = [...slice(dropped, 0, position.start), ...slice(dropped, position.end, width)];
      expect(others).toEqual([...slice(clean, 0, position.start), ...slice(clean, position.end, width)]);
    }
    expect(droppedRows).toBeGreaterThan(30);
    expect(droppedRows).toBeLessThan(70);
  });

  test('is rejected without bias features', () => {
    const layout = { ...sim.trainSet.layout, fields: sim.trainSet.layout.fields.filter((field) => field.feeds !== 'bias') };
    expect(new MultiTaskModel(layout, { kind: 'mmoe', seed: 1 }, 'cpu').biasTower).toBeNull();
    expect(() => new MultiTaskModel(layout, { kind: 'mmoe', biasTasks: ['click'], seed: 1 }, 'cpu')).toThrow(/biasTasks \[click\] need bias features/);
  });
});

describe('wide part', () => {
  test('adds its logit to the chosen tasks only', async () => {
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'omoe', experts: 2, wideTasks: ['like'], biasTasks: [], seed: 3 }, 'cpu');
    model.eval();
    const batch = firstRows(sim.trainSet, 10);
    const before = await values(model.forward(batch));
    expect(model.wide!.bias.shape).toEqual([1]);
    sp.assignValues(model.wide!.bias, [2.5]);
    const after = await values(model.forward(batch));
    const tasks = model.taskNames;
    after.forEach((value, i) => expect(value - before[i], `${tasks[i % tasks.length]}`).toBeCloseTo(tasks[i % tasks.length] === 'like' ? 2.5 : 0, 5));
    expect(Object.keys(model.parameterParts().wide)).toEqual(expect.arrayContaining(['wide.bias']));
  });
});

describe('missing labels', () => {
  test('add nothing to loss and gradient', async () => {
    const batch = firstRows(sim.trainSet, 60);
    const rating = sim.trainSet.layout.tasks.findIndex((task) => task.name === 'rating');
    const missing = Array.from(batch.labelMasks.rating).flatMap((mask, row) => (mask === 0 ? [row] : []));
    expect(missing.length).toBeGreaterThan(10);

    // The same batch with arbitrary values under the missing labels.
    const garbage: SparseBatch = { ...batch, labels: { ...batch.labels, rating: batch.labels.rating.map((value, row) => (batch.labelMasks.rating[row] === 0 ? 1e6 + row : value)) } };
    const tasks = batch.layout.tasks.length;
    const raw = Float32Array.from({ length: 60 * tasks }, (_, i) => Math.sin(i * 0.37));

    const run = async (data: SparseBatch) => {
      const outputs = sp.tensor(raw, [60, tasks], { backend: 'cpu' });
      outputs.requiresGrad = true;
      const loss = multiTaskLoss(outputs, data, 'cpu');
      loss.backward();
      return { loss: await loss.item(), grad: await values(outputs.grad!) };
    };
    const clean = await run(batch);
    const noisy = await run(garbage);
    expect(noisy.loss).toBe(clean.loss);
    expect(noisy.grad).toEqual(clean.grad);
    for (const row of missing) expect(clean.grad[row * tasks + rating], `row ${row}`).toBe(0);

    // Float64 reference: per task, the mean over present rows (BCE with logits or squared error).
    let expected = 0;
    batch.layout.tasks.forEach((task, t) => {
      let total = 0;
      let present = 0;
      for (let row = 0; row < 60; row++) {
        if (batch.labelMasks[task.name][row] === 0) continue;
        const x = raw[row * tasks + t];
        const y = batch.labels[task.name][row];
        total += task.type === 'binary' ? Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x))) : (x - y) ** 2;
        present++;
      }
      if (present > 0) expected += total / present;
    });
    expect(Math.abs(clean.loss - expected) / expected).toBeLessThan(1e-5);
  });

  test('leave the model gradient unchanged', async () => {
    const batch = firstRows(sim.trainSet, 60);
    const garbage: SparseBatch = { ...batch, labels: { ...batch.labels, rating: batch.labels.rating.map((value, row) => (batch.labelMasks.rating[row] === 0 ? -777 : value)) } };
    const grads: Record<string, number[]>[] = [];
    for (const data of [batch, garbage]) {
      const model = new MultiTaskModel(data.layout, { kind: 'mmoe', experts: 3, gateDropout: 0, biasDropout: 0, seed: 4 }, 'cpu');
      multiTaskLoss(model.forward(data), data, 'cpu').backward();
      const named: Record<string, number[]> = {};
      for (const [name, parameter] of model.namedParameters()) {
        if (parameter.grad) named[name] = await values(parameter.grad);
      }
      grads.push(named);
    }
    expect(Object.keys(grads[0]).length).toBeGreaterThan(10);
    expect(grads[1]).toEqual(grads[0]);
  });
});

describe('training', () => {
  test('a zero task weight leaves that tower untouched', async () => {
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', experts: 2, taskWeights: { like: 0 }, seed: 5 }, 'cpu');
    expect(model.lossWeights).toEqual([1, 1, 0, 1, 1]);
    const like = model.taskNames.indexOf('like');
    const before = await values(model.towers[like].parameters()[0]);
    const other = await values(model.towers[0].parameters()[0]);
    await train(model, optimizerFor(model, 0.01), sim.trainSet, { epochs: 1, batchSize: 100, seed: 1, backend: 'cpu' });
    expect(await values(model.towers[like].parameters()[0])).toEqual(before);
    expect(await values(model.towers[0].parameters()[0])).not.toEqual(other);
  });

  test('predict squashes binary tasks only', async () => {
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', experts: 2, seed: 5 }, 'cpu');
    const tasks = model.taskNames;
    for (const name of ['watch_time', 'click']) sp.assignValues(model.towers[tasks.indexOf(name)].parameters().at(-1)!, [50]);
    const predictions = await predict(model, firstRows(sim.trainSet, 20), { backend: 'cpu' });
    for (const value of predictions.watch_time) expect(value).toBeGreaterThan(40);
    for (const value of predictions.click) expect(value).toBe(1);
    for (const value of predictions.like) expect(value > 0 && value < 1).toBe(true);
  });

  test('rejects unknown task names', () => {
    expect(() => new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', wideTasks: ['clicks'] }, 'cpu')).toThrow(/wideTasks \[clicks\] are not tasks/);
    expect(() => new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', taskWeights: { likes: 1 } }, 'cpu')).toThrow(/taskWeights \[likes\]/);
  });

  test('shared-bottom matches the MMoE parameter count of the paper setup', () => {
    // Input 100, 8 experts of 16 units, 2 towers of 8 units.
    const size = matchingBottomSize(100, 2, 8, [16], [8]);
    const mmoe = 8 * mlpParameterCount(100, [16]) + 2 * (100 * 8 + 8) + 2 * mlpParameterCount(16, [8, 1]);
    expect(mmoe).toBe(14834);
    // Shared-bottom has 117 b + 34 parameters: b = 126 gives 14776 and b = 127 gives 14893.
    expect(size).toBe(126);
    expect(mlpParameterCount(100, [size]) + 2 * mlpParameterCount(size, [8, 1])).toBe(14776);
  });
});

describe('checkpoints', () => {
  test('save and load reproduce a multi-task model', async () => {
    const backend = sp.getBackend().name;
    const model = new MultiTaskModel(sim.trainSet.layout, { kind: 'mmoe', experts: 3, wideTasks: ['click'], taskWeights: { watch_time: 0.001 }, seed: 12 }, backend);
    const optimizer = optimizerFor(model, 0.01);
    const result = await train(model, optimizer, sim.trainSet, { epochs: 1, batchSize: 100, seed: 1, backend }, sim.trainSet);
    const dir = join(scratch, 'mmoe');
    const score = { kind: 'product' as const, weights: { click: 1, like: 2 } };
    await saveModel(dir, model, sim.state, { optimizer, training: { options: {}, state: result.state }, metrics: result.finalMetrics, score });

    const loaded = loadModel(dir, backend, { optimizer: true });
    expect(loaded.model).toBeInstanceOf(MultiTaskModel);
    expect(loaded.config.model).toEqual({ type: 'multitask', ...model.config });
    expect(loaded.config.score).toEqual(score);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).config.score).toEqual(score);

    const reloaded = loaded.model as MultiTaskModel;
    expect(reloaded.biasTower).not.toBeNull();
    const batch = firstRows(sim.trainSet, 50);
    reloaded.eval();
    model.eval();
    expect(await values(reloaded.forward(batch))).toEqual(await values(model.forward(batch)));
    const metrics = await evaluate(reloaded, sim.trainSet, { backend });
    expect(metrics.click.auc).toBe(result.finalMetrics!.click.auc);
    expect(metrics.rating.mse).toBe(result.finalMetrics!.rating.mse);
  });

  test('resuming gives the weights of an uninterrupted run', async () => {
    const backend = 'cpu';
    const options = { epochs: 3, batchSize: 100, seed: 7, backend } as const;
    const config: MultiTaskConfig = { kind: 'mmoe', experts: 3, gateDropout: 0.2, biasDropout: 0.2, dropout: 0.1, seed: 9 };

    const straight = new MultiTaskModel(sim.trainSet.layout, config, backend);
    await train(straight, optimizerFor(straight, 0.01), sim.trainSet, options);

    const first = new MultiTaskModel(sim.trainSet.layout, config, backend);
    const firstOptimizer = optimizerFor(first, 0.01);
    const partial = await train(first, firstOptimizer, sim.trainSet, { ...options, stopAfterEpochs: 1 });
    expect(partial.state.dropoutCalls.gateDropout).toBeGreaterThan(0);
    expect(partial.state.dropoutCalls['biasTower.featureDropout']).toBeGreaterThan(0);
    const dir = join(scratch, 'resume');
    await saveModel(dir, first, sim.state, { optimizer: firstOptimizer, training: { options: {}, state: partial.state } });

    const loaded = loadModel(dir, backend, { optimizer: true });
    const model = loaded.model as MultiTaskModel;
    const optimizer = optimizerFor(model, 0.01);
    const { tensors: _unused, ...saved } = firstOptimizer.stateDict();
    optimizer.loadStateDict({ ...saved, tensors: Object.fromEntries(Object.entries(loaded.optimizerTensors!).map(([name, t]) => [name, t.data as Float32Array])) });
    await train(model, optimizer, sim.trainSet, { ...options, resume: loaded.config.training!.state });

    const expected = await straight.stateDict();
    const actual = await model.stateDict();
    for (const name of Object.keys(expected)) expect(Array.from(actual[name].data), name).toEqual(Array.from(expected[name].data));
  });
});

describe('mmoe-synthetic', () => {
  test('MMoE ends below shared-bottom at low correlation', async () => {
    // The generator's scale matches Ma et al. (KDD 2018): input 100, 8 experts of 16 units,
    // towers of 8, shared-bottom of matching size, Adam.
    const generator = (offset: number, rows: number) => new MmoeSynthetic({ rows, seed: 11, correlation: 0.3, offset });
    const schema = generator(0, 1).schema();
    const trainSource = generator(0, 2500).source();
    const { state } = await sp.fit(schema, trainSource);
    const trainSet = await sp.encodeAll(trainSource, new sp.Encoder(state, trainSource.columns));
    const testSource = generator(2500, 1000).source();
    const testSet = await sp.encodeAll(testSource, new sp.Encoder(state, testSource.columns));

    const losses: Record<string, number> = {};
    for (const kind of ['mmoe', 'shared-bottom'] as const) {
      const model = new MultiTaskModel(trainSet.layout, { kind, seed: 3 }, 'cpu');
      await train(model, optimizerFor(model, 0.005), trainSet, { epochs: 8, batchSize: 100, seed: 2, backend: 'cpu', schedule: { kind: 'constant' } });
      const metrics = await evaluate(model, testSet, { backend: 'cpu' });
      losses[kind] = metrics.y1.mse! + metrics.y2.mse!;
      model.dispose();
    }
    expect(losses.mmoe, `test MSE sum y1 + y2: ${JSON.stringify(losses)}`).toBeLessThan(losses['shared-bottom']);
  });
});
