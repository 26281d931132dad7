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
  --seeds <n|list>       seeds 1..n or a list; seed s draws the data and initializes the models (default 5)
  --rows <n>             training impressions; the held-out set has a quarter as many (default 20000)
  --epochs <n>           passes over the training impressions; the held-out set is scored after each (default 2)
  --batch-size <n>       rows per step (default 256)
  --lr <rate>            Adam learning rate (default 0.01)
  --cutoff <k>           NDCG cutoff per request (default 5)
  --backend <name>       cpu or webgpu (default cpu)
  --out <file>           JSON file of every run (default .tmp/exp/youtube-sim.json)
Generator options (default: the generator's own default, in parentheses):
  --users <n>            users (500)
  --items <n>            items (200)
  --base-logit=<c>       constant of the relevance logit (-0.5); write negative values with "="
  --quality-sd <sd>      spread of item quality (1)
  --promoted-share <p>   share of items the logging policy promotes (0.3)
  --promotion-boost <b>  logit added to a promoted item's logging score (6)
  --policy-noise <sd>    error of the logging policy on the relevance logit (2)
  --policy-affinity <w>  weight of the user-item affinity in the logging score, in [0, 1] (1)`;

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
  /** Mean serving score of promoted impressions over that of the others. The true relevance does not depend on promotion. */
  promotedLift: number;
  groups: number;
  /** Held-out impressions whose serving score equals that of another impression of their request. */
  tiedRows: number;
  /** Training time, without the scoring after each epoch. */
  seconds: number;
  byEpoch: EpochScore[];
}

/** The held-out scores after one epoch. */
interface EpochScore {
  epoch: number;
  ndcg: number;
  ndcgAll: number;
  promotedLift: number;
}

interface Baseline {
  seed: number;
  random: number;
  policy: number;
  /** Mean true relevance of promoted held-out impressions over that of the others. */
  promotedLift: number;
}

/** Per held-out row: the request, position, promoted flag and planted true relevance, read from the generator's columns. */
interface Truth {
  requests: string[];
  positions: Float64Array;
  promoted: Uint8Array;
  relevance: Float64Array;
}

async function readTruth(source: sp.RowSource): Promise<Truth> {
  const column = (name: string) => source.columns.indexOf(name);
  const requests: string[] = [];
  const positions: number[] = [];
  const promoted: number[] = [];
  const relevance: number[] = [];
  for await (const row of source.rows(new sp.BadRows(false))) {
    requests.push(String(row.values[column('request')]));
    positions.push(Number(row.values[column('position')]));
    promoted.push(Number(row.values[column('promoted')]));
    relevance.push(Number(row.values[column('true_relevance')]));
  }
  return { requests, positions: Float64Array.from(positions), promoted: Uint8Array.from(promoted), relevance: Float64Array.from(relevance) };
}

/** Mean of `values` over the rows where promoted is 1, divided by their mean over the other rows. */
function promotedLift(values: ArrayLike<number>, promoted: Uint8Array): number {
  const sums = [0, 0];
  const counts = [0, 0];
  for (let row = 0; row < promoted.length; row++) {
    sums[promoted[row]] += values[row];
    counts[promoted[row]]++;
  }
  return sums[1] / counts[1] / (sums[0] / counts[0]);
}

/**
 * Mean over groups (requests) of NDCG@k: each group's held-out impressions ranked by `scores`,
 * gain = true relevance (linear), discount 1 / log2(rank + 1) for ranks up to k and 0 below,
 * normalized by the DCG of the ranking by true relevance. Tied scores get the expected DCG
 * over all orders of the tied impressions, so each gets the mean discount of the ranks they
 * share (McSherry and Najork, ECIR 2008). Row order cannot break a tie. That matters because
 * the generator writes a request's rows in position order, so a model that scores them all
 * alike scores like a random order, not like the logging policy. Groups with fewer than two
 * impressions are skipped, because any order of one item is ideal. `k` = Infinity ranks all
 * of a group's impressions. `tiedRows` counts the impressions that share their score with
 * another of their group.
 */
export function meanNdcg(groups: string[], scores: ArrayLike<number>, relevance: ArrayLike<number>, k: number): { ndcg: number; groups: number; tiedRows: number } {
  const rowsByGroup = new Map<string, number[]>();
  groups.forEach((group, row) => rowsByGroup.set(group, [...(rowsByGroup.get(group) ?? []), row]));

  const discount = (rank: number) => (rank < k ? 1 / Math.log2(rank + 2) : 0);
  let total = 0;
  let counted = 0;
  let tiedRows = 0;
  for (const rows of rowsByGroup.values()) {
    if (rows.length < 2) continue;
    const byScore = [...rows].sort((a, b) => scores[b] - scores[a]);
    let dcg = 0;
    for (let start = 0; start < byScore.length; ) {
      let end = start + 1;
      while (end < byScore.length && scores[byScore[end]] === scores[byScore[start]]) end++;
      let meanDiscount = 0;
      for (let rank = start; rank < end; rank++) meanDiscount += discount(rank) / (end - start);
      for (let rank = start; rank < end; rank++) dcg += relevance[byScore[rank]] * meanDiscount;
      if (end - start > 1) tiedRows += end - start;
      start = end;
    }
    const ideal = [...rows].sort((a, b) => relevance[b] - relevance[a]);
    total += dcg / ideal.reduce((sum, row, rank) => sum + relevance[row] * discount(rank), 0);
    counted++;
  }
  return { ndcg: total / counted, groups: counted, tiedRows };
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

/** Parses an option that takes one number. */
function parseNumber(value: string, name: string): number {
  const numbers = parseNumbers(value, name);
  if (numbers.length !== 1) throw new Error(`${name}: invalid value "${value}"; expected one number`);
  return numbers[0];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '5' },
      rows: { type: 'string', default: '20000' },
      epochs: { type: 'string', default: '2' },
      'batch-size': { type: 'string', default: '256' },
      lr: { type: 'string', default: '0.01' },
      cutoff: { type: 'string', default: '5' },
      users: { type: 'string' },
      items: { type: 'string' },
      'base-logit': { type: 'string' },
      'quality-sd': { type: 'string' },
      'policy-affinity': { type: 'string' },
      'promoted-share': { type: 'string' },
      'promotion-boost': { type: 'string' },
      'policy-noise': { type: 'string' },
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
  const generator: sp.YoutubeSimOptions = {};
  if (values.users !== undefined) generator.users = parseCount(values.users, '--users');
  if (values.items !== undefined) generator.items = parseCount(values.items, '--items');
  if (values['base-logit'] !== undefined) generator.baseLogit = parseNumber(values['base-logit'], '--base-logit');
  if (values['quality-sd'] !== undefined) generator.qualitySd = parseNumber(values['quality-sd'], '--quality-sd');
  if (values['policy-affinity'] !== undefined) generator.policyAffinity = parseNumber(values['policy-affinity'], '--policy-affinity');
  if (values['promoted-share'] !== undefined) generator.promotedShare = parseNumber(values['promoted-share'], '--promoted-share');
  if (values['promotion-boost'] !== undefined) generator.promotionBoost = parseNumber(values['promotion-boost'], '--promotion-boost');
  if (values['policy-noise'] !== undefined) generator.policyNoise = parseNumber(values['policy-noise'], '--policy-noise');
  // Checks the generator options before any training.
  const { users, items, baseLogit, qualitySd, promotedShare, promotionBoost, policyNoise, policyAffinity, positions } = new sp.YoutubeSim({ ...generator, rows: 1 }).options;
  const { backend, adapter } = await setupBackend(values.backend);
  const info = runInfo(backend, adapter);
  const testRows = Math.round(rows / 4);
  const settings = { seeds, rows, testRows, epochs, batchSize, lr, cutoff, generator: { users, items, baseLogit, qualitySd, promotedShare, promotionBoost, policyNoise, policyAffinity, positions }, model: BASE_CONFIG, variants: VARIANTS };
  log(`youtube-sim: ${seeds.length} seeds x ${VARIANTS.length} variants, ${rows} training and ${testRows} held-out impressions, ${epochs} epochs, batch ${batchSize}, Adam lr ${lr}; ${users} users, ${items} items, base logit ${baseLogit}, quality sd ${qualitySd}, promoted share ${promotedShare}, promotion boost ${promotionBoost}, policy noise ${policyNoise}, policy affinity ${policyAffinity}; ${adapter}`);

  const started = performance.now();
  const runs: RunRecord[] = [];
  const baselines: Baseline[] = [];
  for (const seed of seeds) {
    const trainSource = new sp.YoutubeSim({ ...generator, rows, seed }).source();
    const testSource = new sp.YoutubeSim({ ...generator, rows: testRows, seed, offset: rows }).source();
    const { state } = await sp.fit(sp.youtubeSimSchema, trainSource);
    const trainSet = await sp.encodeAll(trainSource, new sp.Encoder(state, trainSource.columns));
    const testSet = await sp.encodeAll(testSource, new sp.Encoder(state, testSource.columns));
    const truth = await readTruth(testSource);
    const weights = taskWeights(trainSet);
    const weightList = trainSet.layout.tasks.map((task) => weights[task.name]);

    const random = new sp.SeededRandom(seed, 1);
    const randomScores = Float64Array.from(truth.relevance, () => random.next());
    const policyScores = truth.positions.map((position) => -position);
    baselines.push({
      seed,
      random: meanNdcg(truth.requests, randomScores, truth.relevance, cutoff).ndcg,
      policy: meanNdcg(truth.requests, policyScores, truth.relevance, cutoff).ndcg,
      promotedLift: promotedLift(truth.relevance, truth.promoted),
    });

    for (const variant of VARIANTS) {
      const model = new MultiTaskModel(trainSet.layout, { ...BASE_CONFIG, biasTasks: variant.biasTasks, taskWeights: weights, seed }, backend);
      const optimizer = adamFor(model, lr);
      // The held-out set is scored after every epoch, and the last epoch's scores are the result.
      // predict() runs the model in evaluation mode, which leaves the bias tower out: the serving score.
      const byEpoch: EpochScore[] = [];
      let scoringSeconds = 0;
      let last = { atCutoff: { ndcg: NaN, groups: 0, tiedRows: 0 }, all: { ndcg: NaN }, lift: NaN };
      const trainingAndScoring = await trainByEpoch(model, optimizer, trainSet, { epochs, batchSize, seed, backend, taskWeights: weightList }, async (epoch) => {
        const scoringStarted = performance.now();
        const scores = (await predict(model, testSet, { backend })).click;
        last = {
          atCutoff: meanNdcg(truth.requests, scores, truth.relevance, cutoff),
          all: meanNdcg(truth.requests, scores, truth.relevance, Infinity),
          lift: promotedLift(scores, truth.promoted),
        };
        byEpoch.push({ epoch, ndcg: last.atCutoff.ndcg, ndcgAll: last.all.ndcg, promotedLift: last.lift });
        scoringSeconds += (performance.now() - scoringStarted) / 1000;
      });
      const seconds = trainingAndScoring - scoringSeconds;
      const { atCutoff, all, lift } = last;
      runs.push({ seed, variant: variant.name, ndcg: atCutoff.ndcg, ndcgAll: all.ndcg, promotedLift: lift, groups: atCutoff.groups, tiedRows: atCutoff.tiedRows, seconds, byEpoch });
      model.dispose();
      const curve = byEpoch.length > 1 ? `; NDCG@${cutoff} by epoch ${byEpoch.map((score) => score.ndcg.toFixed(4)).join(', ')}` : '';
      log(`seed ${seed} ${variant.name}: NDCG@${cutoff} ${atCutoff.ndcg.toFixed(4)}, NDCG ${all.ndcg.toFixed(4)} over ${atCutoff.groups} requests (${atCutoff.tiedRows} tied rows), promoted lift ${lift.toFixed(3)}, ${seconds.toFixed(1)} s training${curve}`);
      writeJson(values.out, { info, settings, seconds: (performance.now() - started) / 1000, complete: false, runs, baselines });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  writeJson(values.out, { info, settings, seconds, complete: true, runs, baselines });
  process.stdout.write(`${report(runs, baselines, seeds, cutoff)}\n\n${seconds.toFixed(0)} s in all; every run is in ${values.out}\n`);
}

function report(runs: RunRecord[], baselines: Baseline[], seeds: number[], cutoff: number): string {
  const rows = VARIANTS.map((variant) => {
    const selected = runs.filter((run) => run.variant === variant.name);
    return [
      variant.name,
      formatSummary(summarize(selected.map((run) => run.ndcg)), 4),
      formatSummary(summarize(selected.map((run) => run.ndcgAll)), 4),
      formatSummary(summarize(selected.map((run) => run.promotedLift)), 3),
      selected.map((run) => run.ndcg.toFixed(4)).join(', '),
    ];
  });
  const perSeed = (values: number[]) => values.map((value) => value.toFixed(4)).join(', ');
  rows.push(['logging policy order (reference)', formatSummary(summarize(baselines.map((baseline) => baseline.policy)), 4), '', '', perSeed(baselines.map((baseline) => baseline.policy))]);
  rows.push(['random order (reference)', formatSummary(summarize(baselines.map((baseline) => baseline.random)), 4), '', '', perSeed(baselines.map((baseline) => baseline.random))]);
  rows.push(['true relevance (reference)', '1', '1', formatSummary(summarize(baselines.map((baseline) => baseline.promotedLift)), 3), '']);
  const table = markdownTable(['model', `NDCG@${cutoff}`, 'NDCG (all of a request\'s rows)', 'promoted lift', `NDCG@${cutoff} per seed`], rows);

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
