// Shared helpers of the data tests: real-data files under SPARROW_DATA_DIR, temporary files, rows.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

import { dataPath, type BadRows, type RowSource } from '../../src/data/index.js';

/**
 * Path of a real data file, or undefined when it is absent. With CI=true an absent file
 * throws, so CI never passes without the data; elsewhere the caller skips its test and this
 * prints why.
 */
export function realDataFile(relative: string): string | undefined {
  const path = dataPath(relative);
  if (existsSync(path)) return path;
  const message = `real data file ${path} not found; set SPARROW_DATA_DIR to the folder containing the real data sets`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true requires it)`);
  process.stderr.write(`skipped: ${message}\n`);
  return undefined;
}

/** Creates a fresh temporary directory. */
export function temporaryDir(): string {
  return mkdtempSync(join(tmpdir(), 'sparrow-data-'));
}

/** Writes `text` to a file in a fresh temporary directory (gzipped when the name ends in .gz) and returns its path. */
export function writeTemporary(name: string, text: string): string {
  const path = join(temporaryDir(), name);
  writeFileSync(path, name.endsWith('.gz') ? gzipSync(text) : text);
  return path;
}

/** Collects every row of a source. */
export async function collectRows(source: RowSource, badRows: BadRows): Promise<(string | number)[][]> {
  const rows: (string | number)[][] = [];
  for await (const row of source.rows(badRows)) rows.push(row.values);
  return rows;
}
