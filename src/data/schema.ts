// The schema: how CSV columns become features (numeric, bucketized, categorical, crosses) and labels.

import { SchemaError } from './errors.js';

/**
 * Part of the model that a field feeds: the wide (linear) part, the deep part (embedded),
 * both, the shallow bias tower of a ranking model, or none (a field used only inside
 * crosses). The bias tower takes position and device features in training and is dropped
 * at serving.
 */
export type Feeds = 'wide' | 'deep' | 'both' | 'bias' | 'none';

/** Options for reading a CSV file. */
export interface CsvOptions {
  /** Field separator (one character, or a string such as ", "); default ",". */
  delimiter?: string;
  /** Whether the first non-comment line contains the column names; default false. */
  header?: boolean;
  /** Column names in file order: required without a header, checked against the header when given with one. */
  columns?: string[];
  /** Strip spaces and tabs around each field, outside quotes; default true. */
  trim?: boolean;
  /** A line that starts with this character is skipped (a non-data line such as a title). */
  comment?: string;
  /** Text encoding of the file; default utf8. */
  encoding?: 'utf8' | 'latin1';
  /** Quote character, or false for files where quotes are ordinary characters; default '"'. */
  quote?: string | false;
}

/** Missing-value handling of one column. */
export interface MissingSpec {
  /** Field values that mean "missing", compared after trimming; default: the schema's `missingMarkers`. */
  markers?: string[];
  /**
   * own-id: a reserved id (categorical and bucketized only); empty: an empty bag (categorical
   * and bucketized); default: replaced by `default`; mean: the training mean (numeric only);
   * error: a bad row.
   */
  policy?: 'own-id' | 'empty' | 'default' | 'mean' | 'error';
  /** Replacement value for the `default` policy, read as if it were the field's text. */
  default?: string | number;
}

interface FeatureBase {
  /** Field name in batches, checkpoints and crosses. */
  name: string;
  /** Source column; default: `name`. */
  column?: string;
  missing?: MissingSpec;
}

/** A numeric column that goes into the dense matrix. */
export interface NumericFeature extends FeatureBase {
  type: 'numeric';
  /** none: the raw value; standardize: (x - mean) / std with mean and std of the training data. */
  normalize?: 'none' | 'standardize';
  /** Default: deep. */
  feeds?: Exclude<Feeds, 'none'>;
}

interface SparseFeatureBase extends FeatureBase {
  /** Default: both. */
  feeds?: Feeds;
  /** Embedding dimension when the field feeds the deep part. */
  embeddingDim?: number;
  /** Pooling of a multi-valued bag in the deep part; default mean. */
  combiner?: 'sum' | 'mean';
}

/** A numeric column cut into buckets: the id is the number of boundaries that are <= the value. */
export interface BucketizedFeature extends SparseFeatureBase {
  type: 'bucketized';
  /** Sorted, distinct boundaries. */
  boundaries?: number[];
  /** Learn this many buckets from quantiles of the training data instead of giving boundaries. */
  quantiles?: number;
}

/** A categorical column, single- or multi-valued, with a learned, given or hashed vocabulary. */
export interface CategoricalFeature extends SparseFeatureBase {
  type: 'categorical';
  /** Splits the field into several values (a multi-valued field, encoded as a bag). */
  separator?: string;
  /** Multi-hot 0/1 columns: the bag contains the names of the columns whose value is 1 (instead of `column`). */
  flags?: string[];
  /** Column with one number per value (same separator), used as the per-value weights of the bag. */
  weightColumn?: string;
  /** Learned vocabulary: values seen at least `minCount` times in training, the `maxSize` most frequent. */
  vocabulary?: { minCount?: number; maxSize?: number };
  /** Given vocabulary, in id order. */
  values?: string[];
  /** Hash each value into this many buckets instead of using a vocabulary. */
  hashBuckets?: number;
}

/** The AND of two or more categorical or bucketized fields, hashed into buckets. */
export interface CrossFeature {
  name: string;
  type: 'cross';
  /** Names of the crossed features (categorical or bucketized), in hashing order. */
  features: string[];
  buckets: number;
  /** Default: wide. */
  feeds?: Feeds;
  embeddingDim?: number;
  combiner?: 'sum' | 'mean';
}

