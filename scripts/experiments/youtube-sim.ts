// Experiment: MMoE on youtube-sim with and without the bias tower, scored by NDCG of the serving ranking against the planted true relevance.

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import * as sp from '../../src/index.js';
import { predict } from '../../src/train/trainer.js';
import {
  MultiTaskModel,
  adamFor,
  formatSummary,
  log,
  markdownTable,
  parseCount,
  parseNumbers,
  parseSeeds,
  runInfo,
  setupBackend,
  summarize,
  trainByEpoch,
  writeJson,
  type MultiTaskConfig,
} from './common.js';

const USAGE = `usage: node youtube.mjs [options]
  --seeds <n|list>   seeds 1..n or a list; seed s draws the data and initializes the models (default 5)
  --rows <n>         training impressions; the held-out set has a quarter as many (default 20000)
  --epochs <n>       passes over the training impressions (default 2)
  --batch-size <n>   rows per step (default 256)
  --lr <rate>        Adam learning rate (default 0.003)
  --cutoff <k>       NDCG cutoff per user (default 5)
  --backend <name>   cpu or webgpu (default cpu)
  --out <file>       JSON file of every run (default .tmp/exp/youtube-sim.json)`;

/** MMoE with 4 experts. When the bias tower is on, it adds its logit to click only, with 10 % dropout on position. */
const BASE_CONFIG: Omit<MultiTaskConfig, 'seed' | 'biasTasks'> = {
  kind: 'mmoe',
  experts: 4,
  expertHidden: [32],
  towerHidden: [16],
  gateDropout: 0.1,
  wideTasks: [],
  biasDropout: 0.1,
  biasDropoutFeatures: ['position'],
};

const VARIANTS = [
  { name: 'with bias tower', biasTasks: ['click'] },
  { name: 'without bias tower', biasTasks: [] as string[] },
];

interface RunRecord {
  seed: number;
  variant: string;
  ndcg: number;
  ndcgAll: number;
  users: number;
  seconds: number;
}

/** Per held-out row: the user and the planted true relevance, read from the generator's columns. */
async function readTruth(source: sp.RowSource): Promise<{ users: string[]; relevance: Float64Array }> {
  const userColumn = source.columns.indexOf('user');
  const relevanceColumn = source.columns.indexOf('true_relevance');
  const users: string[] = [];
  const relevance: number[] = [];
  for await (const row of source.rows(new sp.BadRows(false))) {
    users.push(String(row.values[userColumn]));
    relevance.push(Number(row.values[relevanceColumn]));
  }
  return { users, relevance: Float64Array.from(relevance) };
}

/**
 * Mean over users of NDCG@k: each user's held-out impressions ranked by `scores` (ties broken
 * by row order), gain = true relevance (linear), discount 1 / log2(rank + 1), normalized by
 * the DCG of the ranking by true relevance. Users with fewer than two impressions are skipped,
 * because any order of one item is ideal. `k` = Infinity ranks all of a user's impressions.
 */
export function meanNdcg(users: string[], scores: ArrayLike<number>, relevance: ArrayLike<number>, k: number): { ndcg: number; users: number } {
  const rowsByUser = new Map<string, number[]>();
  users.forEach((user, row) => rowsByUser.set(user, [...(rowsByUser.get(user) ?? []), row]));

  const dcg = (order: number[]) => order.slice(0, k).reduce((total, row, rank) => total + relevance[row] / Math.log2(rank + 2), 0);
  let total = 0;
  let counted = 0;
  for (const rows of rowsByUser.values()) {
    if (rows.length < 2) continue;
    const byScore = [...rows].sort((a, b) => scores[b] - scores[a] || a - b);
    const ideal = [...rows].sort((a, b) => relevance[b] - relevance[a] || a - b);
    total += dcg(byScore) / dcg(ideal);
    counted++;
  }
  return { ndcg: total / counted, users: counted };
}

