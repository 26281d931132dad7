// Experiment: MMoE, OMoE and shared-bottom on mmoe-synthetic at several task correlations (after Ma et al., KDD 2018).

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

const USAGE = `usage: node mmoe.mjs [options]
  --correlations <list>  task correlations p (default 0.5,0.9,1.0)
  --seeds <n|list>       seeds 1..n or a list; seed s draws the data and initializes the models (default 10)
  --models <list>        mmoe, shared-bottom, omoe (default mmoe,shared-bottom,omoe)
  --rows <n>             training rows per run; the test set has a quarter as many (default 12000)
  --epochs <n>           passes over the training rows (default 3)
  --batch-size <n>       rows per step (default 128)
  --lr <rate>            Adam learning rate (default 0.01)
  --backend <name>       cpu or webgpu (default cpu)
  --out <file>           JSON file of every run (default .tmp/exp/mmoe-synthetic.json)
  --report <files>       print the table of JSON files written by --out (comma-separated, runs merged), without training`;

/** The synthetic-data models of Ma et al. (KDD 2018): 8 experts of one 16-unit layer, towers of one 8-unit layer, input dimension 100. */
const EXPERT_CONFIG: Omit<MultiTaskConfig, 'kind' | 'seed'> = { experts: 8, expertHidden: [16], towerHidden: [8], gateDropout: 0, wideTasks: [], biasTasks: [] };

interface RunRecord {
  correlation: number;
  seed: number;
  model: ModelKind;
  parameters: number;
  /** Hidden sizes of shared-bottom's bottom MLP; [] for the expert models. */
  bottomHidden: number[];
  /** Test MSE per task. */
  mse: { y1: number; y2: number };
  /** Mean of the batch losses (sum of the two task MSEs) that the trainer read back in the last epoch. */
  trainLoss: number;
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      correlations: { type: 'string', default: '0.5,0.9,1.0' },
      seeds: { type: 'string', default: '10' },
      models: { type: 'string', default: 'mmoe,shared-bottom,omoe' },
      rows: { type: 'string', default: '12000' },
      epochs: { type: 'string', default: '3' },
      'batch-size': { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.01' },
      backend: { type: 'string', default: 'cpu' },
      out: { type: 'string', default: '.tmp/exp/mmoe-synthetic.json' },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.report !== undefined) {
    const saved = values.report.split(',').map((path) => JSON.parse(readFileSync(path.trim(), 'utf8')) as { settings: { correlations: number[]; models: ModelKind[]; seeds: number[] }; runs: RunRecord[] });
    const correlations = [...new Set(saved.flatMap((file) => file.settings.correlations))].sort((a, b) => a - b);
    const models = [...new Set(saved.flatMap((file) => file.settings.models))];
    const seeds = [...new Set(saved.flatMap((file) => file.settings.seeds))];
    process.stdout.write(`${report(saved.flatMap((file) => file.runs), correlations, models, seeds)}\n`);
    return;
  }
  const correlations = parseNumbers(values.correlations, '--correlations');
  const seeds = parseSeeds(values.seeds);
  const models = parseModels(values.models);
  const rows = parseCount(values.rows, '--rows');
  const epochs = parseCount(values.epochs, '--epochs');
  const batchSize = parseCount(values['batch-size'], '--batch-size');
  const lr = parseNumbers(values.lr, '--lr')[0];
  const { backend, adapter } = await setupBackend(values.backend);
  const info = runInfo(backend, adapter);
  const testRows = Math.round(rows / 4);
  log(`mmoe-synthetic: ${correlations.length} correlations x ${seeds.length} seeds x [${models}], ${rows} training and ${testRows} test rows, ${epochs} epochs, batch ${batchSize}, Adam lr ${lr}; ${adapter}`);