export type FeatureSpec = NumericFeature | BucketizedFeature | CategoricalFeature | CrossFeature;

/** One task's label. */
export interface LabelSpec {
  /** Task name. */
  name: string;
  /** Source column; default: `name`. */
  column?: string;
  /** binary: 1 or 0; numeric: the parsed number. */
  type: 'binary' | 'numeric';
  /** Binary label: the values that count as positive. */
  positive?: string[];
  /** Binary label: the values that count as negative; without it every other value is negative. */
  negative?: string[];
  /** Binary label from a number: positive when the value is >= threshold. */
  threshold?: number;
  /** error (default): a missing label is a bad row; mask: the label is NaN and its mask 0. */
  missing?: { markers?: string[]; policy?: 'error' | 'mask' };
}

/** A side table joined to each row by a key column (for example MovieLens users and items). */
export interface LookupSpec {
  /** Path relative to the directory of the main data file. */
  file: string;
  /** Column present in both files. */
  key: string;
  csv: CsvOptions;
}

/** A data set's schema: how to read the file and what each column becomes. */
export interface Schema {
  name?: string;
  description?: string;
  csv: CsvOptions;
  /** Default missing-value markers of every column; default [""] (an empty field). */
  missingMarkers?: string[];
  /** Seed of the hashed columns and crosses; default 0. */
  hashSeed?: number;
  lookups?: LookupSpec[];
  features: FeatureSpec[];
  labels: LabelSpec[];
}

/** Returns the source column of a feature or label. */
export function sourceColumn(spec: { name: string; column?: string }): string {
  return spec.column ?? spec.name;
}

/** Returns a feature's feeds value, or its type's default. */
export function feedsOf(feature: FeatureSpec): Feeds {
  if (feature.feeds !== undefined) return feature.feeds;
  if (feature.type === 'numeric') return 'deep';
  if (feature.type === 'cross') return 'wide';
  return 'both';
}

/** Tells whether a field with this feeds value is embedded (deep part or bias tower), so needs an embedding dimension. */
export function feedsDeep(feeds: Feeds): boolean {
  return feeds === 'deep' || feeds === 'both' || feeds === 'bias';
}

/** Returns the missing policy in force for a feature. */
export function missingPolicyOf(feature: Exclude<FeatureSpec, CrossFeature>): NonNullable<MissingSpec['policy']> {
  if (feature.missing?.policy !== undefined) return feature.missing.policy;
  return feature.type === 'numeric' ? 'error' : 'own-id';
}

/** Returns the missing markers in force for a column spec. */
export function missingMarkersOf(schema: Schema, spec: { missing?: { markers?: string[] } }): string[] {
  return spec.missing?.markers ?? schema.missingMarkers ?? [''];
}

/**
 * Checks a parsed schema JSON and returns it typed. Throws SchemaError naming the bad key
 * (as a JSON path such as `features[3].boundaries`) and the valid values.
 */
