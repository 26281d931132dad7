// Expert pre-training: parallel and serial runs give the same experts, frozen experts stay unchanged, and `sparrow train --pretrain-experts` reports both wall times.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { BadRows } from '../../src/data/csv.js';
import { YoutubeSim } from '../../src/data/synthetic/youtube-sim.js';
import { loadModel } from '../../src/models/checkpoint.js';
import { MultiTaskModel, type MultiTaskConfig } from '../../src/models/multitask.js';
import type { Module } from '../../src/nn/module.js';
import { freezeExperts, pretrainExperts, type PretrainMode, type PretrainOptions } from '../../src/train/pretrain-experts.js';
import { train } from '../../src/train/trainer.js';
import { testBackends } from '../../src/testing/index.js';
import { buildCli, lastJson, repositoryRoot, sparrow } from '../helpers/cli.js';

const backends = await testBackends();
const scratch = mkdtempSync(join(tmpdir(), 'sparrow-pretrain-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The worker threads run the bundled worker script, so dist/ must hold the current sources.
beforeAll(async () => {
  await buildCli();
});
const workerUrl = pathToFileURL(join(repositoryRoot, 'dist', 'pretrain-worker.js'));

/** youtube-sim rows: five tasks (binary and numeric), bias fields, and a missing rating without a click. */
const opened = sp.openData({ preset: 'youtube-sim', rows: 300, seed: 6 });
const { state } = await sp.fit(opened.schema, opened.train);
const data = await sp.encodeAll(opened.train, new sp.Encoder(state, opened.train.columns));

const config: MultiTaskConfig = { kind: 'mmoe', experts: 3, expertHidden: [8], towerHidden: [4], seed: 4 };

function options(mode: PretrainMode, extra: Partial<PretrainOptions> = {}): PretrainOptions {
  return { epochs: 2, batchSize: 64, seed: 9, head: 'task', optimizer: { kind: 'adam' }, lr: 0.01, mode, workerUrl, ...extra };
}

/** Host copies of a module's parameters by name. */
async function weightsOf(module: Module): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, tensor] of module.namedParameters()) out[name] = (await tensor.data()) as Float32Array;
  return out;
}

/** Names of the parameters whose bits differ between two snapshots of one module. */
function changed(before: Record<string, Float32Array>, after: Record<string, Float32Array>): string[] {
  return Object.keys(before).filter((name) => !Buffer.from(before[name].buffer).equals(Buffer.from(after[name].buffer)));
}

async function expertWeights(model: MultiTaskModel): Promise<Record<string, Float32Array>[]> {
  return Promise.all(model.experts.map((expert) => weightsOf(expert)));
}

