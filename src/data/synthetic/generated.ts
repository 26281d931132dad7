// A row source whose rows come from a generator function of the row index (any size, no files).

import type { BadRows, Row } from '../csv.js';
import type { RowSource } from '../source.js';

/**
 * Makes a source of `rows` rows where row i is `makeRow(i)`. Each row must depend only on
 * the generator's seed and i, so that every pass (fitting, encoding, each epoch) reads the
 * same rows and a row can be generated without the ones before it.
 */
export function generatedSource(name: string, columns: string[], rows: number, makeRow: (index: number) => (string | number)[]): RowSource {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`${name}: rows ${rows} is not a positive integer`);
  return {
    name,
    columns,
    async *rows(_badRows: BadRows): AsyncIterable<Row> {
      for (let index = 0; index < rows; index++) {
        const values = makeRow(index);
        if (values.length !== columns.length) throw new Error(`${name}: row ${index} has ${values.length} values, expected ${columns.length}`);
        yield { file: name, line: index + 1, values };
      }
    },
  };
}

/** Checks an integer option of a generator. */
export function checkCount(generator: string, option: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${generator}: ${option} ${value} must be an integer >= ${min}`);
}

/** Checks a probability option of a generator. */
export function checkFraction(generator: string, option: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${generator}: ${option} ${value} must be in [0, 1]`);
}
