// CSV streaming: quoting, spaces, gzip, bad rows (error or skip and count), seeded splits, shuffling, prefetching.

import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, test } from 'vitest';

import {
  BadRowError, BadRows, Encoder, csvSource, encodeAll, epochBatches, fit, parseSchema, parseSplit, prefetch,
  splitSource, streamBatches, type Schema,
} from '../../src/data/index.js';
import { collectRows, temporaryDir, writeTemporary } from './helpers.js';

const schema: Schema = parseSchema({
  csv: { columns: ['name', 'age', 'label'] },
  features: [
    { name: 'name', type: 'categorical', feeds: 'wide' },
    { name: 'age', type: 'numeric' },
  ],
  labels: [{ name: 'label', type: 'binary', positive: ['>50K'], negative: ['<=50K'] }],
});

async function encodeFile(text: string, skipBadRows: boolean, name = 'people.csv') {
  const path = writeTemporary(name, text);
  const source = csvSource(schema, path);
  const { state, summary } = await fit(schema, source, { skipBadRows });
  const badRows = new BadRows(skipBadRows);
  const batch = await encodeAll(source, new Encoder(state, source.columns), badRows);
  return { batch, summary, badRows };
}

describe('CSV parsing', () => {
  test('quotes, stray spaces and a trailing empty line', async () => {
    const text = '"Smith, Jo", 40, >50K\n  Lee ,  31,<=50K\n"He said ""hi""",22 , <=50K\n\n';
    const path = writeTemporary('people.csv', text);
    const rows = await collectRows(csvSource(schema, path), new BadRows(false));
    expect(rows).toEqual([
      ['Smith, Jo', '40', '>50K'],
      ['Lee', '31', '<=50K'],
      ['He said "hi"', '22', '<=50K'],
    ]);
  });

  test('gzipped file streams like the plain one', async () => {
    const text = 'a,1,>50K\nb,2,<=50K\n';
    const plain = await collectRows(csvSource(schema, writeTemporary('p.csv', text)), new BadRows(false));
    const gzipped = await collectRows(csvSource(schema, writeTemporary('p.csv.gz', text)), new BadRows(false));
    expect(gzipped).toEqual(plain);
  });

  test('header checked against schema columns', async () => {
    const withHeader = parseSchema({ ...schema, csv: { header: true, columns: ['name', 'age', 'label'] } });
    const good = await collectRows(csvSource(withHeader, writeTemporary('h.csv', 'name,age,label\na,1,>50K\n')), new BadRows(false));
    expect(good).toEqual([['a', '1', '>50K']]);
    const wrong = csvSource(withHeader, writeTemporary('h.csv', 'name,years,label\na,1,>50K\n'));
    await expect(collectRows(wrong, new BadRows(false))).rejects.toThrow(/header \(name, years, label\) differs from the schema's columns/);
  });

  test('column that no schema column matches names its reader', async () => {
    const renamed = parseSchema({ ...schema, csv: { columns: ['name', 'years', 'label'] } });
    const source = csvSource(renamed, writeTemporary('h2.csv', 'a,1,>50K\n'));
    await expect(fit(renamed, source)).rejects.toThrow(
      'schema: column "age" not found in the data (columns: name, years, label); feature "age" reads "age". For a CSV file, the columns are the schema\'s csv.columns',
    );
  });

  test('missing lookup table names where it was looked for', async () => {
    const joined = parseSchema({
      ...schema,
      csv: { columns: ['name', 'label'] },
      lookups: [{ file: 'ages.csv', key: 'name', csv: { columns: ['name', 'age'] } }],
    });
    const dir = temporaryDir();
    const path = join(dir, 'rows.csv');
    writeFileSync(path, 'a,>50K\n');
    await expect(collectRows(csvSource(joined, path), new BadRows(false))).rejects.toThrow(
      `lookup table not found: ${join(dir, 'ages.csv')}; the schema's lookups[0] joins "ages.csv" on column "name", and it is read from the folder of the data file ${path}, so put a copy there`,
    );
  });

  test('comment line is skipped with its line number kept', async () => {
    const commented = parseSchema({ ...schema, csv: { ...schema.csv, comment: '|' } });
    const path = writeTemporary('c.csv', '|1x3 Cross validator\na,1,>50K\nb,x,<=50K\n');
    await expect(encodeAllOf(commented, path)).rejects.toThrow(/c\.csv line 3, column 2 "age": not a number \(value "x"\)/);
  });
});

async function encodeAllOf(s: Schema, path: string) {
  const source = csvSource(s, path);
  const { state } = await fit(s, source);
  return encodeAll(source, new Encoder(state, source.columns));
}

describe('bad rows', () => {
  // [case, CSV text of the bad row, expected message, reason]
  const cases: [string, string, RegExp, string][] = [
    ['too few fields', 'c,3', /people\.csv line 3, column 3 "label": 2 fields, expected 3; column "label" and later are absent/, 'field count'],
    ['too many fields', 'c,3,>50K,extra', /people\.csv line 3, column 4 "\(extra field\)": 4 fields, expected 3 \(value "extra"\)/, 'field count'],
    ['unparsable number', 'c,3x,>50K', /people\.csv line 3, column 2 "age": not a number \(value "3x"\)/, 'number'],
    ['unknown label value', 'c,3,maybe', /people\.csv line 3, column 3 "label": unknown value of label "label" \(known values: ">50K", "<=50K"\) \(value "maybe"\)/, 'label'],
    ['missing numeric value', 'c,,>50K', /people\.csv line 3, column 2 "age": missing value, and the column's missing policy is "error"/, 'missing value'],
  ];

  for (const [name, bad, message, reason] of cases) {
    test(`${name} fails with its location`, async () => {
      const text = `a,1,>50K\nb,2,<=50K\n${bad}\nd,4,<=50K\n`;
      const error = await encodeFile(text, false).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BadRowError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toMatch(/--skip-bad-rows/);
    });

    test(`${name} is skipped and counted`, async () => {
      const text = `a,1,>50K\nb,2,<=50K\n${bad}\nd,4,<=50K\n`;
      const { batch, summary, badRows } = await encodeFile(text, true);
      expect(batch.size).toBe(3);
      expect(Array.from(batch.labels.label)).toEqual([1, 0, 0]);
      expect(badRows.count).toBe(1);
      expect(badRows.byReason).toEqual({ [reason]: 1 });
      expect(summary.rows).toMatchObject({ read: 4, used: 3, skipped: 1, skippedByReason: { [reason]: 1 } });
    });
  }

  test('unclosed quote names the file', async () => {
    const error = await encodeFile('a,1,>50K\n"b,2,<=50K\n', false).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/people\.csv line \d+: cannot parse CSV/);
  });
});

describe('split', () => {
  const rows = Array.from({ length: 400 }, (_, i) => `n${i},${i},${i % 3 ? '<=50K' : '>50K'}`);

  test('parts are disjoint and cover the file', async () => {
    const source = csvSource(schema, writeTemporary('s.csv', rows.join('\n')));
    const split = { fractions: parseSplit('0.5,0.25,0.25'), seed: 3 };
    const parts = await Promise.all((['train', 'validation', 'test'] as const).map((part) => collectRows(splitSource(source, split, part), new BadRows(false))));
    expect(parts.reduce((sum, part) => sum + part.length, 0)).toBe(400);
    const names = parts.flat().map((row) => row[0]);
    expect(new Set(names).size).toBe(400);
    expect(parts[0].length).toBeGreaterThan(160);
    expect(parts[0].length).toBeLessThan(240);
  });

  test('part of a row does not depend on order', async () => {
    const split = { fractions: [0.5, 0.5], seed: 9 };
    const forward = csvSource(schema, writeTemporary('f.csv', rows.join('\n')));
    const backward = csvSource(schema, writeTemporary('b.csv', [...rows].reverse().join('\n')));
    const a = await collectRows(splitSource(forward, split, 'train'), new BadRows(false));
    const b = await collectRows(splitSource(backward, split, 'train'), new BadRows(false));
    expect(new Set(b.map((row) => row[0]))).toEqual(new Set(a.map((row) => row[0])));
  });

  test('another seed gives another split', async () => {
    const source = csvSource(schema, writeTemporary('s.csv', rows.join('\n')));
    const a = await collectRows(splitSource(source, { fractions: [0.5, 0.5], seed: 1 }, 'train'), new BadRows(false));
    const b = await collectRows(splitSource(source, { fractions: [0.5, 0.5], seed: 2 }, 'train'), new BadRows(false));
    expect(a.map((row) => row[0])).not.toEqual(b.map((row) => row[0]));
  });

  test('invalid fractions are rejected', () => {
    expect(() => parseSplit('0.5,0.4')).toThrow(/sum to 0\.9/);
    expect(() => parseSplit('1')).toThrow(/two or three fractions/);
  });
});

describe('batches', () => {
  const text = Array.from({ length: 103 }, (_, i) => `n${i % 7},${i},${i % 2 ? '<=50K' : '>50K'}`).join('\n');

  async function setup() {
    const source = csvSource(schema, writeTemporary('b.csv', text));
    const { state } = await fit(schema, source);
    return { source, encoder: new Encoder(state, source.columns) };
  }

  test('streamed batches keep file order without a seed', async () => {
    const { source, encoder } = await setup();
    const sizes: number[] = [];
    const ages: number[] = [];
    for await (const batch of streamBatches(source, encoder, { batchSize: 10 })) {
      sizes.push(batch.size);
      ages.push(...batch.dense);
    }
    expect(sizes).toEqual([...Array(10).fill(10), 3]);
    expect(ages).toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  test('seeded shuffle is a repeatable permutation', async () => {
    const { source, encoder } = await setup();
    const order = async (seed: number, buffer: number) => {
      const ages: number[] = [];
      for await (const batch of prefetch(streamBatches(source, encoder, { batchSize: 16, shuffleSeed: seed, shuffleBuffer: buffer }))) ages.push(...batch.dense);
      return ages;
    };
    const first = await order(5, 32);
    expect(await order(5, 32)).toEqual(first);
    expect(await order(6, 32)).not.toEqual(first);
    expect([...first].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(first).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  test('prefetch reads ahead of the consumer', async () => {
    const produced: number[] = [];
    async function* numbers() {
      for (let i = 0; i < 4; i++) {
        produced.push(i);
        yield i;
      }
    }
    const seen: number[] = [];
    for await (const value of prefetch(numbers(), 1)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      // While the consumer works on item i, item i + 1 is already produced.
      seen.push(value);
      expect(produced.length).toBeGreaterThanOrEqual(Math.min(value + 2, 4));
    }
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  test('epoch batches cover every row once', async () => {
    const { source, encoder } = await setup();
    const all = await encodeAll(source, encoder);
    const ages: number[] = [];
    for (const batch of epochBatches(all, { batchSize: 25, seed: 1, epoch: 2 })) ages.push(...batch.dense);
    expect([...ages].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    const again: number[] = [];
    for (const batch of epochBatches(all, { batchSize: 25, seed: 1, epoch: 2 })) again.push(...batch.dense);
    expect(again).toEqual(ages);
  });
});

describe('streaming', () => {
  test('file larger than the heap limit streams', async () => {
    // A child process with a 32 MiB V8 heap encodes a file of about 64 MiB: holding the file,
    // or its rows, would exceed the heap and crash the child. The state is fitted on a small
    // file with the same names, so the big file is read once.
    const dir = temporaryDir();
    const file = join(dir, 'big.csv');
    const out = createWriteStream(file);
    const block = Array.from({ length: 1000 }, (_, i) => `name-${i % 50}-${'x'.repeat(180)},${i},${i % 2 ? '<=50K' : '>50K'}`).join('\n') + '\n';
    for (let i = 0; i < 340; i++) if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    await new Promise<void>((resolve) => out.end(() => resolve()));
    expect(statSync(file).size).toBeGreaterThan(64 * 1024 * 1024);
    const small = join(dir, 'small.csv');
    writeFileSync(small, block);

    const entry = join(dir, 'child.ts');
    // The bundle keeps npm packages external, so it must sit where Node resolves them: under node_modules.
    const bundleDir = join(process.cwd(), 'node_modules', '.cache', 'sparrow-tests');
    mkdirSync(bundleDir, { recursive: true });
    const bundle = join(bundleDir, `stream-child-${process.pid}.mjs`);
    const dataIndex = join(process.cwd(), 'src/data/index.ts');
    writeFileSync(entry, `
      import { BadRows, Encoder, csvSource, fit, streamBatches } from ${JSON.stringify(dataIndex)};
      const schema = ${JSON.stringify(schema)};
      const { state } = await fit(schema, csvSource(schema, ${JSON.stringify(small)}));
      const source = csvSource(schema, ${JSON.stringify(file)});
      let rows = 0;
      for await (const batch of streamBatches(source, new Encoder(state, source.columns), { batchSize: 4096, badRows: new BadRows(false) })) rows += batch.size;
      console.log(JSON.stringify({ rows, vocabulary: state.features.name.vocabulary.length, heap: process.memoryUsage().heapUsed }));
    `);
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: bundle, logLevel: 'error' });
    const child = spawnSync(process.execPath, ['--max-old-space-size=32', bundle], { cwd: process.cwd(), encoding: 'utf8', timeout: 300_000 });
    rmSync(bundle, { force: true });
    rmSync(dir, { recursive: true, force: true });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.rows).toBe(340_000);
    expect(result.vocabulary).toBe(50);
  });
});
