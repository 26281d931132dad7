// Synthetic generators: determinism per seed and the structure each one promises.

import { describe, expect, test } from 'vitest';

import { BadRows, Encoder, Foodio, MmoeSynthetic, YoutubeSim, encodeAll, fit, foodioSchema, youtubeSimSchema } from '../../src/data/index.js';
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
  const generator = new YoutubeSim({ seed: 6, rows: 20000 });
  const column = (name: string) => ['user', 'item', 'item_category', 'position', 'device', 'click', 'watch_time', 'like', 'dismiss', 'rating', 'true_relevance', 'examination'].indexOf(name);

  test('clicks carry a position bias', async () => {
    const rows = await collectRows(generator.source(), new BadRows(false));
    const clickRate = (position: string) => {
      const group = rows.filter((row) => row[column('position')] === position);
      return { clicks: group.filter((row) => row[column('click')] === '1').length / group.length, relevance: group.reduce((s, row) => s + Number(row[column('true_relevance')]), 0) / group.length };
    };
    const top = clickRate('1');
    const bottom = clickRate('10');
    // Relevance does not depend on position, clicks do.
    expect(Math.abs(top.relevance - bottom.relevance)).toBeLessThan(0.03);
    expect(top.clicks).toBeGreaterThan(2 * bottom.clicks);
    expect(generator.examination(1, 0)).toBe(1);
    expect(generator.examination(10, 0)).toBeCloseTo(0.1, 12);
    expect(generator.examination(10, 2)).toBeGreaterThan(generator.examination(10, 0));
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
    expect(batch.layout.fields.filter((field) => field.feeds === 'bias').map((field) => field.name)).toEqual(['position', 'device']);
  });
});
