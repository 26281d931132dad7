// The presets on the real data sets: row counts, label balance, vocabularies, missing values, quirks, OOV, round trip.

import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import {
  BadRows, Encoder, csvSource, describeData, encodeAll, fit, getPreset, loadState, openCsv, saveState,
  type DataSummary, type FeatureSummary,
} from '../../src/data/index.js';
import { realDataFile, temporaryDir } from './helpers.js';

function feature(summary: DataSummary, name: string): FeatureSummary {
  const found = summary.features.find((item) => item.name === name);
  if (!found) throw new Error(`no feature ${name} in the summary`);
  return found;
}

describe('adult', () => {
  const schema = getPreset('adult').schema;

  test('train file counts', async (context) => {
    const path = realDataFile('adult/adult.data');
    if (!path) return context.skip();
    const { summary } = await fit(schema, csvSource(schema, path));

    expect(summary.rows).toMatchObject({ read: 32561, used: 32561, skipped: 0 });
    expect(summary.labels[0]).toMatchObject({ name: 'income', positive: 7841, negative: 24720, missing: 0 });
    expect(feature(summary, 'workclass').missing).toBe(1836);
    expect(feature(summary, 'occupation').missing).toBe(1843);
    expect(feature(summary, 'native-country').missing).toBe(583);
    const distinct = { workclass: 8, education: 16, 'marital-status': 7, occupation: 14, relationship: 6, race: 5, sex: 2, 'native-country': 41 };
    for (const [name, count] of Object.entries(distinct)) {
      expect(feature(summary, name).distinctValues, name).toBe(count);
      // OOV id + vocabulary + missing id.
      expect(feature(summary, name).vocabularySize, name).toBe(count + 2);
    }
    expect(feature(summary, 'age').numeric).toMatchObject({ count: 32561, min: 17, max: 90 });
  });

  test('test file quirks: junk first line and labels ending in a period', async (context) => {
    const path = realDataFile('adult/adult.test');
    if (!path) return context.skip();
    const { summary } = await fit(schema, csvSource(schema, path));

    expect(summary.rows).toMatchObject({ read: 16281, used: 16281, skipped: 0 });
    expect(summary.labels[0]).toMatchObject({ positive: 3846, negative: 12435, missing: 0 });
    expect(feature(summary, 'workclass').missing).toBe(963);
    expect(feature(summary, 'occupation').missing).toBe(966);
    expect(feature(summary, 'native-country').missing).toBe(274);

    // The junk line "|1x3 Cross validator" is line 1, so the first data row is line 2.
    const csv = await openCsv(path, schema.csv, new BadRows(false));
    const first = await csv.rows.next();
    expect(first.value).toMatchObject({ line: 2, values: ['25', 'Private', '226802', '11th', '7', 'Never-married', 'Machine-op-inspct', 'Own-child', 'Black', 'Male', '0', '0', '40', 'United-States', '<=50K.'] });
    await csv.rows.return(undefined);
  });

  test('round trip and OOV on the test file', async (context) => {
    const train = realDataFile('adult/adult.data');
    const testFile = realDataFile('adult/adult.test');
    if (!train || !testFile) return context.skip();
    const { state } = await fit(schema, csvSource(schema, train));
    const file = join(temporaryDir(), 'adult-state.json');
    saveState(state, file);

    const source = csvSource(schema, testFile);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    const again = await encodeAll(source, new Encoder(loadState(file), source.columns));
    expect(again).toEqual(batch);
    expect(batch.size).toBe(16281);
    expect(batch.labels.income.reduce((sum, value) => sum + value, 0)).toBe(3846);

    // Every native-country value of the test file that is not in the training vocabulary gets id 0.
    const vocabulary = new Set(state.features['native-country'].vocabulary);
    const column = source.columns.indexOf('native-country');
    let unseen = 0;
    for await (const row of source.rows(new BadRows(false))) {
      const value = String(row.values[column]);
      if (value !== '?' && !vocabulary.has(value)) unseen++;
    }
    const ids = batch.fields['native-country'].ids;
    expect(ids.filter((id) => id === 0).length).toBe(unseen);
    expect(Math.max(...ids)).toBe(state.features['native-country'].vocabulary!.length + 1);
  });
});

