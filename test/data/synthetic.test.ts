// Synthetic generators: determinism per seed and the structure each one promises.

import { describe, expect, test } from 'vitest';

import { BadRows, Encoder, Foodio, MmoeSynthetic, YOUTUBE_SIM_COLUMNS, YOUTUBE_SIM_DEVICES, YoutubeSim, encodeAll, fit, foodioSchema, youtubeSimSchema } from '../../src/data/index.js';
import { collectRows } from './helpers.js';

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const meanA = a.reduce((s, v) => s + v, 0) / n;
  const meanB = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - meanA) * (b[i] - meanB);
    aa += (a[i] - meanA) ** 2;
    bb += (b[i] - meanB) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('determinism', () => {
  test('same seed gives the same rows', async () => {
    const makers = [
      (seed: number) => new Foodio({ rows: 300, seed }).source(),
      (seed: number) => new MmoeSynthetic({ rows: 50, seed, dimension: 8 }).source(),
      (seed: number) => new YoutubeSim({ rows: 300, seed }).source(),
    ];
    for (const make of makers) {
      const first = await collectRows(make(11), new BadRows(false));
      expect(await collectRows(make(11), new BadRows(false))).toEqual(first);
      expect(await collectRows(make(12), new BadRows(false))).not.toEqual(first);
    }
  });

  test('row depends only on seed and index', () => {
    const generator = new YoutubeSim({ seed: 4 });
    const shifted = new YoutubeSim({ seed: 4, offset: 100 });
    expect(shifted.row(150)).toEqual(generator.row(150));
  });
});

describe('foodio', () => {
  const columns = Object.fromEntries(['query', 'query_kind', 'item', 'item_category', 'price', 'consumed', 'relevant', 'pair_in_train'].map((name, i) => [name, i]));

  test('relevance follows the query rules', async () => {
    const rows = await collectRows(new Foodio({ rows: 4000, seed: 1 }).source(), new BadRows(false));
    let targeted = 0;
    for (const row of rows) {
      const query = String(row[columns.query]);
      const relevant = row[columns.relevant] === '1';
      if (row[columns.query_kind] === 'targeted') {
        targeted++;
        // "order seafood/03" is satisfied by seafood/03 only, not by other seafood items.
        expect(relevant).toBe(query === `order ${row[columns.item]}`);
      } else {
        expect(relevant).toBe(row[columns.item_category] === query);
      }
    }
    expect(targeted / rows.length).toBeCloseTo(0.5, 1);
  });

  test('held-out items meet exploratory queries only in the test part', async () => {
    const train = await collectRows(new Foodio({ rows: 4000, seed: 2, part: 'train' }).source(), new BadRows(false));
    const testRows = await collectRows(new Foodio({ rows: 4000, seed: 2, part: 'test' }).source(), new BadRows(false));
    expect(train.filter((row) => row[columns.pair_in_train] === '0').length).toBe(0);
    const unseen = testRows.filter((row) => row[columns.pair_in_train] === '0');
    expect(unseen.length).toBeGreaterThan(100);

    // An unseen pair is an exploratory query with a held-out item, which no exploratory row of the train part shows.
    const trainExploratoryItems = new Set(train.filter((row) => row[columns.query_kind] === 'exploratory').map((row) => row[columns.item]));
    const trainPairs = new Set(train.map((row) => `${row[columns.query]}\u0000${row[columns.item]}`));
    for (const row of unseen) {
      expect(row[columns.query_kind]).toBe('exploratory');
      expect(trainExploratoryItems.has(row[columns.item])).toBe(false);
      expect(trainPairs.has(`${row[columns.query]}\u0000${row[columns.item]}`)).toBe(false);
    }

    // Held-out items are shown for their own category and for others, so both classes occur.
    const relevantUnseen = unseen.filter((row) => row[columns.relevant] === '1').length;
    expect(relevantUnseen).toBeGreaterThan(20);
    expect(unseen.length - relevantUnseen).toBeGreaterThan(20);

    // They still appear with targeted queries in training.
    const heldOutItems = new Set(unseen.map((row) => row[columns.item]));
    const targetedItems = new Set(train.filter((row) => row[columns.query_kind] === 'targeted').map((row) => row[columns.item]));
    for (const item of heldOutItems) expect(targetedItems.has(item)).toBe(true);
  });

  test('consumption rates match the options', async () => {
    const rows = await collectRows(new Foodio({ rows: 6000, seed: 3 }).source(), new BadRows(false));
    const rate = (relevant: string) => {
      const group = rows.filter((row) => row[columns.relevant] === relevant);
      return group.filter((row) => row[columns.consumed] === '1').length / group.length;
    };
    expect(rate('1')).toBeCloseTo(0.9, 1);
    expect(rate('0')).toBeCloseTo(0.05, 1);
  });

  test('schema encodes the generated rows', async () => {
    const source = new Foodio({ rows: 500, seed: 5 }).source();
    const { state } = await fit(foodioSchema, source);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    expect(batch.size).toBe(500);
    expect(batch.layout.fields.map((field) => `${field.name}:${field.feeds}`)).toEqual(['query:both', 'item:wide', 'item_category:deep', 'query-x-item:wide']);
    expect(Math.max(...batch.fields['query-x-item'].ids)).toBeLessThan(16384);
  });
});

