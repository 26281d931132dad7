// The rank and inspect commands end to end: a Wide & Deep model on foodio and an MMoE model on youtube-sim.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, lastJson, sparrow } from './helpers/cli.js';

import { BadRows } from '../src/data/csv.js';
import type { RowSource } from '../src/data/source.js';
import { Foodio } from '../src/data/synthetic/foodio.js';
import { YoutubeSim } from '../src/data/synthetic/youtube-sim.js';

const scratch = mkdtempSync(join(tmpdir(), 'sparrow-rank-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes a generated source as a CSV file with a header, leaving out the `drop` columns. */
async function writeCsv(source: RowSource, path: string, drop: string[] = []): Promise<void> {
  const keep = source.columns.flatMap((column, i) => (drop.includes(column) ? [] : [i]));
  const lines = [keep.map((i) => source.columns[i]).join(',')];
  for await (const row of source.rows(new BadRows(false))) {
    // Generated values contain no commas or quotes, so they need no quoting.
    lines.push(keep.map((i) => String(row.values[i])).join(','));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** Reads the output of `sparrow predict`: one column per task. */
function readPredictions(stdout: string): Record<string, number[]> {
  const [header, ...rows] = stdout.trim().split('\n');
  const tasks = header.split(',');
  const out: Record<string, number[]> = Object.fromEntries(tasks.map((task) => [task, []]));
  for (const row of rows) row.split(',').forEach((value, t) => out[tasks[t]].push(Number(value)));
  return out;
}

/** Checks that every group is ranked by descending score and returns the rows seen, by group key. */
function expectRankedGroups(groups: { key: string; candidates: { row: number; score: number }[] }[]): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const group of groups) {
    const scores = group.candidates.map((candidate) => candidate.score);
    const sorted = [...scores].sort((a, b) => b - a);
    expect(scores, `group ${group.key}`).toEqual(sorted);
    seen.set(group.key, group.candidates.map((candidate) => candidate.row));
  }
  return seen;
}

beforeAll(async () => {
  // Build first, so the commands under test are the current sources.
  await buildCli();
});

describe('sparrow rank on a Wide & Deep foodio model', () => {
  const modelDir = join(scratch, 'foodio-model');
  const trainFile = join(scratch, 'foodio-train.csv');
  const candidates = join(scratch, 'foodio-candidates.csv');
  const unlabeled = join(scratch, 'foodio-candidates-unlabeled.csv');
  let predicted: Record<string, number[]>;
  let queries: string[];

  beforeAll(async () => {
    await writeCsv(new Foodio({ rows: 3000, seed: 5, part: 'train' }).source(), trainFile);
    const candidateSource = new Foodio({ rows: 80, seed: 5, part: 'test' }).source();
    await writeCsv(candidateSource, candidates);
    await writeCsv(candidateSource, unlabeled, ['consumed']);
    queries = readFileSync(candidates, 'utf8').trim().split('\n').slice(1).map((line) => line.split(',')[0]);

    const trained = await sparrow(['train', '--preset', 'foodio', '--data', trainFile, '--epochs', '1', '--out', modelDir, '--json']);
    expect(trained.code, trained.stderr).toBe(0);
    const result = await sparrow(['predict', '--model', modelDir, '--data', candidates]);
    expect(result.code, result.stderr).toBe(0);
    predicted = readPredictions(result.stdout);
    expect(predicted.consumed).toHaveLength(80);
  }, 300_000);

  test('rank orders each group by the weighted sum', async () => {
    const result = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'query', '--score', 'consumed=2', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const output = lastJson(result.stdout);
    expect(output.score).toEqual({ kind: 'sum', weights: { consumed: 2 } });
    expect(output.scoreSource).toBe('command line');
    expect(typeof output.backend).toBe('string');
    expect(output.adapter).toBeTypeOf('object');

    // Groups come in order of first appearance, and together hold every row once.
    expect(output.groups.map((group: { key: string }) => group.key)).toEqual([...new Set(queries)]);
    const seen = expectRankedGroups(output.groups);
    expect([...seen.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));

    for (const group of output.groups) {
      for (const candidate of group.candidates) {
        const p = predicted.consumed[candidate.row - 1];
        expect(queries[candidate.row - 1]).toBe(group.key);
        expect(candidate.line).toBe(candidate.row + 1);
        expect(candidate.predictions.consumed).toBeCloseTo(p, 6);
        expect(candidate.score).toBeCloseTo(2 * p, 6);
      }
    }
  });

  test('train --score saves the score that rank then uses', async () => {
    const scoredDir = join(scratch, 'foodio-scored');
    const trained = await sparrow(['train', '--preset', 'foodio', '--data', trainFile, '--epochs', '1', '--out', scoredDir, '--score', 'consumed=3', '--score-kind', 'product']);
    expect(trained.code, trained.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(scoredDir, 'config.json'), 'utf8')).config.score;
    expect(saved).toEqual({ kind: 'product', weights: { consumed: 3 } });

    const ranked = await sparrow(['rank', '--model', scoredDir, '--data', unlabeled, '--group-by', 'query', '--json']);
    expect(ranked.code, ranked.stderr).toBe(0);
    const output = lastJson(ranked.stdout) as { score: unknown; scoreSource: string };
    expect(output.score).toEqual({ kind: 'product', weights: { consumed: 3 } });
    expect(output.scoreSource).toBe('model');
  });

  test('rank with a product score and --top', async () => {
    const result = await sparrow(['rank', '--model', modelDir, '--data', candidates, '--group-by', 'query', '--score', 'consumed=0.5', '--score-kind', 'product', '--top', '2', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const output = lastJson(result.stdout);
    expect(output.score).toEqual({ kind: 'product', weights: { consumed: 0.5 } });
    expectRankedGroups(output.groups);
    for (const group of output.groups) {
      expect(group.candidates.length).toBe(Math.min(2, queries.filter((query: string) => query === group.key).length));
      for (const candidate of group.candidates) expect(candidate.score).toBeCloseTo(Math.sqrt(predicted.consumed[candidate.row - 1]), 6);
    }
  });

  test('rank table lists candidates by descending score', async () => {
    const result = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'query']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('score sum: 1 x consumed (default)');
    const blocks = result.stdout.split('\n\n').slice(1);
    expect(blocks.length).toBe(new Set(queries).size);
    for (const block of blocks) {
      const [title, header, ...rows] = block.trim().split('\n');
      expect(title).toMatch(/^query = ".*": \d+ candidates?$/);
      expect(header.trim().split(/\s+/)).toEqual(['rank', 'row', 'line', 'score', 'consumed']);
      const scores = rows.map((row) => Number(row.trim().split(/\s+/)[3]));
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    }
  });

  test('rank rejects an unknown task and a missing group column', async () => {
    const unknown = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'query', '--score', 'click=1']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown task "click"; the model\'s tasks are consumed');
    const column = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'session']);
    expect(column.code).toBe(1);
    expect(column.stderr).toContain('column "session" not found');
  });

  test('inspect explains that Wide & Deep has no gates', async () => {
    const result = await sparrow(['inspect', '--model', modelDir, '--data', unlabeled, '--out', join(scratch, 'none.svg')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is a wide-deep model, which has no gates');
    expect(existsSync(join(scratch, 'none.svg'))).toBe(false);
  });
});