export function parseSchema(json: unknown): Schema {
  const schema = json as Schema;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SchemaError('schema: expected a JSON object');
  checkKeys(json, KEYS.schema, 'schema');
  checkCsv(schema.csv, 'csv');
  if (schema.missingMarkers !== undefined) checkStrings(schema.missingMarkers, 'missingMarkers');
  if (schema.hashSeed !== undefined) checkInteger(schema.hashSeed, 'hashSeed', 0, 4294967295);
  if (schema.lookups !== undefined) {
    if (!Array.isArray(schema.lookups)) throw new SchemaError('lookups: expected an array');
    schema.lookups.forEach((lookup, i) => {
      const path = `lookups[${i}]`;
      if (typeof lookup !== 'object' || lookup === null) throw new SchemaError(`${path}: expected an object with file, key and csv`);
      checkKeys(lookup, KEYS.lookup, path);
      if (typeof lookup.file !== 'string' || lookup.file === '') throw new SchemaError(`${path}.file: expected a file name`);
      if (typeof lookup.key !== 'string') throw new SchemaError(`${path}.key: expected a column name`);
      checkCsv(lookup.csv, `${path}.csv`);
    });
  }

  if (!Array.isArray(schema.features) || schema.features.length === 0) throw new SchemaError('features: expected a non-empty array');
  if (!Array.isArray(schema.labels)) throw new SchemaError('labels: expected an array (it may be empty for prediction-only schemas)');

  const names = new Set<string>();
  const byName = new Map<string, FeatureSpec>();
  schema.features.forEach((feature, i) => {
    const path = `features[${i}]`;
    if (typeof feature.name !== 'string' || feature.name === '') throw new SchemaError(`${path}.name: expected a non-empty string`);
    if (names.has(feature.name)) throw new SchemaError(`${path}.name: "${feature.name}" is used twice; feature names must be unique`);
    names.add(feature.name);
    checkFeature(feature, `${path} ("${feature.name}")`, byName);
    byName.set(feature.name, feature);
  });

  const labelColumns = new Set<string>();
  const tasks = new Set<string>();
  schema.labels.forEach((label, i) => {
    const path = `labels[${i}] ("${label.name}")`;
    if (typeof label.name !== 'string' || label.name === '') throw new SchemaError(`labels[${i}].name: expected a non-empty string`);
    if (tasks.has(label.name)) throw new SchemaError(`${path}.name: task "${label.name}" is declared twice`);
    tasks.add(label.name);
    checkLabel(label, path);
    labelColumns.add(sourceColumn(label));
  });

  // A label column used as an input would leak the label into the features.
  for (const feature of schema.features) {
    for (const column of inputColumnsOf(feature)) {
      if (labelColumns.has(column)) {
        throw new SchemaError(`features: "${feature.name}" reads column "${column}", which is a label column; remove it from the features`);
      }
    }
  }
  return schema;
}

/** Lists the CSV columns a feature reads (none for a cross, which reads other features). */
export function inputColumnsOf(feature: FeatureSpec): string[] {
  if (feature.type === 'cross') return [];
  if (feature.type === 'categorical' && feature.flags) return [...feature.flags, ...(feature.weightColumn ? [feature.weightColumn] : [])];
  const columns = [sourceColumn(feature)];
  if (feature.type === 'categorical' && feature.weightColumn) columns.push(feature.weightColumn);
  return columns;
}

/** Keys that each part of a schema may have; any other key is most likely a typo. */
const KEYS = {
  schema: ['name', 'description', 'csv', 'missingMarkers', 'hashSeed', 'lookups', 'features', 'labels'],
  csv: ['delimiter', 'header', 'columns', 'trim', 'comment', 'encoding', 'quote'],
  lookup: ['file', 'key', 'csv'],
  missing: ['markers', 'policy', 'default'],
  numeric: ['name', 'type', 'column', 'missing', 'normalize', 'feeds'],
  bucketized: ['name', 'type', 'column', 'missing', 'feeds', 'embeddingDim', 'combiner', 'boundaries', 'quantiles'],
  categorical: ['name', 'type', 'column', 'missing', 'feeds', 'embeddingDim', 'combiner', 'separator', 'flags', 'weightColumn', 'vocabulary', 'values', 'hashBuckets'],
  vocabulary: ['minCount', 'maxSize'],
  cross: ['name', 'type', 'features', 'buckets', 'feeds', 'embeddingDim', 'combiner'],
  label: ['name', 'column', 'type', 'positive', 'negative', 'threshold', 'missing'],
  labelMissing: ['markers', 'policy'],
} as const;

/** Throws a SchemaError naming the first key of `value` (an object at `path`) that is not in `allowed`. */
function checkKeys(value: object, allowed: readonly string[], path: string): void {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) throw new SchemaError(`${path}: unknown key "${unknown}"; the keys here are ${allowed.join(', ')}`);
}

