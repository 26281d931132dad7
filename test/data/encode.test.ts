// Schema checks, fitting and encoding of small in-memory CSV files: ids, OOV, missing values, crosses, round trip.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { crossBucket, murmur3String } from '../../src/sparse/hash.js';
import {
  Encoder, csvSource, encodeAll, fit, loadState, parseSchema, parseState, saveState, SchemaError, serializeState,
  type Schema, type SparseBatch,
} from '../../src/data/index.js';
import { temporaryDir, writeTemporary } from './helpers.js';

const SHOP_CSV = [
  'color,tags,tag_weights,size,price,city,clicked',
  'red,a|b,1|0.5,3,10,paris,yes',
  'red,b,2,7,20,?,no',
  'blue,,,12,30,london,yes',
  'green,a|b|c,1|1|1,?,40,paris,no',
  'red,c,0.25,1,?,berlin,yes',
  '',
].join('\n');

function shopSchema(): Schema {
  return parseSchema({
    name: 'shop',
    csv: { header: true, columns: ['color', 'tags', 'tag_weights', 'size', 'price', 'city', 'clicked'] },
    missingMarkers: ['?'],
    hashSeed: 7,
    features: [
      { name: 'color', type: 'categorical', vocabulary: { minCount: 2 }, feeds: 'both', embeddingDim: 4 },
      { name: 'tags', type: 'categorical', separator: '|', weightColumn: 'tag_weights', missing: { markers: [''], policy: 'empty' }, feeds: 'deep', embeddingDim: 4, combiner: 'sum' },
      { name: 'size', type: 'bucketized', boundaries: [2, 5, 10], feeds: 'wide' },
      { name: 'price', type: 'numeric', normalize: 'standardize', missing: { policy: 'mean' } },
      { name: 'city', type: 'categorical', hashBuckets: 50, feeds: 'none' },
      { name: 'color-x-tags', type: 'cross', features: ['color', 'tags'], buckets: 97 },
      { name: 'city-x-size', type: 'cross', features: ['city', 'size'], buckets: 31, feeds: 'wide' },
    ],
    labels: [{ name: 'clicked', type: 'binary', positive: ['yes'], negative: ['no'] }],
  });
}

async function fitAndEncode(schema: Schema, csv: string): Promise<{ batch: SparseBatch; encoder: Encoder; path: string }> {
  const path = writeTemporary('shop.csv', csv);
  const source = csvSource(schema, path);
  const { state } = await fit(schema, source);
  const encoder = new Encoder(state, source.columns);
  return { batch: await encodeAll(source, encoder), encoder, path };
}

describe('schema validation', () => {
  const base = { csv: { columns: ['a', 'y'] }, labels: [{ name: 'y', type: 'binary', positive: ['1'] }] };

  test('label column as a feature is rejected', () => {
    expect(() => parseSchema({ ...base, features: [{ name: 'y', type: 'categorical', feeds: 'wide' }] })).toThrow(/"y" reads column "y", which is a label column/);
  });

  test('deep field without embeddingDim is rejected', () => {
    expect(() => parseSchema({ ...base, features: [{ name: 'a', type: 'categorical', feeds: 'deep' }] })).toThrow(/features\[0\] \("a"\)\.embeddingDim/);
  });

  test('cross of an undeclared feature is rejected', () => {
    const features = [{ name: 'a', type: 'categorical', feeds: 'wide' }, { name: 'ab', type: 'cross', features: ['a', 'b'], buckets: 10 }];
    expect(() => parseSchema({ ...base, features })).toThrow(/"b" is not a feature declared before this cross/);
  });

  test('unsorted boundaries are rejected', () => {
    const features = [{ name: 'a', type: 'bucketized', boundaries: [3, 1], feeds: 'wide' }];
    expect(() => parseSchema({ ...base, features })).toThrow(SchemaError);
  });

  test('unknown keys are rejected', () => {
    const feature = { name: 'a', type: 'categorical', feeds: 'wide' };
    expect(() => parseSchema({ ...base, csv: { ...base.csv, delimter: ';' }, features: [feature] })).toThrow(
      'csv: unknown key "delimter"; the keys here are delimiter, header, columns, trim, comment, encoding, quote',
    );
    expect(() => parseSchema({ ...base, features: [{ ...feature, embedingDim: 8 }] })).toThrow(/^features\[0\] \("a"\): unknown key "embedingDim"/);
    expect(() => parseSchema({ ...base, features: [{ ...feature, missing: { polcy: 'own-id' } }] })).toThrow(/features\[0\] \("a"\)\.missing: unknown key "polcy"/);
    expect(() => parseSchema({ ...base, features: [{ ...feature, vocabulary: { minCout: 2 } }] })).toThrow(/\.vocabulary: unknown key "minCout"/);
    expect(() => parseSchema({ ...base, labels: [{ ...base.labels[0], postive: ['1'] }], features: [feature] })).toThrow(/labels\[0\] \("y"\): unknown key "postive"/);
    expect(() => parseSchema({ ...base, feature: [], features: [feature] })).toThrow('schema: unknown key "feature"');
  });

  test('file without header needs columns', () => {
    expect(() => parseSchema({ csv: {}, features: [{ name: 'a', type: 'numeric' }], labels: [] })).toThrow(/needs "columns"/);
  });
});

