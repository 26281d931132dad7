// Reading rows to serve (candidates to rank, rows to inspect) with a saved model's schema, with or without label columns.

import { parse } from 'csv-parse';

import type { Backend, BackendName } from '../backend/backend.js';
import type { SparseBatch } from '../data/batch.js';
import { BadRows, openFileStream, type Row } from '../data/csv.js';
import { Encoder } from '../data/encode.js';
import { DataFileError, SchemaError } from '../data/errors.js';
import { feedsOf, inputColumnsOf, sourceColumn, type Schema } from '../data/schema.js';
import { csvSource, type RowSource } from '../data/source.js';
import type { FittedState } from '../data/state.js';
import { loadModel, type LoadedModel } from '../models/checkpoint.js';
import { initBackend, type BackendOptions } from './common.js';

/**
 * Only value of the extra label columns added to rows read for serving. It is every label's
 * missing marker, with the mask policy, so no label makes a row bad.
 */
const NO_LABEL = '\u0000sparrow:no-label';

/** Rows read for serving: the encoded batch, and per row its file line and the raw text of one chosen column. */
export interface ServingRows {
  data: SparseBatch;
  /** 1-based line number in the file of each encoded row. */
  lines: number[];
  /** Raw value of `keyColumn` in each encoded row, when one was requested. */
  keys?: string[];
  /** Rows skipped as bad (with skipBadRows). */
  skipped: number;
}

export interface LoadServingOptions extends BackendOptions {
  model: string;
  data: string;
  skipBadRows?: boolean;
}

/** Initializes the backend, loads the model and reads `options.data` for serving. */
export async function loadForServing(options: LoadServingOptions, keyColumn?: string): Promise<{ backend: Backend; loaded: LoadedModel; rows: ServingRows }> {
  const backend = await initBackend(options);
  const loaded = loadModel(options.model, backend.name as BackendName);
  try {
    const rows = await readServingRows(loaded.config.data, options.data, { keyColumn, skipBadRows: options.skipBadRows ?? false });
    return { backend, loaded, rows };
  } catch (error) {
    loaded.model.dispose();
    throw error;
  }
}

/**
 * Reads and encodes a CSV file for serving with a model's fitted state. Label columns may be
 * absent, and label values are never read. A file with a header may have any columns in any
 * order, as long as they include the features' input columns. A file without a header has
 * either all of the schema's columns or all but the columns that only labels read.
 * Columns that only "bias" features (position, device) or unused features read may be absent
 * from a file with a header too, because a model leaves its bias tower out at serving. Such a
 * column is filled with a neutral value: "0" for numbers and flags, "1" for weights, an
 * out-of-vocabulary token for categories.
 */
export async function readServingRows(state: FittedState, path: string, options: { keyColumn?: string; skipBadRows: boolean }): Promise<ServingRows> {
  const schema = state.schema;
  const fileColumns = await servingColumns(schema, path);
  const inner = csvSource({ ...schema, csv: { ...schema.csv, columns: fileColumns } }, path);

  const fillable = unusedColumnFillers(schema);
  const fillers = fillable.filter(([column]) => !inner.columns.includes(column));
  const required = [...schema.features.flatMap(inputColumnsOf), ...(schema.lookups ?? []).map((lookup) => lookup.key)];
  const absent = [...new Set(required)].filter((column) => !inner.columns.includes(column) && !fillable.some(([name]) => name === column));
  if (absent.length > 0) {
    throw new SchemaError(`${path}: column${absent.length > 1 ? 's' : ''} ${absent.map((name) => `"${name}"`).join(', ')} not found (columns: ${inner.columns.join(', ')}); the model's features read ${absent.length > 1 ? 'them' : 'it'}`);
  }
  const keyIndex = options.keyColumn === undefined ? -1 : inner.columns.indexOf(options.keyColumn);
  if (options.keyColumn !== undefined && keyIndex < 0) throw new SchemaError(`${path}: column "${options.keyColumn}" not found; columns: ${inner.columns.join(', ')}`);

  // The labels read synthetic columns that contain only NO_LABEL, so the file's label columns, if any, are ignored.
  const labelColumns = schema.labels.map((label) => `${NO_LABEL}:${label.name}`);
  const servingState: FittedState = {
    ...state,
    schema: {
      ...schema,
      labels: schema.labels.map((label, i) => ({ ...label, column: labelColumns[i], missing: { markers: [NO_LABEL], policy: 'mask' } })),
    },
  };
  const extra = [...fillers.map(([, value]) => value), ...labelColumns.map(() => NO_LABEL)];
  const source: RowSource = {
    name: inner.name,
    columns: [...inner.columns, ...fillers.map(([column]) => column), ...labelColumns],
    async *rows(badRows: BadRows): AsyncIterable<Row> {
      for await (const row of inner.rows(badRows)) yield { ...row, values: [...row.values, ...extra] };
    },
  };

  const encoder = new Encoder(servingState, source.columns);
  const builder = encoder.builder();
  const badRows = new BadRows(options.skipBadRows);
  const lines: number[] = [];
  const keys: string[] | undefined = keyIndex >= 0 ? [] : undefined;
  for await (const row of source.rows(badRows)) {
    if (!builder.add(row, badRows)) continue;
    lines.push(row.line);
    keys?.push(String(row.values[keyIndex]));
  }
  if (badRows.count > 0) process.stderr.write(`${path}: ${badRows.summary()}\n`);
  return { data: builder.finish(), lines, keys, skipped: badRows.count };
}