function checkCsv(csv: CsvOptions | undefined, path: string): void {
  if (typeof csv !== 'object' || csv === null) throw new SchemaError(`${path}: expected an object with the CSV options`);
  checkKeys(csv, KEYS.csv, path);
  if (csv.delimiter !== undefined && (typeof csv.delimiter !== 'string' || csv.delimiter === '')) {
    throw new SchemaError(`${path}.delimiter: expected a non-empty string`);
  }
  if (csv.columns !== undefined) checkStrings(csv.columns, `${path}.columns`);
  if (!csv.header && !csv.columns) throw new SchemaError(`${path}: a file without a header needs "columns" (the column names in file order)`);
  if (csv.columns && new Set(csv.columns).size !== csv.columns.length) throw new SchemaError(`${path}.columns: column names must be unique`);
  if (csv.encoding !== undefined && csv.encoding !== 'utf8' && csv.encoding !== 'latin1') {
    throw new SchemaError(`${path}.encoding: "${String(csv.encoding)}" is not supported; use utf8 or latin1`);
  }
  if (csv.comment !== undefined && (typeof csv.comment !== 'string' || csv.comment.length !== 1)) {
    throw new SchemaError(`${path}.comment: expected one character`);
  }
}

function checkFeature(feature: FeatureSpec, path: string, earlier: Map<string, FeatureSpec>): void {
  if (feature.type === 'numeric' || feature.type === 'bucketized' || feature.type === 'categorical' || feature.type === 'cross') checkKeys(feature, KEYS[feature.type], path);
  if (feature.type !== 'cross' && typeof feature.missing === 'object' && feature.missing !== null) checkKeys(feature.missing, KEYS.missing, `${path}.missing`);
  if (feature.type === 'categorical' && typeof feature.vocabulary === 'object' && feature.vocabulary !== null) {
    checkKeys(feature.vocabulary, KEYS.vocabulary, `${path}.vocabulary`);
  }
  const feeds = feature.feeds;
  if (feeds !== undefined && !['wide', 'deep', 'both', 'bias', 'none'].includes(feeds)) {
    throw new SchemaError(`${path}.feeds: "${String(feeds)}" is not one of wide, deep, both, bias, none`);
  }
  if (feature.type !== 'numeric' && feature.type !== 'cross' && feature.missing?.policy === 'mean') {
    throw new SchemaError(`${path}.missing.policy: "mean" applies to numeric features only`);
  }
  if (feature.type !== 'cross' && feature.missing?.policy === 'default' && feature.missing.default === undefined) {
    throw new SchemaError(`${path}.missing.default: the "default" policy needs a default value`);
  }

  switch (feature.type) {
    case 'numeric':
      if (feeds === 'none') throw new SchemaError(`${path}.feeds: a numeric feature cannot be "none"`);
      if (feature.normalize !== undefined && feature.normalize !== 'none' && feature.normalize !== 'standardize') {
        throw new SchemaError(`${path}.normalize: "${String(feature.normalize)}" is not one of none, standardize`);
      }
      if (feature.missing?.policy === 'own-id' || feature.missing?.policy === 'empty') {
        throw new SchemaError(`${path}.missing.policy: a numeric feature takes default, mean or error`);
      }
      return;

    case 'bucketized':
      if ((feature.boundaries === undefined) === (feature.quantiles === undefined)) {
        throw new SchemaError(`${path}: give exactly one of "boundaries" and "quantiles"`);
      }
      if (feature.boundaries !== undefined) checkBoundaries(feature.boundaries, `${path}.boundaries`);
      if (feature.quantiles !== undefined) checkInteger(feature.quantiles, `${path}.quantiles`, 2, 65536);
      checkSparse(feature, path);
      return;

    case 'categorical': {
      const kinds = [feature.vocabulary, feature.values, feature.hashBuckets].filter((kind) => kind !== undefined).length;
      if (kinds > 1) throw new SchemaError(`${path}: give at most one of "vocabulary", "values" and "hashBuckets"`);
      if (feature.values !== undefined) checkStrings(feature.values, `${path}.values`);
      if (feature.values !== undefined && new Set(feature.values).size !== feature.values.length) {
        throw new SchemaError(`${path}.values: values must be unique`);
      }
      if (feature.hashBuckets !== undefined) checkInteger(feature.hashBuckets, `${path}.hashBuckets`, 1, 4294967295);
      if (feature.vocabulary?.minCount !== undefined) checkInteger(feature.vocabulary.minCount, `${path}.vocabulary.minCount`, 1);
      if (feature.vocabulary?.maxSize !== undefined) checkInteger(feature.vocabulary.maxSize, `${path}.vocabulary.maxSize`, 1);
      if (feature.flags !== undefined) {
        checkStrings(feature.flags, `${path}.flags`);
        if (feature.column !== undefined) throw new SchemaError(`${path}: give "flags" or "column", not both`);
        if (feature.separator !== undefined) throw new SchemaError(`${path}: "separator" does not apply to "flags"`);
      }
      if (feature.separator !== undefined && (typeof feature.separator !== 'string' || feature.separator === '')) {
        throw new SchemaError(`${path}.separator: expected a non-empty string`);
      }
      checkSparse(feature, path);
      return;
    }

    case 'cross':
      if (!Array.isArray(feature.features) || feature.features.length < 2) {
        throw new SchemaError(`${path}.features: a cross needs at least two feature names`);
      }
      for (const name of feature.features) {
        const crossed = earlier.get(name);
        if (!crossed) throw new SchemaError(`${path}.features: "${name}" is not a feature declared before this cross`);
        if (crossed.type !== 'categorical' && crossed.type !== 'bucketized') {
          throw new SchemaError(`${path}.features: "${name}" is ${crossed.type}; crosses take categorical or bucketized features`);
        }
      }
      checkInteger(feature.buckets, `${path}.buckets`, 1, 4294967295);
      checkSparse(feature, path);
      return;

    default:
      throw new SchemaError(`${path}.type: "${String((feature as { type: unknown }).type)}" is not one of numeric, bucketized, categorical, cross`);
  }
}

