// Row sources: a CSV file joined with its lookup tables, a generator, and a seeded split of either.

import { dirname, join } from 'node:path';

import { murmur3String } from '../sparse/hash.js';
import { seedToU32 } from '../ops/random-hash.js';
import { BadRows, openCsv, type Row } from './csv.js';
import { SchemaError } from './errors.js';
import type { Schema } from './schema.js';

/** A re-readable stream of rows with fixed column names. */
export interface RowSource {
  /** Name for messages: a file path or a generator name. */
  name: string;
  /** Column names, known before reading (from the schema or the generator). */
  columns: string[];
  /** Reads the rows from the start; each call is a new pass. Bad rows go to `badRows`. */
  rows(badRows: BadRows): AsyncIterable<Row>;
}

/**
 * Makes a source of a CSV file read with the schema's CSV options, each row extended with
 * the columns of the schema's lookup tables (matched on the lookup's key column). Lookup
 * tables are read into memory once, and the main file streams.
 */
export function csvSource(schema: Schema, path: string): RowSource {
  const base = schema.csv.columns;
  if (!base) throw new SchemaError('csv.columns: a CSV source needs the column names in the schema, even for a file with a header');
  const lookups = schema.lookups ?? [];
  const columns = [...base];
  const lookupColumns: string[][] = [];
  for (const [i, lookup] of lookups.entries()) {
    const names = lookup.csv.columns ?? [];
    if (!names.includes(lookup.key)) throw new SchemaError(`lookups[${i}].key: "${lookup.key}" is not one of its columns`);
    if (!base.includes(lookup.key)) throw new SchemaError(`lookups[${i}].key: "${lookup.key}" is not a column of the main file`);
    const extra = names.filter((name) => name !== lookup.key);
    for (const name of extra) {
      if (columns.includes(name)) throw new SchemaError(`lookups[${i}].csv.columns: "${name}" is already a column; rename one of them`);
      columns.push(name);
    }
    lookupColumns.push(extra);
  }

  let tables: Map<string, string[]>[] | undefined;

  async function loadTables(): Promise<Map<string, string[]>[]> {
    const loaded: Map<string, string[]>[] = [];
    for (const [i, lookup] of lookups.entries()) {
      // A bad line in a lookup table is always an error: skipping it would drop every row that uses it.
      const csv = await openCsv(join(dirname(path), lookup.file), lookup.csv, new BadRows(false));
      const keyIndex = csv.columns.indexOf(lookup.key);
      const extraIndex = lookupColumns[i].map((name) => csv.columns.indexOf(name));
      const table = new Map<string, string[]>();
      for await (const row of csv.rows) {
        const key = String(row.values[keyIndex]);
        if (table.has(key)) throw new SchemaError(`${row.file} line ${row.line}: key ${lookup.key}=${JSON.stringify(key)} occurs twice in the lookup table`);
        table.set(key, extraIndex.map((index) => String(row.values[index])));
      }
      loaded.push(table);
    }
    return loaded;
  }

  return {
    name: path,
    columns,
    async *rows(badRows: BadRows): AsyncIterable<Row> {
      tables ??= await loadTables();
      const csv = await openCsv(path, schema.csv, badRows);
      const keyIndex = lookups.map((lookup) => csv.columns.indexOf(lookup.key));
      rows: for await (const row of csv.rows) {
        if (lookups.length === 0) {
          yield row;
          continue;
        }
        const values = row.values.slice();
        for (const [i, lookup] of lookups.entries()) {
          const key = String(row.values[keyIndex[i]]);
          const extra = tables[i].get(key);
          if (!extra) {
            badRows.report({
              file: row.file, line: row.line, column: lookup.key, columnNumber: keyIndex[i] + 1, value: key,
              reason: 'lookup', detail: `key not found in lookup table ${lookup.file}`,
            });
            continue rows;
          }
          values.push(...extra);
        }
        yield { file: row.file, line: row.line, values };
      }
    },
  };
}

/** Names of the parts of a three-way split; a two-way split has train and validation. */
export const SPLIT_PARTS = ['train', 'validation', 'test'] as const;
export type SplitPart = (typeof SPLIT_PARTS)[number];

/** Fractions of a seeded split, such as [0.5, 0.25, 0.25]. */
export interface SplitSpec {
  fractions: number[];
  seed: number;
}

/** Parses "0.5,0.25,0.25" into fractions that must be positive and sum to 1 (within 1e-6). */
export function parseSplit(text: string): number[] {
  const fractions = text.split(',').map((part) => Number(part.trim()));
  if (fractions.length < 2 || fractions.length > 3 || fractions.some((value) => !(value > 0 && value < 1))) {
    throw new RangeError(`--split: "${text}" must be two or three fractions between 0 and 1, such as 0.5,0.25,0.25`);
  }
  const sum = fractions.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new RangeError(`--split: the fractions of "${text}" sum to ${sum}, not 1`);
  return fractions;
}

/**
 * Index of the split part that a row belongs to. The row's field texts are joined with
 * U+001F and hashed with MurmurHash3 (seed: seedToU32(seed)); hash / 2^32 falls into one of
 * the cumulative fraction intervals. The part depends only on the row's content and the
 * seed, never on reading order, so identical rows always land in one part.
 */
export function splitPartOf(values: readonly (string | number)[], split: SplitSpec): number {
  const u = murmur3String(values.join('\u001f'), seedToU32(split.seed)) / 4294967296;
  let cumulative = 0;
  for (let part = 0; part < split.fractions.length - 1; part++) {
    cumulative += split.fractions[part];
    if (u < cumulative) return part;
  }
  return split.fractions.length - 1;
}

/** Filters `source` to the rows that fall into one part of a seeded split. */
export function splitSource(source: RowSource, split: SplitSpec, part: SplitPart): RowSource {
  const index = SPLIT_PARTS.indexOf(part);
  if (index < 0 || index >= split.fractions.length) {
    throw new RangeError(`split: part "${part}" does not exist in a ${split.fractions.length}-way split`);
  }
  return {
    name: `${source.name} (${part} part of split ${split.fractions.join(',')}, seed ${split.seed})`,
    columns: source.columns,
    async *rows(badRows: BadRows): AsyncIterable<Row> {
      for await (const row of source.rows(badRows)) {
        if (splitPartOf(row.values, split) === index) yield row;
      }
    },
  };
}