describe('pretrainExperts', () => {
  for (const backend of backends) {
    test(`parallel pre-training gives the serial run's experts bit for bit on ${backend}`, async () => {
      const parallelModel = new MultiTaskModel(data.layout, config, backend);
      const serialModel = new MultiTaskModel(data.layout, config, backend);
      const initial = await expertWeights(parallelModel);
      const gatesAndTowers = await weightsOf(parallelModel);

      // Two workers for three experts: one worker trains two of them in a row.
      const parallel = await pretrainExperts(parallelModel, data, options('parallel', { workers: 2 }));
      const serial = await pretrainExperts(serialModel, data, options('serial'));
      expect(parallel.workers).toBe(2);
      expect(parallel.parallelSeconds).toBeGreaterThan(0);
      expect(parallel.serialSeconds).toBeNull();
      expect(serial.workers).toBeNull();
      expect(serial.serialSeconds).toBeGreaterThan(0);
      // Expert k's temporary head is task k mod 5.
      expect(parallel.perExpert.map((expert) => expert.tasks)).toEqual([['click'], ['watch_time'], ['like']]);
      expect(parallel.perExpert.map((expert) => expert.loss)).toEqual(serial.perExpert.map((expert) => expert.loss));

      const parallelExperts = await expertWeights(parallelModel);
      const serialExperts = await expertWeights(serialModel);
      for (let k = 0; k < 3; k++) {
        expect(changed(initial[k], parallelExperts[k]), `expert ${k} trained`).toEqual(Object.keys(initial[k]));
        expect(changed(parallelExperts[k], serialExperts[k]), `expert ${k}: parallel against serial`).toEqual([]);
      }
      // Only the experts changed: gates, towers, embeddings and the bias tower are as initialized.
      const after = await weightsOf(parallelModel);
      expect(changed(gatesAndTowers, after).every((name) => /^expert\d+\./.test(name))).toBe(true);
      parallelModel.dispose();
      serialModel.dispose();
    });

    test(`frozen experts stay unchanged while the rest fine-tunes on ${backend}`, async () => {
      const model = new MultiTaskModel(data.layout, config, backend);
      await pretrainExperts(model, data, options('serial', { epochs: 1 }));
      freezeExperts(model);
      const before = await weightsOf(model);
      const optimizer = new sp.Optimizer([{ name: 'deep', params: model.parameterParts().deep, optimizer: { kind: 'adam' }, lr: 0.001 }]);
      await train(model, optimizer, data, { epochs: 1, batchSize: 64, seed: 2, backend });

      const moved = changed(before, await weightsOf(model));
      expect(moved.filter((name) => name.startsWith('expert'))).toEqual([]);
      for (const part of ['gate0.', 'tower0.', 'input.']) expect(moved.some((name) => name.startsWith(part)), `${part} trained`).toBe(true);
      optimizer.dispose();
      model.dispose();
    });
  }

  test('both mode with the all head', async () => {
    const model = new MultiTaskModel(data.layout, config, 'cpu');
    const report = await pretrainExperts(model, data, options('both', { head: 'all', workers: 3, epochs: 1 }));
    expect(report.sameAsSerial).toBe(true);
    expect(report.workers).toBe(3);
    expect(report.parallelSeconds).toBeGreaterThan(0);
    expect(report.serialSeconds).toBeGreaterThan(0);
    for (const expert of report.perExpert) expect(expert.tasks).toEqual(model.taskNames);

    const taskHead = new MultiTaskModel(data.layout, config, 'cpu');
    await pretrainExperts(taskHead, data, options('serial', { epochs: 1 }));
    const [all, task] = [await expertWeights(model), await expertWeights(taskHead)];
    expect(changed(all[0], task[0])).toEqual(Object.keys(all[0]));
    model.dispose();
    taskHead.dispose();
  });

  test('model without experts rejected', async () => {
    const model = new MultiTaskModel(data.layout, { ...config, kind: 'shared-bottom' }, 'cpu');
    await expect(pretrainExperts(model, data, options('serial'))).rejects.toThrow('pretrain: model kind "shared-bottom" has no experts; expert pre-training needs an mmoe or omoe model');
    model.dispose();
  });

  test('bad options and failing workers', async () => {
    const model = new MultiTaskModel(data.layout, config, 'cpu');
    const before = await expertWeights(model);
    await expect(pretrainExperts(model, data, options('parallel', { workers: 0 }))).rejects.toThrow('pretrain: workers 0 must be a positive integer');
    await expect(pretrainExperts(model, data, options('parallel', { lr: -1 }))).rejects.toThrow(/lr/);
    const missing = pathToFileURL(join(scratch, 'no-such-worker.js'));
    await expect(pretrainExperts(model, data, options('parallel', { workerUrl: missing }))).rejects.toThrow(/worker script not found at .*no-such-worker\.js; .*node scripts\/build\.mjs/);

    const broken = join(scratch, 'broken-worker.mjs');
    writeFileSync(broken, "throw new Error('broken on purpose');\n");
    await expect(pretrainExperts(model, data, options('parallel', { workerUrl: pathToFileURL(broken), workers: 2 }))).rejects.toThrow(/worker thread \d failed: broken on purpose/);
    // A failed run leaves the experts as they were.
    const after = await expertWeights(model);
    for (let k = 0; k < 3; k++) expect(changed(before[k], after[k])).toEqual([]);
    model.dispose();
  });
});

