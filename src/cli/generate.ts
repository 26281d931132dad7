// The `sparrow generate` command: a synthetic preset's rows as a CSV file that `--data` reads back.

import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';

import { BadRows } from '../data/csv.js';
import { getPreset, PRESETS } from '../data/presets/index.js';
import { writeAll, writeFileAtomic } from '../io/atomic.js';
import { checkOutputFile, parseInteger, printJson } from './common.js';
import { TRAIN_DEFAULTS } from './train.js';

interface GenerateCliOptions {
  preset: string;
  rows?: string;
  seed: string;
  part: string;
  out: string;
  json?: boolean;
}

/** Rows stringified per chunk, so a large file is not one array of all its records. */
const CHUNK_ROWS = 10_000;

/** Returns the names of the presets that generate their rows. */
function syntheticPresets(): string[] {
  return Object.values(PRESETS)
    .filter((preset) => preset.generate !== undefined)
    .map((preset) => preset.name);
}

/** Adds `sparrow generate`. */
export function registerGenerate(program: Command): void {
  const synthetic = syntheticPresets();
  program
    .command('generate')
    .description('write the rows of a synthetic preset to a CSV file with a header, which --data of train, eval, predict and rank reads')
    .requiredOption('--preset <name>', `synthetic preset: ${synthetic.join(', ')}`)
    .requiredOption('--out <csv>', 'file to write (atomically)')
    .option('--rows <n>', "rows of the training part (the test part has a quarter as many); default: the preset's")
    .option('--seed <n>', "generator seed; the default is sparrow train's, so the rows are those it trains on", String(TRAIN_DEFAULTS.seed))
    .option('--part <name>', 'train or test', 'train')
    .option('--json', 'print one JSON object as the last line')
    .action(async (options: GenerateCliOptions) => runGenerate(options));
}

async function runGenerate(options: GenerateCliOptions): Promise<void> {
  const preset = getPreset(options.preset);
  if (!preset.generate) {
    throw new Error(`--preset: ${preset.name} reads a real data set and generates no rows; use one of ${syntheticPresets().join(', ')}`);
  }
  if (options.part !== 'train' && options.part !== 'test') throw new Error(`--part: invalid value "${options.part}"; use train or test`);
  const seed = parseInteger(options.seed, '--seed');
  const rows = options.rows === undefined ? undefined : parseInteger(options.rows, '--rows', 1);
  checkOutputFile(options.out);

  const source = preset.generate({ rows, seed })[options.part];
  const delimiter = preset.schema.csv.delimiter ?? ',';
  const chunks = [stringify([source.columns], { delimiter })];
  let pending: (string | number)[][] = [];
  let count = 0;
  for await (const row of source.rows(new BadRows(false))) {
    pending.push(row.values);
    count++;
    if (pending.length === CHUNK_ROWS) {
      chunks.push(stringify(pending, { delimiter }));
      pending = [];
    }
  }
  if (pending.length > 0) chunks.push(stringify(pending, { delimiter }));

  const encoder = new TextEncoder();
  writeFileAtomic(options.out, (fd) => {
    for (const chunk of chunks) writeAll(fd, encoder.encode(chunk));
  });
  if (options.json) printJson({ preset: preset.name, part: options.part, rows: count, seed, columns: source.columns, out: options.out });
  else process.stderr.write(`wrote ${count} ${options.part} rows of ${preset.name} (seed ${seed}) to ${options.out}\n`);
}