/** Column names of the file: its header, or the schema's columns with or without the label-only columns. */
async function servingColumns(schema: Schema, path: string): Promise<string[]> {
  const all = schema.csv.columns;
  const first = await readFirstRecord(schema, path);
  if (schema.csv.header) {
    if (first === undefined) throw new DataFileError(`${path}: the file is empty but the schema expects a header line`);
    return first;
  }
  if (!all) throw new SchemaError('csv.columns: a CSV file without a header needs the column names in the schema');

  const featureColumns = new Set([...schema.features.flatMap(inputColumnsOf), ...(schema.lookups ?? []).map((lookup) => lookup.key)]);
  const labelOnly = schema.labels.map(sourceColumn).filter((column) => !featureColumns.has(column));
  const withoutLabels = all.filter((column) => !labelOnly.includes(column));
  if (first === undefined || first.length === all.length) return all;
  if (first.length === withoutLabels.length) return withoutLabels;
  throw new DataFileError(
    `${path}: the first row has ${first.length} fields, expected ${all.length} (${all.join(', ')}) or ${withoutLabels.length} without the label columns (${withoutLabels.join(', ')})`,
  );
}

/** Reads the first record of a CSV file with the schema's CSV options (the header line of a file with one). */
async function readFirstRecord(schema: Schema, path: string): Promise<string[] | undefined> {
  const csv = schema.csv;
  const parser = openFileStream(path).pipe(
    parse({
      delimiter: csv.delimiter ?? ',',
      ltrim: csv.trim ?? true,
      rtrim: csv.trim ?? true,
      quote: csv.quote === false ? false : (csv.quote ?? '"'),
      relax_column_count: true,
      skip_empty_lines: true,
      encoding: csv.encoding === 'latin1' ? 'latin1' : 'utf8',
      ...(csv.comment !== undefined ? { comment: csv.comment, comment_no_infix: true } : {}),
      to: 1,
    }),
  );
  // Leaving the loop early destroys the stream, so the rest of the file is never read.
  for await (const record of parser) return record as string[];
  return undefined;
}

/** Value put into an absent column of an unused categorical feature: a token outside every vocabulary (a hashed feature maps it to some bucket). */
const ABSENT = '\u0000sparrow:absent';

/**
 * Neutral values for the input columns that no model part used at serving reads, as
 * [column, value]. Those are the columns of features with feeds "bias" or "none" that no
 * cross feeding the wide or deep part uses.
 */
function unusedColumnFillers(schema: Schema): [string, string][] {
  const serving = new Set<string>();
  for (const feature of schema.features) {
    const feeds = feedsOf(feature);
    if (feeds === 'bias' || feeds === 'none') continue;
    serving.add(feature.name);
    if (feature.type === 'cross') for (const name of feature.features) serving.add(name);
  }
  const servingColumns = new Set(schema.features.filter((feature) => serving.has(feature.name)).flatMap(inputColumnsOf));

  const fillers = new Map<string, string>();
  for (const feature of schema.features) {
    if (feature.type === 'cross' || serving.has(feature.name)) continue;
    for (const column of inputColumnsOf(feature)) {
      if (servingColumns.has(column)) continue;
      let value = '0';
      if (feature.type === 'categorical' && column === feature.weightColumn) value = '1';
      else if (feature.type === 'categorical' && !feature.flags) value = ABSENT;
      fillers.set(column, value);
    }
  }
  return [...fillers];
}
