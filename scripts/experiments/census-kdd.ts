// Experiment: MMoE, shared-bottom and OMoE on census-kdd (income, never_married), epochs chosen on validation, AUC on test.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import * as sp from '../../src/index.js';
import { evaluate } from '../../src/train/trainer.js';
import {
  MultiTaskModel,
  adamFor,
  countParameters,
  formatSummary,
  log,
  markdownTable,
  metricOf,
  parseCount,
  parseModels,
  parseNumbers,
  parseSeeds,
  runInfo,
  setupBackend,
  summarize,
  trainByEpoch,
  writeJson,
  type ModelKind,
  type MultiTaskConfig,
} from './common.js';

const USAGE = `usage: node census.mjs [options]
  --seeds <n|list>        seeds 1..n or a list; seed s draws the 50/25/25 split and initializes the models (default 5)
  --models <list>         mmoe, shared-bottom, omoe (default mmoe,shared-bottom,omoe)
  --epochs <n>            maximum passes over the training part; the reported epoch is chosen on validation (default 1)
  --batch-size <n>        rows per step (default 256)
  --lr <rate>             Adam learning rate (default 0.003)
  --experts <n>           experts of MMoE and OMoE (default 8)
  --expert-hidden <list>  hidden sizes of each expert (default 16)
  --tower-hidden <list>   hidden sizes of each task tower (default 8)
  --backend <name>        cpu or webgpu (default cpu)
  --out <file>            JSON file of every run and epoch (default .tmp/exp/census-kdd.json)
  --report <files>        print the table of JSON files written by --out (comma-separated, runs merged), without training`;

const TASKS = ['income', 'never_married'] as const;

interface EpochRecord {
  epoch: number;
  trainLoss: number;
  validation: Record<string, number>;
  test: Record<string, number>;
}

