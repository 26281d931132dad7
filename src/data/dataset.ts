// Opening a data set from a preset or a schema file: its schema and the sources of its train, validation and test rows.

import { existsSync, readFileSync } from 'node:fs';

import { DataFileError, SchemaError } from './errors.js';
import { dataPath } from './paths.js';
import { getPreset, type Preset } from './presets/index.js';
import { parseSchema, type Schema } from './schema.js';
import { csvSource, parseSplit, splitSource, type RowSource, type SplitSpec } from './source.js';

export interface OpenDataOptions {
  /** Preset name (adult, census-kdd, movielens, foodio, mmoe-synthetic, youtube-sim). */
  preset?: string;
  /** A schema object, or the path of a schema JSON file; replaces the preset's schema. */
  schema?: Schema | string;
  /** Data file; default: the preset's file under the data directory, or its generator. */
  data?: string;
  /** Split fractions "train,validation[,test]" or an array; default: the preset's split for a single-file real data set. */
  split?: string | number[];
  /** Seed of the split and of synthetic generators; default 0. */
  seed?: number;
  /** Rows of a synthetic training set (its test set has a quarter as many). */
  rows?: number;
}

/** A data set ready to fit and encode. */
export interface OpenedData {
  schema: Schema;
  preset?: Preset;
  train: RowSource;
  validation?: RowSource;
  test?: RowSource;
  split?: SplitSpec;
  /** The whole file before the split, when split. */
  unsplit?: RowSource;
}

/** Reads and checks a schema JSON file. */
export function readSchemaFile(path: string): Schema {
  if (!existsSync(path)) throw new DataFileError(`schema file not found: ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SchemaError(`${path}: invalid JSON (${(error as Error).message})`);
  }
  return parseSchema(json);
}

/**
 * Opens a data set: the schema (from `schema`, else the preset), and row sources. A data
 * file with a split gives the train, validation and test parts of that file. Without a
 * split, the file is the training set, and the preset's test file is added when no data
 * file was given. A synthetic preset without a data file uses its generator.
 */
export function openData(options: OpenDataOptions): OpenedData {
  if (!options.preset && !options.schema) throw new SchemaError('give a preset (--preset) or a schema file (--schema)');
  const preset = options.preset ? getPreset(options.preset) : undefined;
  let schema: Schema;
  if (typeof options.schema === 'string') schema = readSchemaFile(options.schema);
  else schema = parseSchema(options.schema ?? preset!.schema);
  const seed = options.seed ?? 0;

  if (!options.data && preset?.generate) {
    if (options.split) throw new SchemaError(`--split: the ${preset.name} generator makes its own train and test sets; give --data to split a file`);
    const generated = preset.generate({ rows: options.rows, seed });
    return { schema, preset, train: generated.train, test: generated.test };
  }

  if (options.rows !== undefined) {
    const origin = options.data ? 'rows are read from --data' : `${preset ? `the ${preset.name} preset` : 'a schema file'} reads a data file`;
    throw new SchemaError(`--rows: only a synthetic preset generates rows, but ${origin}; leave --rows out`);
  }
  const dataFile = options.data ?? (preset?.files ? dataPath(preset.files.train) : undefined);
  if (!dataFile) throw new SchemaError('give a data file (--data)');
  if (!existsSync(dataFile)) {
    const hint = options.data ? '' : '; set SPARROW_DATA_DIR to the folder that contains the real data sets';
    throw new DataFileError(`data file not found: ${dataFile}${hint}`);
  }
  const source = csvSource(schema, dataFile);

  const fractions = typeof options.split === 'string' ? parseSplit(options.split) : (options.split ?? (options.data ? undefined : preset?.defaultSplit));
  if (fractions) {
    const split = { fractions, seed };
    return {
      schema, preset, split, unsplit: source,
      train: splitSource(source, split, 'train'),
      validation: splitSource(source, split, 'validation'),
      test: fractions.length > 2 ? splitSource(source, split, 'test') : undefined,
    };
  }

  const testFile = !options.data && preset?.files?.test ? dataPath(preset.files.test) : undefined;
  return { schema, preset, train: source, test: testFile && existsSync(testFile) ? csvSource(schema, testFile) : undefined };
}
