// The `sparrow describe` command: rows, label balance and per-column statistics of a data file.

import { Command } from 'commander';

import { describeData, formatDescription } from '../data/describe.js';
import { PRESETS } from '../data/presets/index.js';
import { TRAIN_DEFAULTS } from './train.js';

interface DescribeCliOptions {
  preset?: string;
  data?: string;
  schema?: string;
  json?: boolean;
  skipBadRows?: boolean;
  split?: string;
  seed: string;
  rows?: string;
}

/** Adds `sparrow describe` to the program. */
export function registerDescribe(program: Command): void {
  program
    .command('describe')
    .description('read a data file with a preset or schema and print rows read and skipped, label balance, and per column the vocabulary size, missing count and numeric statistics')
    .option('--preset <name>', `schema preset: ${Object.keys(PRESETS).join(', ')}`)
    .option('--data <csv>', 'data file (.csv, or .gz read as gzip); default: the preset\'s file under SPARROW_DATA_DIR, or its generator')
    .option('--schema <file>', 'schema JSON file (replaces the preset\'s schema)')
    .option('--json', 'print one JSON object as the last line')
    .option('--skip-bad-rows', 'skip and count bad rows instead of stopping at the first one')
    .option('--split <fractions>', 'split the file by a hash of each row into train,validation[,test] fractions, such as 0.5,0.25,0.25; statistics are of the train part')
    .option('--seed <n>', 'seed of the split and of synthetic generators; the default is sparrow train\'s, so both read the same training part', String(TRAIN_DEFAULTS.seed))
    .option('--rows <n>', 'rows to generate for a synthetic preset')
    .action(async (options: DescribeCliOptions) => {
      const seed = parseInteger(options.seed, '--seed');
      const rows = options.rows === undefined ? undefined : parseInteger(options.rows, '--rows');
      const description = await describeData({
        preset: options.preset,
        data: options.data,
        schema: options.schema,
        split: options.split,
        seed,
        rows,
        skipBadRows: options.skipBadRows,
      });
      if (options.json) process.stdout.write(`${JSON.stringify({ command: 'describe', ...description })}\n`);
      else process.stdout.write(formatDescription(description));
    });
}

function parseInteger(text: string, option: string): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new RangeError(`${option}: "${text}" is not an integer`);
  return value;
}