  const settings = { correlations, seeds, models, rows, testRows, epochs, batchSize, lr, experts: EXPERT_CONFIG };
  const started = performance.now();
  const runs: RunRecord[] = [];
  for (const correlation of correlations) {
    for (const seed of seeds) {
      // Seed s gives the same data to every model, so the models can be compared run by run.
      const generator = new sp.MmoeSynthetic({ rows, seed, correlation });
      const testGenerator = new sp.MmoeSynthetic({ rows: testRows, seed, correlation, offset: rows });
      const schema = generator.schema();
      const trainSource = generator.source();
      const { state } = await sp.fit(schema, trainSource);
      const trainSet = await sp.encodeAll(trainSource, new sp.Encoder(state, trainSource.columns));
      const testSource = testGenerator.source();
      const testSet = await sp.encodeAll(testSource, new sp.Encoder(state, testSource.columns));

      for (const kind of models) {
        // shared-bottom's default bottom is one layer sized to match MMoE's dense parameter count.
        const config: MultiTaskConfig = { ...EXPERT_CONFIG, kind, seed };
        const model = new MultiTaskModel(trainSet.layout, config, backend);
        const optimizer = adamFor(model, lr);
        let trainLoss = NaN;
        const seconds = await trainByEpoch(model, optimizer, trainSet, { epochs, batchSize, seed, backend }, async (_epoch, loss) => {
          trainLoss = loss;
        });
        const metrics = await evaluate(model, testSet, { backend });
        const record: RunRecord = {
          correlation,
          seed,
          model: kind,
          parameters: countParameters(model),
            bottomHidden: model.config.bottomHidden,
          mse: { y1: metricOf(metrics, 'y1', 'mse'), y2: metricOf(metrics, 'y2', 'mse') },
          trainLoss,
          seconds,
        };
        runs.push(record);
        model.dispose();
        // Written after every run, so a stopped grid keeps the runs that finished.
        writeJson(values.out, { info, settings, seconds: (performance.now() - started) / 1000, complete: false, runs });
        log(`p ${correlation} seed ${seed} ${kind}: test mse y1 ${record.mse.y1.toFixed(4)} y2 ${record.mse.y2.toFixed(4)}, train loss ${trainLoss.toFixed(4)}, ${seconds.toFixed(1)} s`);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  writeJson(values.out, { info, settings, seconds, complete: true, runs });
  process.stdout.write(`${report(runs, correlations, models, seeds)}\n\n${seconds.toFixed(0)} s in all; every run is in ${values.out}\n`);
}

/** Builds the table of test MSE per model and correlation, and counts the seeds where MMoE beat shared-bottom. */
function report(runs: RunRecord[], correlations: number[], models: ModelKind[], seeds: number[]): string {
  const rows: string[][] = [];
  for (const kind of models) {
    for (const correlation of correlations) {
      const selected = runs.filter((run) => run.model === kind && run.correlation === correlation);
      if (selected.length === 0) continue;
      rows.push([
        kind,
        String(correlation),
        String(selected[0].parameters),
        formatSummary(summarize(selected.map((run) => run.mse.y1)), 3),
        formatSummary(summarize(selected.map((run) => run.mse.y2)), 3),
        formatSummary(summarize(selected.map((run) => (run.mse.y1 + run.mse.y2) / 2)), 3),
        formatSummary(summarize(selected.map((run) => run.trainLoss / 2)), 3),
      ]);
    }
  }
  const table = markdownTable(['model', 'p', 'parameters', 'test MSE y1', 'test MSE y2', 'test MSE, mean of both', 'training MSE per task, last epoch'], rows);

  const lines: string[] = [];
  if (models.includes('mmoe') && models.includes('shared-bottom')) {
    for (const correlation of correlations) {
      let wins = 0;
      for (const seed of seeds) {
        const mmoe = runs.find((run) => run.model === 'mmoe' && run.correlation === correlation && run.seed === seed);
        const bottom = runs.find((run) => run.model === 'shared-bottom' && run.correlation === correlation && run.seed === seed);
        if (mmoe && bottom && mmoe.mse.y1 + mmoe.mse.y2 < bottom.mse.y1 + bottom.mse.y2) wins++;
      }
      lines.push(`- p ${correlation}: MMoE below shared-bottom (sum of both test MSEs) in ${wins} of ${seeds.length} seeds`);
    }
  }
  return [table, '', ...lines].join('\n');
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 1;
}