describe('sparrow rank and inspect on an MMoE youtube-sim model', () => {
  const modelDir = join(scratch, 'mmoe-model');
  const bottomDir = join(scratch, 'shared-bottom-model');
  const trainFile = join(scratch, 'sim-train.csv');
  const candidates = join(scratch, 'sim-candidates.csv');
  const unlabeled = join(scratch, 'sim-candidates-unlabeled.csv');
  const labels = ['click', 'watch_time', 'like', 'dismiss', 'rating', 'true_relevance', 'examination'];
  let predicted: Record<string, number[]>;
  let users: string[];

  beforeAll(async () => {
    await writeCsv(new YoutubeSim({ rows: 2000, seed: 2 }).source(), trainFile);
    const candidateSource = new YoutubeSim({ rows: 60, seed: 2, offset: 2000 }).source();
    await writeCsv(candidateSource, candidates);
    // Serving rows have neither labels nor the position and device that only the bias tower reads.
    await writeCsv(candidateSource, unlabeled, [...labels, 'position', 'device']);
    users = readFileSync(candidates, 'utf8').trim().split('\n').slice(1).map((line) => line.split(',')[0]);

    for (const [kind, dir] of [['mmoe', modelDir], ['shared-bottom', bottomDir]]) {
      const experts = kind === 'mmoe' ? ['--experts', '3'] : [];
      const trained = await sparrow(['train', '--preset', 'youtube-sim', '--data', trainFile, '--model', kind, ...experts, '--epochs', '1', '--out', dir, '--json']);
      expect(trained.code, trained.stderr).toBe(0);
    }
    // Weights set by hand in the model config (the `config` object of config.json), as a person tuning the serving score would.
    const configPath = join(modelDir, 'config.json');
    const checkpoint = JSON.parse(readFileSync(configPath, 'utf8'));
    checkpoint.config.score = { kind: 'sum', weights: { click: 1, like: 2, dismiss: -1 } };
    writeFileSync(configPath, JSON.stringify(checkpoint));

    const result = await sparrow(['predict', '--model', modelDir, '--data', candidates]);
    expect(result.code, result.stderr).toBe(0);
    predicted = readPredictions(result.stdout);
  }, 300_000);

  test('rank uses the score saved with the model', async () => {
    const result = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'user', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const output = lastJson(result.stdout);
    expect(output.scoreSource).toBe('model');
    expect(output.score).toEqual({ kind: 'sum', weights: { click: 1, like: 2, dismiss: -1 } });
    expect(output.groups.map((group: { key: string }) => group.key)).toEqual([...new Set(users)]);
    expectRankedGroups(output.groups);

    for (const group of output.groups) {
      for (const candidate of group.candidates) {
        const i = candidate.row - 1;
        expect(Object.keys(candidate.predictions)).toEqual(['click', 'watch_time', 'like', 'dismiss', 'rating']);
        for (const task of Object.keys(candidate.predictions)) expect(candidate.predictions[task]).toBeCloseTo(predicted[task][i], 5);
        expect(candidate.score).toBeCloseTo(predicted.click[i] + 2 * predicted.like[i] - predicted.dismiss[i], 5);
      }
    }
  });

  test('command-line score overrides the saved one', async () => {
    const result = await sparrow(['rank', '--model', modelDir, '--data', unlabeled, '--group-by', 'user', '--score', 'click=1,like=2', '--score-kind', 'product', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const output = lastJson(result.stdout);
    expect(output.scoreSource).toBe('command line');
    expectRankedGroups(output.groups);
    for (const group of output.groups) {
      for (const candidate of group.candidates) {
        const i = candidate.row - 1;
        expect(candidate.score).toBeCloseTo(predicted.click[i] * predicted.like[i] ** 2, 6);
      }
    }
  });

  test('inspect prints mean gate weights and writes the heatmap', async () => {
    const svg = join(scratch, 'gates.svg');
    const result = await sparrow(['inspect', '--model', modelDir, '--data', unlabeled, '--out', svg, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const output = lastJson(result.stdout);
    expect(output.model).toBe('mmoe');
    expect(output.experts).toBe(3);
    expect(output.rows).toBe(60);
    expect(Object.keys(output.gates)).toEqual(['click', 'watch_time', 'like', 'dismiss', 'rating']);
    for (const [task, weights] of Object.entries(output.gates as Record<string, number[]>)) {
      expect(weights, task).toHaveLength(3);
      for (const weight of weights) expect(weight).toBeGreaterThan(0);
      // Each row's gate is a softmax, so the mean over rows sums to 1 too.
      expect(weights.reduce((a, b) => a + b, 0), task).toBeCloseTo(1, 5);
    }

    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    for (const task of Object.keys(output.gates)) expect(text).toContain(`>${task}</text>`);
    expect(text).toContain(`>${(output.gates.click[0] as number).toFixed(2)}</text>`);
    expect(text).toContain('linearGradient');
    // XML forbids an attribute twice in one element, and browsers reject such an SVG file.
    for (const tag of text.match(/<[a-zA-Z][^>]*>/g) ?? []) {
      const names = [...tag.matchAll(/\s([a-zA-Z:-]+)=/g)].map((match) => match[1]);
      expect(new Set(names).size, tag).toBe(names.length);
    }
  });

  test('inspect table names tasks and experts', async () => {
    const result = await sparrow(['inspect', '--model', modelDir, '--data', candidates, '--out', join(scratch, 'table.svg')]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('mmoe model, 3 experts: mean gate weight over 60 rows (each task\'s weights sum to 1)');
    expect(lines[1].trim().split(/\s{2,}/)).toEqual(['task', 'expert 0', 'expert 1', 'expert 2']);
    expect(lines.slice(2, 7).map((line) => line.split(/\s+/)[0])).toEqual(['click', 'watch_time', 'like', 'dismiss', 'rating']);
  });

  test('inspect explains that shared-bottom has no gates', async () => {
    const result = await sparrow(['inspect', '--model', bottomDir, '--data', unlabeled, '--out', join(scratch, 'bottom.svg')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is a shared-bottom model, which has no gates');
  });
});

describe('sparrow generate', () => {
  beforeAll(buildCli);

  test('writes the rows that train reads', async () => {
    const out = join(scratch, 'generated-foodio.csv');
    const result = await sparrow(['generate', '--preset', 'foodio', '--rows', '300', '--seed', '4', '--out', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result.stdout)).toMatchObject({ preset: 'foodio', part: 'train', rows: 300, seed: 4, out });

    const expected = join(scratch, 'expected-foodio.csv');
    await writeCsv(new Foodio({ rows: 300, seed: 4, part: 'train' }).source(), expected);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(expected, 'utf8'));

    const test = await sparrow(['generate', '--preset', 'foodio', '--rows', '300', '--seed', '4', '--part', 'test', '--out', out, '--json']);
    expect(lastJson(test.stdout).rows).toBe(75);
  });

  test('rejects real data sets and bad paths', async () => {
    const adult = await sparrow(['generate', '--preset', 'adult', '--out', join(scratch, 'adult.csv')]);
    expect(adult.code).not.toBe(0);
    expect(adult.stderr).toContain('--preset: adult reads a real data set and generates no rows; use one of foodio, mmoe-synthetic, youtube-sim');
    const missing = await sparrow(['generate', '--preset', 'foodio', '--out', join(scratch, 'no-dir', 'rows.csv')]);
    expect(missing.stderr).toMatch(/--out: the directory .*no-dir of .* does not exist/);
  });
});
