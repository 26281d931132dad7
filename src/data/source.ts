// Row sources read from CSV files: a file joined with its lookup tables. Sources that need no file system are in row-source.ts.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { BadRows, openCsv, type Row } from './csv.js';
import { DataFileError, SchemaError } from './errors.js';
import type { RowSource } from './row-source.js';
import type { Schema } from './schema.js';

export * from './row-source.js';

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
      const tablePath = join(dirname(path), lookup.file);
      if (!existsSync(tablePath)) {
        throw new DataFileError(
          `lookup table not found: ${tablePath}; the schema's lookups[${i}] joins "${lookup.file}" on column "${lookup.key}", and it is read from the folder of the data file ${path}, so put a copy there`,
        );
      }
      const csv = await openCsv(tablePath, lookup.csv, new BadRows(false));
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