interface RunRecord {
  seed: number;
  model: ModelKind;
  parameters: number;
  /** Hidden sizes of shared-bottom's bottom MLP; [] for the expert models. */
  bottomHidden: number[];
  epochs: EpochRecord[];
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '5' },
      models: { type: 'string', default: 'mmoe,shared-bottom,omoe' },
      epochs: { type: 'string', default: '1' },
      'batch-size': { type: 'string', default: '256' },
      lr: { type: 'string', default: '0.003' },
      experts: { type: 'string', default: '8' },
      'expert-hidden': { type: 'string', default: '16' },
      'tower-hidden': { type: 'string', default: '8' },
      backend: { type: 'string', default: 'cpu' },
      out: { type: 'string', default: '.tmp/exp/census-kdd.json' },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.report !== undefined) {
    const saved = values.report.split(',').map((path) => JSON.parse(readFileSync(path.trim(), 'utf8')) as { settings: { models: ModelKind[]; epochs: number }; runs: RunRecord[] });
    const models = [...new Set(saved.flatMap((file) => file.settings.models))];
    const epochs = Math.min(...saved.map((file) => file.settings.epochs));
    process.stdout.write(`${report(saved.flatMap((file) => file.runs), models, epochs)}\n`);
    return;
  }
  const seeds = parseSeeds(values.seeds);
  const models = parseModels(values.models);
  const epochs = parseCount(values.epochs, '--epochs');
  const batchSize = parseCount(values['batch-size'], '--batch-size');
  const lr = parseNumbers(values.lr, '--lr')[0];
  const base: Omit<MultiTaskConfig, 'kind' | 'seed'> = {
    experts: parseCount(values.experts, '--experts'),
    expertHidden: parseNumbers(values['expert-hidden'], '--expert-hidden'),
    towerHidden: parseNumbers(values['tower-hidden'], '--tower-hidden'),
    gateDropout: 0,
    wideTasks: [],
    biasTasks: [],
  };
  const { backend, adapter } = await setupBackend(values.backend);
  const info = runInfo(backend, adapter);
  log(`census-kdd: ${seeds.length} seeds x [${models}], up to ${epochs} epochs, batch ${batchSize}, Adam lr ${lr}, ${JSON.stringify(base)}; ${adapter}`);

  const sizes: Record<number, { train: number; validation: number; test: number }> = {};
  const settings = { seeds, models, epochs, batchSize, lr, model: base, split: '0.5,0.25,0.25', sizes };
  const started = performance.now();
  const runs: RunRecord[] = [];
  for (const seed of seeds) {
    const prepStarted = performance.now();
    const opened = sp.openData({ preset: 'census-kdd', split: '0.5,0.25,0.25', seed });
    const { state } = await sp.fit(opened.schema, opened.train);
    const encode = (source: sp.RowSource) => sp.encodeAll(source, new sp.Encoder(state, source.columns));
    const trainSet = await encode(opened.train);
    const validationSet = await encode(opened.validation!);
    const testSet = await encode(opened.test!);
    sizes[seed] = { train: trainSet.size, validation: validationSet.size, test: testSet.size };
    log(`seed ${seed}: ${trainSet.size} / ${validationSet.size} / ${testSet.size} rows, prepared in ${((performance.now() - prepStarted) / 1000).toFixed(1)} s`);

    for (const kind of models) {
      // shared-bottom's default bottom is one layer sized to match MMoE's dense parameter count.
      const config: MultiTaskConfig = { ...base, kind, seed };

      const model = new MultiTaskModel(trainSet.layout, config, backend);
      const optimizer = adamFor(model, lr);
      const record: RunRecord = { seed, model: kind, parameters: countParameters(model), bottomHidden: model.config.bottomHidden, epochs: [], seconds: 0 };
      record.seconds = await trainByEpoch(model, optimizer, trainSet, { epochs, batchSize, seed, backend }, async (epoch, trainLoss) => {
        const validation = await evaluate(model, validationSet, { backend });
        const test = await evaluate(model, testSet, { backend });
        const aucs = (metrics: typeof validation) => Object.fromEntries(TASKS.map((task) => [task, metricOf(metrics, task, 'auc')]));
        record.epochs.push({ epoch, trainLoss, validation: aucs(validation), test: aucs(test) });
        log(`seed ${seed} ${kind} epoch ${epoch}: loss ${trainLoss.toFixed(4)}, validation AUC ${TASKS.map((task) => aucs(validation)[task].toFixed(4)).join(' / ')}`);
      });
      runs.push(record);
      model.dispose();
      // Written after every run, so a stopped experiment keeps the runs that finished.
      writeJson(values.out, { info, settings, seconds: (performance.now() - started) / 1000, complete: false, runs });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  writeJson(values.out, { info, settings, seconds, complete: true, runs });
  process.stdout.write(`${report(runs, models, epochs)}\n\n${seconds.toFixed(0)} s in all; every run and epoch is in ${values.out}\n`);
}

/** Mean over a model's runs of the mean validation AUC of both tasks after each epoch; the best epoch is the one reported. */
function chooseEpoch(runs: RunRecord[], epochs: number): { epoch: number; validation: number } {
  let best = { epoch: 1, validation: -Infinity };
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const scores = runs.map((run) => {
      const record = run.epochs[epoch - 1];
      return TASKS.reduce((total, task) => total + record.validation[task], 0) / TASKS.length;
    });
    const validation = summarize(scores).mean;
    if (validation > best.validation) best = { epoch, validation };
  }
  return best;
}

/** Builds the table of test AUC per model at its validation-chosen epoch. */
function report(runs: RunRecord[], models: ModelKind[], epochs: number): string {
  const rows: string[][] = [];
  for (const kind of models) {
    const selected = runs.filter((run) => run.model === kind);
    if (selected.length === 0) continue;
    const chosen = chooseEpoch(selected, epochs);
    const testAt = (task: string) => selected.map((run) => run.epochs[chosen.epoch - 1].test[task]);
    rows.push([
      kind,
      String(selected[0].parameters),
      String(selected.length),
      String(chosen.epoch),
      chosen.validation.toFixed(4),
      formatSummary(summarize(testAt('income')), 4),
      formatSummary(summarize(testAt('never_married')), 4),
      selected.map((run) => `${run.epochs[chosen.epoch - 1].test.income.toFixed(4)}/${run.epochs[chosen.epoch - 1].test.never_married.toFixed(4)}`).join(', '),
    ]);
  }
  return markdownTable(['model', 'parameters', 'seeds', 'epochs (chosen on validation)', 'validation AUC, mean of both tasks', 'test AUC income', 'test AUC never_married', 'per seed (income/never_married)'], rows);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 1;
}
