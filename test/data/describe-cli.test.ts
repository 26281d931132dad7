// The `sparrow describe` command: text and JSON output, bad-row options, schema files.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, test, vi } from 'vitest';

import { registerDescribe } from '../../src/cli/describe.js';
import { temporaryDir, writeTemporary } from './helpers.js';

async function runDescribe(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerDescribe(program);
  let output = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output += String(chunk);
    return true;
  });
  await program.parseAsync(['node', 'sparrow', 'describe', ...args]);
  vi.restoreAllMocks();
  return output;
}

afterEach(() => vi.restoreAllMocks());

describe('sparrow describe', () => {
  const schemaJson = {
    name: 'people',
    csv: { header: true, columns: ['city', 'age', 'label'] },
    missingMarkers: ['?'],
    features: [{ name: 'city', type: 'categorical', feeds: 'both', embeddingDim: 4 }, { name: 'age', type: 'numeric' }],
    labels: [{ name: 'label', type: 'binary', positive: ['1'], negative: ['0'] }],
  };
  const csv = 'city,age,label\nparis,30,1\n?,40,0\nrome,x,1\nparis,50,1\n';

  test('--json prints one JSON object last', async () => {
    const dir = temporaryDir();
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(schemaJson));
    const data = writeTemporary('people.csv', csv);

    const output = await runDescribe(['--schema', schemaFile, '--data', data, '--json', '--skip-bad-rows']);
    const result = JSON.parse(output.trim().split('\n').pop()!);
    expect(result.command).toBe('describe');
    expect(result.train.rows).toMatchObject({ read: 4, used: 3, skipped: 1, skippedByReason: { number: 1 } });
    expect(result.train.labels[0]).toMatchObject({ positive: 2, negative: 1 });
    const city = result.train.features.find((feature: { name: string }) => feature.name === 'city');
    expect(city).toMatchObject({ missing: 1, distinctValues: 1, vocabularySize: 3 });
    const age = result.train.features.find((feature: { name: string }) => feature.name === 'age');
    expect(age.numeric).toMatchObject({ count: 3, min: 30, max: 50, mean: 40 });
  });

  test('bad row fails without --skip-bad-rows', async () => {
    const dir = temporaryDir();
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(schemaJson));
    const data = writeTemporary('people.csv', csv);
    await expect(runDescribe(['--schema', schemaFile, '--data', data])).rejects.toThrow(/people\.csv line 4, column 2 "age": not a number \(value "x"\); fix the row, or skip and count bad rows \(--skip-bad-rows on the command line/);
  });

  test('text report of a synthetic preset with a split file', async () => {
    const rows = ['query,query_kind,item,item_category,price,consumed,relevant,pair_in_train'];
    for (let i = 0; i < 200; i++) rows.push(`order seafood/0${i % 5},targeted,seafood/0${i % 3},seafood,${10 + (i % 7)},${i % 2},${i % 2},1`);
    const data = writeTemporary('foodio.csv', rows.join('\n'));
    const output = await runDescribe(['--preset', 'foodio', '--data', data, '--split', '0.5,0.25,0.25', '--seed', '3']);
    expect(output).toMatch(/split {7}0\.5,0\.25,0\.25 \(seed 3\): train \d+, validation \d+, test \d+/);
    expect(output).toMatch(/consumed +binary +positive \d+/);
    expect(output).toMatch(/query-x-item +cross +wide/);
  });

  test('unknown preset names the presets', async () => {
    await expect(runDescribe(['--preset', 'nope'])).rejects.toThrow(/preset "nope" not found; available presets: adult, census-kdd/);
  });
});