describe('mmoe-synthetic', () => {
  test('weight vectors have cosine p', () => {
    for (const p of [0, 0.3, 0.9]) {
      const generator = new MmoeSynthetic({ correlation: p, seed: 8, scale: 2 });
      let dot = 0;
      for (let i = 0; i < generator.w1.length; i++) dot += generator.w1[i] * generator.w2[i];
      expect(dot / 4).toBeCloseTo(p, 10);
    }
  });

  test('label correlation rises with p', () => {
    const correlations = [0, 0.5, 0.9, 1].map((p) => {
      const generator = new MmoeSynthetic({ correlation: p, seed: 21, rows: 2000 });
      const y1: number[] = [];
      const y2: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const row = generator.row(i);
        y1.push(row[row.length - 2]);
        y2.push(row[row.length - 1]);
      }
      return pearson(y1, y2);
    });
    for (let i = 1; i < correlations.length; i++) expect(correlations[i]).toBeGreaterThan(correlations[i - 1]);
    expect(Math.abs(correlations[0])).toBeLessThan(0.3);
    expect(correlations[3]).toBeGreaterThan(0.99);
  });
});

describe('youtube-sim', () => {
  const column = (name: string) => YOUTUBE_SIM_COLUMNS.indexOf(name);
  const index = (value: string | number) => Number(String(value).slice(1));
  const mean = (rows: (string | number)[][], name: string) => rows.reduce((sum, row) => sum + Number(row[column(name)]), 0) / rows.length;
  const rowsOf = (generator: YoutubeSim) => Array.from({ length: generator.options.rows }, (_, i) => generator.row(i));
  const simulator = new YoutubeSim({ seed: 6, rows: 20000 });
  const logged = rowsOf(simulator);

  test('each request shows distinct candidates at positions 1..P for one user and device', () => {
    for (let start = 0; start < logged.length; start += 10) {
      const request = logged.slice(start, start + 10);
      expect(request.map((row) => row[column('position')])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
      expect(new Set(request.map((row) => row[column('request')]))).toEqual(new Set([`q${start / 10}`]));
      expect(new Set(request.map((row) => row[column('user')])).size).toBe(1);
      expect(new Set(request.map((row) => row[column('device')])).size).toBe(1);
      expect(new Set(request.map((row) => row[column('item')])).size).toBe(10);
    }
  });

  test('positions follow the logging score', () => {
    // Without policy noise the policy score is known, and positions sort it.
    const generator = new YoutubeSim({ seed: 5, rows: 3000, policyNoise: 0 });
    const rows = rowsOf(generator);
    for (let start = 0; start < rows.length; start += 10) {
      const scores = rows.slice(start, start + 10).map((row) => generator.policyScore(index(row[column('user')]), index(row[column('item')]), 0));
      for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1]);
    }

    // With the default noise, relevant and promoted items still sit near the top.
    const at = (position: number) => logged.filter((row) => row[column('position')] === String(position));
    expect(mean(at(1), 'true_relevance')).toBeGreaterThan(mean(at(10), 'true_relevance') + 0.3);
    const others = logged.filter((row) => row[column('promoted')] === '0');
    const top = others.filter((row) => Number(row[column('position')]) <= 5);
    const bottom = others.filter((row) => Number(row[column('position')]) > 5);
    expect(mean(top, 'true_relevance')).toBeGreaterThan(mean(bottom, 'true_relevance') + 0.15);
    expect(mean(at(1), 'promoted')).toBeGreaterThan(2 * mean(logged, 'promoted'));
    expect(mean(at(10), 'promoted')).toBeLessThan(0.5 * mean(logged, 'promoted'));
  });

  test('promotion inflates clicks beyond relevance', () => {
    // Clicks per unit of true relevance, promoted items over the others.
    const inflation = (rows: (string | number)[][]) => {
      const promoted = rows.filter((row) => row[column('promoted')] === '1');
      const others = rows.filter((row) => row[column('promoted')] === '0');
      return mean(promoted, 'click') / mean(promoted, 'true_relevance') / (mean(others, 'click') / mean(others, 'true_relevance'));
    };
    const promoted = logged.filter((row) => row[column('promoted')] === '1');
    const others = logged.filter((row) => row[column('promoted')] === '0');
    const itemShare = simulator.itemPromoted.reduce((sum, flag) => sum + flag, 0) / simulator.itemPromoted.length;
    expect(Math.abs(itemShare - 0.3)).toBeLessThan(0.1);
    // Candidates are uniform, so impressions show promoted items as often as the catalog contains them.
    expect(Math.abs(promoted.length / logged.length - itemShare)).toBeLessThan(0.03);
    // Promotion is drawn apart from relevance, so promoted items are no more relevant, but they are examined and clicked more.
    expect(Math.abs(mean(promoted, 'true_relevance') - mean(others, 'true_relevance'))).toBeLessThan(0.03);
    expect(mean(promoted, 'examination')).toBeGreaterThan(1.3 * mean(others, 'examination'));
    expect(inflation(logged)).toBeGreaterThan(1.3);

    // Without the boost the same items get no more clicks than their relevance earns.
    const fair = rowsOf(new YoutubeSim({ seed: 6, rows: 20000, promotionBoost: 0 }));
    expect(inflation(fair)).toBeGreaterThan(0.9);
    expect(inflation(fair)).toBeLessThan(1.1);
  });

  test('clicks are relevance times examination', () => {
    for (const position of ['1', '5', '10']) {
      const group = logged.filter((row) => row[column('position')] === position);
      const expected = group.reduce((sum, row) => sum + Number(row[column('true_relevance')]) * Number(row[column('examination')]), 0);
      const clicks = group.filter((row) => row[column('click')] === '1').length;
      // A binomial count: 4 standard deviations of the sum of Bernoulli(r e), bounded by sqrt(expected).
      expect(Math.abs(clicks - expected), `position ${position}`).toBeLessThan(4 * Math.sqrt(expected));
    }
    const generator = new YoutubeSim({ rows: 1 });
    expect(generator.examination(1, 0)).toBe(1);
    expect(generator.examination(10, 0)).toBeCloseTo(0.1, 12);
    expect(generator.examination(10, 2)).toBeGreaterThan(generator.examination(10, 0));
    const row = logged[37];
    const device = YOUTUBE_SIM_DEVICES.findIndex((candidate) => candidate.name === row[column('device')]);
    expect(row[column('examination')]).toBe(generator.examination(Number(row[column('position')]), device));
  });

  test('an offset inside a request gives the same rows', async () => {
    const whole = await collectRows(new YoutubeSim({ seed: 9, rows: 40 }).source(), new BadRows(false));
    const shifted = await collectRows(new YoutubeSim({ seed: 9, rows: 27, offset: 13 }).source(), new BadRows(false));
    expect(shifted).toEqual(whole.slice(13));
  });

  test('options are checked', () => {
    expect(() => new YoutubeSim({ items: 5, positions: 10 })).toThrow(/positions 10 exceeds items 5/);
    expect(() => new YoutubeSim({ promotedShare: 1.5 })).toThrow(/promotedShare 1.5 must be in \[0, 1\]/);
    expect(() => new YoutubeSim({ policyNoise: -1 })).toThrow(/policyNoise -1 must be a finite number >= 0/);
    expect(() => new YoutubeSim({ promotionBoost: Number.NaN })).toThrow(/promotionBoost NaN/);
  });

  test('objectives depend on the click', async () => {
    const rows = await collectRows(new YoutubeSim({ seed: 7, rows: 3000 }).source(), new BadRows(false));
    for (const row of rows) {
      const clicked = row[column('click')] === '1';
      expect(row[column('rating')] === '').toBe(!clicked);
      if (!clicked) expect([row[column('watch_time')], row[column('like')]]).toEqual([0, '0']);
      if (clicked) expect(row[column('dismiss')]).toBe('0');
    }
  });

  test('schema masks the rating without a click', async () => {
    const source = new YoutubeSim({ seed: 7, rows: 400 }).source();
    const { state } = await fit(youtubeSimSchema, source);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    for (let i = 0; i < batch.size; i++) expect(batch.labelMasks.rating[i]).toBe(batch.labels.click[i]);
    expect(batch.layout.fields.map((field) => `${field.name}:${field.feeds}`)).toEqual(['user:both', 'item:both', 'item_category:both', 'promoted:both', 'position:bias', 'device:bias']);
  });
});