describe('fit and encode', () => {
  test('vocabulary, OOV and missing ids', async () => {
    const { batch, encoder } = await fitAndEncode(shopSchema(), SHOP_CSV);
    const state = encoder.state;

    // minCount 2 keeps only "red" (3 rows); blue and green map to OOV id 0; the missing id follows the vocabulary.
    expect(state.features.color.vocabulary).toEqual(['red']);
    const color = batch.fields.color;
    expect(Array.from(color.ids)).toEqual([1, 1, 0, 0, 1]);
    expect(Array.from(color.offsets)).toEqual([0, 1, 2, 3, 4, 5]);
    const colorLayout = encoder.layout.fields.find((field) => field.name === 'color')!;
    expect(colorLayout.vocabularySize).toBe(3);
    expect(colorLayout.oovId).toBe(0);
    expect(colorLayout.missingId).toBe(2);
  });

  test('multi-valued bag with weights and empty bag', async () => {
    const { batch, encoder } = await fitAndEncode(shopSchema(), SHOP_CSV);

    // Tags sorted by count (b: 3, a: 2, c: 2), ties in code-unit order: b=1, a=2, c=3.
    expect(encoder.state.features.tags.vocabulary).toEqual(['b', 'a', 'c']);
    const tags = batch.fields.tags;
    expect(Array.from(tags.offsets)).toEqual([0, 2, 3, 3, 6, 7]);
    expect(Array.from(tags.ids)).toEqual([2, 1, 1, 2, 1, 3, 3]);
    expect(Array.from(tags.weights!)).toEqual([1, 0.5, 2, 1, 1, 1, 0.25]);
  });

  test('bucketized ids and missing bucket', async () => {
    const { batch } = await fitAndEncode(shopSchema(), SHOP_CSV);

    // Boundaries [2, 5, 10]: 3 -> 1, 7 -> 2, 12 -> 3, missing -> 4, 1 -> 0.
    expect(Array.from(batch.fields.size.ids)).toEqual([1, 2, 3, 4, 0]);
  });

  test('standardized numeric with the mean policy', async () => {
    const { batch, encoder } = await fitAndEncode(shopSchema(), SHOP_CSV);

    // Training prices 10, 20, 30, 40: mean 25, population std sqrt(125).
    expect(encoder.state.features.price.mean).toBe(25);
    expect(encoder.state.features.price.std).toBeCloseTo(Math.sqrt(125), 12);
    const expected = [10, 20, 30, 40, 25].map((value) => Math.fround((value - 25) / Math.sqrt(125)));
    expect(Array.from(batch.dense)).toEqual(expected);
  });

  test('cross ids follow crossBucket over the bags', async () => {
    const { batch } = await fitAndEncode(shopSchema(), SHOP_CSV);

    // Row 1: color [1], tags [2, 1] -> two cross ids; row 3: tags empty -> empty cross bag.
    const cross = batch.fields['color-x-tags'];
    expect(Array.from(cross.offsets)).toEqual([0, 2, 3, 3, 6, 7]);
    expect(cross.ids[0]).toBe(crossBucket([1, 2], 7, 97));
    expect(cross.ids[1]).toBe(crossBucket([1, 1], 7, 97));
    expect(Array.from(cross.ids.subarray(3, 6))).toEqual([2, 1, 3].map((tag) => crossBucket([0, tag], 7, 97)));

    // city (hashed, not emitted) x size: the missing city has the id 50.
    const cityId = murmur3String('paris', 7) % 50;
    expect(batch.fields['city-x-size'].ids[0]).toBe(crossBucket([cityId, 1], 7, 31));
    expect(batch.fields['city-x-size'].ids[1]).toBe(crossBucket([50, 2], 7, 31));
    expect(batch.fields.city).toBeUndefined();
  });

  test('labels and masks', async () => {
    const { batch } = await fitAndEncode(shopSchema(), SHOP_CSV);
    expect(Array.from(batch.labels.clicked)).toEqual([1, 0, 1, 0, 1]);
    expect(Array.from(batch.labelMasks.clicked)).toEqual([1, 1, 1, 1, 1]);
  });

  test('masked missing label is NaN', async () => {
    const schema = parseSchema({
      csv: { columns: ['a', 'y'] },
      features: [{ name: 'a', type: 'numeric' }],
      labels: [{ name: 'y', type: 'numeric', missing: { policy: 'mask' } }],
    });
    const { batch } = await fitAndEncode(schema, '1,2.5\n2,\n');
    expect(Array.from(batch.labels.y)).toEqual([2.5, NaN]);
    expect(Array.from(batch.labelMasks.y)).toEqual([1, 0]);
  });

  test('unseen values map to OOV', async () => {
    const schema = shopSchema();
    const train = writeTemporary('train.csv', SHOP_CSV);
    const { state } = await fit(schema, csvSource(schema, train));
    const test = writeTemporary('test.csv', 'color,tags,tag_weights,size,price,city,clicked\npurple,zzz,1,3,10,tokyo,no\n');
    const source = csvSource(schema, test);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    expect(Array.from(batch.fields.color.ids)).toEqual([0]);
    expect(Array.from(batch.fields.tags.ids)).toEqual([0]);
  });
});

