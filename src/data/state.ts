// The fitted state (schema, vocabularies, statistics, boundaries, hash seed): its ids, layout and JSON text; state-file.ts reads and writes files.

import type { BatchLayout, FieldLayout } from './batch.js';
import { SchemaError } from './errors.js';
import { feedsDeep, feedsOf, missingPolicyOf, parseSchema, type FeatureSpec, type Schema } from './schema.js';

export const FITTED_STATE_FORMAT = 'sparrow-fitted-state';
export const FITTED_STATE_VERSION = 1;

/** Fitted values of one feature. */
export interface FittedFeature {
  /** Numeric features: mean and standard deviation of the training values (population std). */
  mean?: number;
  std?: number;
  /** Bucketized features: the boundaries in force (given or learned from quantiles). */
  boundaries?: number[];
  /** Categorical features with a learned or given vocabulary: the values in id order (first value: id 1). */
  vocabulary?: string[];
}

/** Everything needed to encode raw rows exactly as in training; serialized as JSON. */
export interface FittedState {
  format: typeof FITTED_STATE_FORMAT;
  version: number;
  schema: Schema;
  hashSeed: number;
  /** Number of training rows the state was fitted on. */
  trainingRows: number;
  features: Record<string, FittedFeature>;
}

/**
 * Id layout of a sparse feature. Learned or given vocabulary: id 0 is out-of-vocabulary,
 * ids 1..n the vocabulary, then the missing id. Hashed: ids 0..buckets-1, then the missing
 * id. Bucketized: ids 0..boundaries.length, then the missing id. Cross: ids 0..buckets-1.
 * The missing id exists only with the own-id missing policy.
 */
export interface FieldIds {
  vocabularySize: number;
  oovId?: number;
  missingId?: number;
}

/** Computes the id layout of a sparse feature from its spec and fitted state. */
export function fieldIdsOf(feature: FeatureSpec, fitted: FittedFeature | undefined): FieldIds {
  if (feature.type === 'cross') return { vocabularySize: feature.buckets };
  const ownId = missingPolicyOf(feature) === 'own-id';
  let base: number;
  let oovId: number | undefined;
  if (feature.type === 'bucketized') {
    base = fitted!.boundaries!.length + 1;
  } else if (feature.type === 'categorical' && feature.hashBuckets !== undefined) {
    base = feature.hashBuckets;
  } else if (feature.type === 'categorical') {
    oovId = 0;
    base = 1 + fitted!.vocabulary!.length;
  } else {
    throw new SchemaError(`fieldIdsOf: "${feature.name}" is numeric and has no ids`);
  }
  return ownId ? { vocabularySize: base + 1, oovId, missingId: base } : { vocabularySize: base, oovId };
}

/** Builds the batch layout of a fitted schema: the sparse fields that feed a model, the numeric columns, the tasks. */
export function layoutOf(state: FittedState): BatchLayout {
  const fields: FieldLayout[] = [];
  const numeric: BatchLayout['numeric'] = [];
  for (const feature of state.schema.features) {
    const feeds = feedsOf(feature);
    if (feature.type === 'numeric') {
      numeric.push({ name: feature.name, feeds: feeds as BatchLayout['numeric'][number]['feeds'] });
      continue;
    }
    if (feeds === 'none') continue;

    const ids = fieldIdsOf(feature, state.features[feature.name]);
    const multiValued = feature.type === 'cross'
      ? feature.features.some((name) => isMultiValued(state.schema, name))
      : isMultiValued(state.schema, feature.name);
    fields.push({
      name: feature.name,
      kind: feature.type,
      feeds,
      vocabularySize: ids.vocabularySize,
      embeddingDim: feedsDeep(feeds) ? feature.embeddingDim : undefined,
      combiner: feature.combiner ?? 'mean',
      multiValued,
      weighted: feature.type === 'categorical' && feature.weightColumn !== undefined,
      oovId: ids.oovId,
      missingId: ids.missingId,
    });
  }
  const tasks = state.schema.labels.map((label) => ({ name: label.name, type: label.type }));
  return { fields, numeric, tasks };
}

/** Tells whether a feature's bag can have other than exactly one id (multi-valued, flags, or the empty missing policy). */
function isMultiValued(schema: Schema, name: string): boolean {
  const feature = schema.features.find((item) => item.name === name)!;
  if (feature.type === 'cross') return feature.features.some((item) => isMultiValued(schema, item));
  if (feature.type === 'numeric') return false;
  if (missingPolicyOf(feature) === 'empty') return true;
  return feature.type === 'categorical' && (feature.separator !== undefined || feature.flags !== undefined);
}

/** Serializes a fitted state to JSON text. */
export function serializeState(state: FittedState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Parses and checks fitted-state JSON text. */
export function parseState(text: string, origin = 'fitted state'): FittedState {
  let json: FittedState;
  try {
    json = JSON.parse(text) as FittedState;
  } catch (error) {
    throw new SchemaError(`${origin}: invalid JSON (${(error as Error).message})`);
  }
  if (json.format !== FITTED_STATE_FORMAT) throw new SchemaError(`${origin}: format is ${JSON.stringify(json.format)}, expected "${FITTED_STATE_FORMAT}"`);
  if (json.version !== FITTED_STATE_VERSION) throw new SchemaError(`${origin}: version ${json.version} is not supported (this Sparrow reads version ${FITTED_STATE_VERSION})`);
  parseSchema(json.schema);
  for (const feature of json.schema.features) {
    const fitted = json.features[feature.name];
    const needsVocabulary = feature.type === 'categorical' && feature.hashBuckets === undefined;
    if (needsVocabulary && !Array.isArray(fitted?.vocabulary)) throw new SchemaError(`${origin}: features.${feature.name}.vocabulary is missing`);
    if (feature.type === 'bucketized' && !Array.isArray(fitted?.boundaries)) throw new SchemaError(`${origin}: features.${feature.name}.boundaries is missing`);
    if (feature.type === 'numeric' && (typeof fitted?.mean !== 'number' || typeof fitted?.std !== 'number')) {
      throw new SchemaError(`${origin}: features.${feature.name}.mean/std are missing`);
    }
  }
  return json;
}