describe('sparrow train --pretrain-experts', () => {
  const trainFile = join(scratch, 'youtube-train.csv');
  const modelDir = join(scratch, 'model');

  beforeAll(async () => {
    const source = new YoutubeSim({ rows: 400, seed: 5 }).source();
    const lines = [source.columns.join(',')];
    // Generated values contain no commas or quotes, so they need no quoting.
    for await (const row of source.rows(new BadRows(false))) lines.push(row.values.map(String).join(','));
    writeFileSync(trainFile, `${lines.join('\n')}\n`);
  });

  const base = ['train', '--preset', 'youtube-sim', '--data', trainFile, '--experts', '3', '--expert-hidden', '8', '--tower-hidden', '4', '--batch-size', '64', '--epochs', '1'];

  test('json reports both wall times', async () => {
    const result = await sparrow([...base, '--model', 'mmoe', '--pretrain-experts', '--pretrain-compare-serial', '--pretrain-workers', '2', '--freeze-experts', '--schedule', 'constant', '--out', modelDir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const pretrain = lastJson(result.stdout).pretrain;
    expect(pretrain.experts).toBe(3);
    expect(pretrain.workers).toBe(2);
    expect(pretrain.epochs).toBe(1);
    expect(pretrain.head).toBe('task');
    expect(pretrain.parallelSeconds).toBeGreaterThan(0);
    expect(pretrain.serialSeconds).toBeGreaterThan(0);
    expect(pretrain.sameAsSerial).toBe(true);
    expect(pretrain.finetuneLrScale).toBe(0.1);
    expect(pretrain.finetuneLrScope).toBe('experts');
    expect(pretrain.frozenExperts).toBe(true);
    expect(pretrain.perExpert.map((expert: { tasks: string[] }) => expert.tasks)).toEqual([['click'], ['watch_time'], ['like']]);
    expect(result.stderr).toMatch(/pre-trained 3 experts \(head task, 1 epoch\): [\d.]+ s on 2 worker threads against [\d.]+ s one after another in this process/);

    const saved = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
    expect(saved.config.training.options.freezeExperts).toBe(true);
    expect(saved.config.training.options.finetuneLrScale).toBe(0.1);
    // The experts fine-tune at 0.1 times --deep-lr, everything else at --deep-lr (constant schedule).
    const groups: { name: string; lr: number }[] = saved.config.training.optimizer.groups;
    expect(groups.map((group) => group.name)).toEqual(['deep', 'experts']);
    expect(groups[0].lr).toBeCloseTo(0.001, 12);
    expect(groups[1].lr).toBeCloseTo(0.0001, 12);
  });

  test('a resumed run keeps the experts frozen', async () => {
    const resumedDir = join(scratch, 'resumed');
    const result = await sparrow([...base.slice(0, -1), '2', '--model', 'mmoe', '--resume', modelDir, '--out', resumedDir, '--schedule', 'constant', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const first = await weightsOf(loadModel(modelDir, 'cpu').model);
    const second = await weightsOf(loadModel(resumedDir, 'cpu').model);
    const moved = changed(first, second);
    expect(moved.filter((name) => name.startsWith('expert'))).toEqual([]);
    expect(moved.some((name) => name.startsWith('gate0.'))).toBe(true);
    expect(JSON.parse(readFileSync(join(resumedDir, 'config.json'), 'utf8')).config.training.options.freezeExperts).toBe(true);
  });

  test('parallel run timed alone', async () => {
    const result = await sparrow([...base, '--model', 'omoe', '--pretrain-experts', '--pretrain-head', 'all', '--pretrain-workers', '2', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const pretrain = lastJson(result.stdout).pretrain;
    expect(pretrain.parallelSeconds).toBeGreaterThan(0);
    expect(pretrain.serialSeconds).toBeNull();
    expect(pretrain.sameAsSerial).toBeNull();
    expect(pretrain.frozenExperts).toBe(false);
  });

  test('invalid option combinations rejected', async () => {
    // Without the expert options of `base`, which models without experts reject first.
    const plain = ['train', '--preset', 'youtube-sim', '--data', trainFile, '--batch-size', '64', '--epochs', '1'];
    const wideDeep = await sparrow([...plain, '--model', 'wide-deep', '--pretrain-experts']);
    expect(wideDeep.code).not.toBe(0);
    expect(wideDeep.stderr).toContain('--pretrain-experts: model "wide-deep" has no experts; use --model mmoe or --model omoe');

    const sharedBottom = await sparrow([...plain, '--model', 'shared-bottom', '--pretrain-experts']);
    expect(sharedBottom.stderr).toContain('--pretrain-experts: model "shared-bottom" has no experts');

    const alone = await sparrow([...base, '--model', 'mmoe', '--freeze-experts']);
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toContain('--freeze-experts: only applies with --pretrain-experts');

    const both = await sparrow([...base, '--model', 'mmoe', '--pretrain-experts', '--pretrain-serial', '--pretrain-compare-serial']);
    expect(both.stderr).toContain('--pretrain-serial: cannot be combined with --pretrain-compare-serial');
  });
});