describe('census-kdd', () => {
  test('test file counts', async (context) => {
    const path = realDataFile('census-income-kdd/census-income.test.gz');
    if (!path) return context.skip();
    const schema = getPreset('census-kdd').schema;
    const { summary } = await fit(schema, csvSource(schema, path));

    expect(summary.rows).toMatchObject({ read: 99762, used: 99762, skipped: 0 });
    expect(summary.labels.find((label) => label.name === 'income')).toMatchObject({ positive: 6186, negative: 93576 });
    expect(summary.labels.find((label) => label.name === 'never_married')).toMatchObject({ positive: 43143, negative: 99762 - 43143 });
    for (const name of ['mig_chg_msa', 'mig_chg_reg', 'mig_move_reg', 'mig_prev_sunbelt']) expect(feature(summary, name).missing, name).toBe(49946);
    expect(feature(summary, 'country_father').missing).toBe(3429);
    expect(feature(summary, 'country_mother').missing).toBe(3072);
    expect(feature(summary, 'country_self').missing).toBe(1764);
    expect(feature(summary, 'state_prev_res').missing).toBe(330);
    expect(feature(summary, 'class_worker').distinctValues).toBe(9);
    expect(feature(summary, 'det_ind_code').distinctValues).toBe(52);
    expect(feature(summary, 'det_occ_code').distinctValues).toBe(47);

    // Label columns and the instance weight are not features.
    const names = schema.features.map((item) => item.name);
    for (const excluded of ['income_50k', 'marital_stat', 'instance_weight']) expect(names).not.toContain(excluded);
  });

  test('default split covers the file', async (context) => {
    if (!realDataFile('census-income-kdd/census-income.test.gz')) return context.skip();
    const description = await describeData({ preset: 'census-kdd', seed: 0 });
    const rows = description.split!.rows;
    expect(rows.train + rows.validation + rows.test).toBe(99762);
    expect(description.train.rows.used).toBe(rows.train);
    expect(rows.train / 99762).toBeCloseTo(0.5, 1);
  });
});

describe('movielens', () => {
  test('ratings joined with users and items', async (context) => {
    const path = realDataFile('movielens-100k/u.data');
    if (!path) return context.skip();
    const schema = getPreset('movielens').schema;
    const { summary } = await fit(schema, csvSource(schema, path));

    expect(summary.rows).toMatchObject({ read: 100000, used: 100000, skipped: 0 });
    expect(summary.labels.find((label) => label.name === 'like')).toMatchObject({ positive: 55375, negative: 44625 });
    // Rating counts 6,110 / 11,370 / 27,145 / 34,174 / 21,201 give the mean 3.52986.
    expect(summary.labels.find((label) => label.name === 'rating')!.numeric!.mean).toBeCloseTo(3.52986, 5);
    expect(feature(summary, 'user_id').distinctValues).toBe(943);
    expect(feature(summary, 'item_id').distinctValues).toBe(1682);
    expect(feature(summary, 'gender').distinctValues).toBe(2);
    expect(feature(summary, 'occupation').distinctValues).toBe(21);
    expect(feature(summary, 'genres').distinctValues).toBe(19);
    expect(feature(summary, 'age').numeric).toMatchObject({ min: 7, max: 73 });
  });

  test('u.item decodes as Latin-1', async (context) => {
    const path = realDataFile('movielens-100k/u.item');
    if (!path) return context.skip();
    const lookup = getPreset('movielens').schema.lookups!.find((item) => item.file === 'u.item')!;
    const csv = await openCsv(path, lookup.csv, new BadRows(false));
    const titles = new Map<string, string>();
    for await (const row of csv.rows) titles.set(String(row.values[0]), String(row.values[1]));
    expect(titles.size).toBe(1682);
    expect(titles.get('543')).toBe('Misérables, Les (1995)');
    expect(titles.get('267')).toBe('unknown');
  });
});