/** Loss weight 1 for binary tasks and 1 / variance of the label for numeric ones, so watch time in seconds does not swamp the loss. */
function taskWeights(data: sp.SparseBatch): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const task of data.layout.tasks) {
    if (task.type === 'binary') {
      weights[task.name] = 1;
      continue;
    }
    const labels = data.labels[task.name];
    const mask = data.labelMasks[task.name];
    const present = Array.from(labels).filter((_, row) => mask[row] !== 0);
    const variance = summarize(present).std ** 2;
    weights[task.name] = variance > 0 ? 1 / variance : 1;
  }
  return weights;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '5' },
      rows: { type: 'string', default: '20000' },
      epochs: { type: 'string', default: '2' },
      'batch-size': { type: 'string', default: '256' },
      lr: { type: 'string', default: '0.003' },
      cutoff: { type: 'string', default: '5' },
      backend: { type: 'string', default: 'cpu' },
      out: { type: 'string', default: '.tmp/exp/youtube-sim.json' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const seeds = parseSeeds(values.seeds);
  const rows = parseCount(values.rows, '--rows');
  const epochs = parseCount(values.epochs, '--epochs');
  const batchSize = parseCount(values['batch-size'], '--batch-size');
  const lr = parseNumbers(values.lr, '--lr')[0];
  const cutoff = parseCount(values.cutoff, '--cutoff');
  const { backend, adapter } = await setupBackend(values.backend);
  const info = runInfo(backend, adapter);
  const testRows = Math.round(rows / 4);
  const settings = { seeds, rows, testRows, epochs, batchSize, lr, cutoff, model: BASE_CONFIG, variants: VARIANTS };
  log(`youtube-sim: ${seeds.length} seeds x ${VARIANTS.length} variants, ${rows} training and ${testRows} held-out impressions, ${epochs} epochs, batch ${batchSize}, Adam lr ${lr}; ${adapter}`);

  const started = performance.now();
  const runs: RunRecord[] = [];
  const baselines: { seed: number; random: number; oracle: number }[] = [];
  for (const seed of seeds) {
    const trainSource = new sp.YoutubeSim({ rows, seed }).source();
    const testSource = new sp.YoutubeSim({ rows: testRows, seed, offset: rows }).source();
    const { state } = await sp.fit(sp.youtubeSimSchema, trainSource);
    const trainSet = await sp.encodeAll(trainSource, new sp.Encoder(state, trainSource.columns));
    const testSet = await sp.encodeAll(testSource, new sp.Encoder(state, testSource.columns));
    const truth = await readTruth(testSource);
    const weights = taskWeights(trainSet);
    const weightList = trainSet.layout.tasks.map((task) => weights[task.name]);

    const random = new sp.SeededRandom(seed, 1);
    const randomScores = Float64Array.from(truth.relevance, () => random.next());
    baselines.push({ seed, random: meanNdcg(truth.users, randomScores, truth.relevance, cutoff).ndcg, oracle: 1 });

    for (const variant of VARIANTS) {
      const model = new MultiTaskModel(trainSet.layout, { ...BASE_CONFIG, biasTasks: variant.biasTasks, taskWeights: weights, seed }, backend);
      const optimizer = adamFor(model, lr);
      const seconds = await trainByEpoch(model, optimizer, trainSet, { epochs, batchSize, seed, backend, taskWeights: weightList }, async () => {});

      // predict() runs the model in evaluation mode, which leaves the bias tower out: the serving score.
      const scores = (await predict(model, testSet, { backend })).click;
      const atCutoff = meanNdcg(truth.users, scores, truth.relevance, cutoff);
      const all = meanNdcg(truth.users, scores, truth.relevance, Infinity);
      runs.push({ seed, variant: variant.name, ndcg: atCutoff.ndcg, ndcgAll: all.ndcg, users: atCutoff.users, seconds });
      model.dispose();
      log(`seed ${seed} ${variant.name}: NDCG@${cutoff} ${atCutoff.ndcg.toFixed(4)}, NDCG ${all.ndcg.toFixed(4)} over ${atCutoff.users} users, ${seconds.toFixed(1)} s`);
      writeJson(values.out, { info, settings, seconds: (performance.now() - started) / 1000, complete: false, runs, baselines });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  writeJson(values.out, { info, settings, seconds, complete: true, runs, baselines });
  process.stdout.write(`${report(runs, baselines, seeds, cutoff)}\n\n${seconds.toFixed(0)} s in all; every run is in ${values.out}\n`);
}

function report(runs: RunRecord[], baselines: { random: number }[], seeds: number[], cutoff: number): string {
  const rows = VARIANTS.map((variant) => {
    const selected = runs.filter((run) => run.variant === variant.name);
    return [
      variant.name,
      formatSummary(summarize(selected.map((run) => run.ndcg)), 4),
      formatSummary(summarize(selected.map((run) => run.ndcgAll)), 4),
      selected.map((run) => run.ndcg.toFixed(4)).join(', '),
    ];
  });
  rows.push(['random order (reference)', formatSummary(summarize(baselines.map((baseline) => baseline.random)), 4), '', '']);
  const table = markdownTable(['model', `NDCG@${cutoff}`, 'NDCG (all of a user\'s rows)', `NDCG@${cutoff} per seed`], rows);

  let wins = 0;
  for (const seed of seeds) {
    const withTower = runs.find((run) => run.seed === seed && run.variant === VARIANTS[0].name);
    const without = runs.find((run) => run.seed === seed && run.variant === VARIANTS[1].name);
    if (withTower && without && withTower.ndcg > without.ndcg) wins++;
  }
  return `${table}\n\nwith the bias tower above without it (NDCG@${cutoff}) in ${wins} of ${seeds.length} seeds`;
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 1;
}
