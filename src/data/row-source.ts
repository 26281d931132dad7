// Row sources without file access: the RowSource interface and a seeded split of any source.

import { murmur3String } from '../sparse/hash.js';
import { seedToU32 } from '../ops/random-hash.js';
import type { BadRows, Row } from './rows.js';

/** A re-readable stream of rows with fixed column names. */
export interface RowSource {
  /** Name for messages: a file path or a generator name. */
  name: string;
  /** Column names, known before reading (from the schema or the generator). */
  columns: string[];
  /** Reads the rows from the start; each call is a new pass. Bad rows go to `badRows`. */
  rows(badRows: BadRows): AsyncIterable<Row>;
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