function checkSparse(feature: BucketizedFeature | CategoricalFeature | CrossFeature, path: string): void {
  if (feedsDeep(feedsOf(feature))) {
    if (feature.embeddingDim === undefined) throw new SchemaError(`${path}.embeddingDim: a field that feeds the deep part needs an embedding dimension`);
    checkInteger(feature.embeddingDim, `${path}.embeddingDim`, 1, 65536);
  }
  if (feature.combiner !== undefined && feature.combiner !== 'sum' && feature.combiner !== 'mean') {
    throw new SchemaError(`${path}.combiner: "${String(feature.combiner)}" is not one of sum, mean`);
  }
}

function checkLabel(label: LabelSpec, path: string): void {
  checkKeys(label, KEYS.label, path);
  if (typeof label.missing === 'object' && label.missing !== null) checkKeys(label.missing, KEYS.labelMissing, `${path}.missing`);
  if (label.type === 'binary') {
    const byValues = label.positive !== undefined;
    const byThreshold = label.threshold !== undefined;
    if (byValues === byThreshold) throw new SchemaError(`${path}: a binary label needs exactly one of "positive" (values) and "threshold" (number)`);
    if (label.positive !== undefined) checkStrings(label.positive, `${path}.positive`);
    if (label.negative !== undefined) checkStrings(label.negative, `${path}.negative`);
    if (label.negative !== undefined && !byValues) throw new SchemaError(`${path}.negative: applies only with "positive"`);
    if (byThreshold && !Number.isFinite(label.threshold)) throw new SchemaError(`${path}.threshold: expected a finite number`);
  } else if (label.type !== 'numeric') {
    throw new SchemaError(`${path}.type: "${String(label.type)}" is not one of binary, numeric`);
  }
  const policy = label.missing?.policy;
  if (policy !== undefined && policy !== 'error' && policy !== 'mask') throw new SchemaError(`${path}.missing.policy: "${String(policy)}" is not one of error, mask`);
}

function checkStrings(values: unknown, path: string): void {
  if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) throw new SchemaError(`${path}: expected an array of strings`);
}

function checkInteger(value: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SchemaError(`${path}: ${JSON.stringify(value)} is not an integer from ${min} to ${max}`);
  }
}

function checkBoundaries(boundaries: unknown, path: string): void {
  if (!Array.isArray(boundaries) || boundaries.length === 0 || boundaries.some((value) => typeof value !== 'number' || !Number.isFinite(value))) {
    throw new SchemaError(`${path}: expected a non-empty array of finite numbers`);
  }
  for (let i = 1; i < boundaries.length; i++) {
    if (boundaries[i] <= boundaries[i - 1]) throw new SchemaError(`${path}: boundaries must increase strictly (${boundaries[i - 1]} then ${boundaries[i]})`);
  }
}