describe('fitted state', () => {
  test('save, load and encode give identical batches', async () => {
    const { batch, encoder, path } = await fitAndEncode(shopSchema(), SHOP_CSV);
    const file = join(temporaryDir(), 'state.json');
    saveState(encoder.state, file);

    const loaded = loadState(file);
    expect(loaded).toEqual(JSON.parse(serializeState(encoder.state)));
    const source = csvSource(loaded.schema, path);
    const again = await encodeAll(source, new Encoder(loaded, source.columns));
    expect(again).toEqual(batch);
  });

  test('save leaves no temporary file', async () => {
    const { encoder } = await fitAndEncode(shopSchema(), SHOP_CSV);
    const file = join(temporaryDir(), 'state.json');
    saveState(encoder.state, file);
    saveState(encoder.state, file);
    expect(readdirSync(dirname(file))).toEqual(['state.json']);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(serializeState(encoder.state));
  });

  test('state of another format is rejected', () => {
    expect(() => parseState('{"format":"other","version":1}')).toThrow(/expected "sparrow-fitted-state"/);
  });

  test('quantile boundaries are learned', async () => {
    const schema = parseSchema({
      csv: { columns: ['x', 'y'] },
      features: [{ name: 'xb', column: 'x', type: 'bucketized', quantiles: 4, feeds: 'wide' }],
      labels: [{ name: 'y', type: 'numeric' }],
    });
    const rows = Array.from({ length: 100 }, (_, i) => `${i},0`).join('\n');
    const path = writeTemporary('q.csv', rows);
    const { state } = await fit(schema, csvSource(schema, path));
    expect(state.features.xb.boundaries).toEqual([25, 50, 75]);
  });
});
