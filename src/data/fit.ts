// The fitting pass: one streaming read of the training rows that learns vocabularies, statistics and quantiles.

import { BadRows, type Row } from './rows.js';
import { SchemaError } from './errors.js';
import { SeededRandom } from './random.js';
import {
  bindColumns, markerSets, readCell, readLabel, readNumberCell, readTokens, RowProblem,
  type BoundColumns, type ColumnFeature,
} from './read-values.js';
import { inputColumnsOf, missingPolicyOf, sourceColumn, type Schema } from './schema.js';
import type { RowSource } from './source.js';
import { FITTED_STATE_FORMAT, FITTED_STATE_VERSION, fieldIdsOf, type FittedFeature, type FittedState } from './state.js';

/** Count, missing count and moments of a numeric column. */
export interface NumericStats {
  count: number;
  missing: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
}

/** Statistics of one feature over the fitted rows. */
export interface FeatureSummary {
  name: string;
  type: 'numeric' | 'bucketized' | 'categorical' | 'cross';
  /** Columns the feature reads; for a cross, the crossed features. */
  columns: string[];
  /** Rows where the value was missing (a missing marker). */
  missing: number;
  /** Numeric and bucketized features: statistics of the parsed values. */
  numeric?: NumericStats;
  /** Sparse features: number of ids, including the out-of-vocabulary and missing ids. */
  vocabularySize?: number;
  /** Categorical features: distinct values seen in training (counted up to DISTINCT_CAP). */
  distinctValues?: number;
  /** Whether distinctValues stopped counting at DISTINCT_CAP. */
  distinctCapped?: boolean;
  /** Categorical features with a vocabulary: training values that map to the out-of-vocabulary id (below minCount, past maxSize, or not in the given list). */
  outOfVocabulary?: number;
  /** Multi-valued categorical features: largest bag seen. */
  maxBagSize?: number;
}

/** Balance or statistics of one label over the fitted rows. */
export interface LabelSummary {
  name: string;
  type: 'binary' | 'numeric';
  column: string;
  missing: number;
  positive?: number;
  negative?: number;
  /** positive / (positive + negative). */
  positiveRate?: number;
  numeric?: NumericStats;
}

/** Rows, labels and features seen by one fitting pass: what `sparrow describe` prints. */
export interface DataSummary {
  source: string;
  rows: {
    /** Rows used plus rows skipped. */
    read: number;
    used: number;
    skipped: number;
    skippedByReason: Record<string, number>;
    /** Up to five skipped rows, with file, line, column and reason. */
    skippedExamples: string[];
  };
  labels: LabelSummary[];
  features: FeatureSummary[];
}

export interface FitOptions {
  /** Skip and count bad rows instead of throwing; default false. */
  skipBadRows?: boolean;
  /** Reservoir size for quantile boundaries; default 100,000 (exact quantiles below that many rows). */
  quantileSampleSize?: number;
}

/** Distinct values of a hashed column are counted up to this many, to bound memory. */
export const DISTINCT_CAP = 1_000_000;

class Moments {
  count = 0;
  missing = 0;
  min = Infinity;
  max = -Infinity;
  private mean = 0;
  private m2 = 0;

  add(value: number): void {
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (value - this.mean);
  }

  stats(): NumericStats {
    const empty = this.count === 0;
    return {
      count: this.count,
      missing: this.missing,
      min: empty ? NaN : this.min,
      max: empty ? NaN : this.max,
      mean: empty ? NaN : this.mean,
      std: empty ? NaN : Math.sqrt(this.m2 / this.count),
    };
  }
}

/** A reservoir sample (algorithm R) of a numeric column, for quantile boundaries. */
class Reservoir {
  readonly values: Float64Array;
  seen = 0;
  private readonly random: SeededRandom;

  constructor(size: number, random: SeededRandom) {
    this.values = new Float64Array(size);
    this.random = random;
  }

  add(value: number): void {
    if (this.seen < this.values.length) this.values[this.seen] = value;
    else {
      const slot = Math.floor(this.random.next() * (this.seen + 1));
      if (slot < this.values.length) this.values[slot] = value;
    }
    this.seen++;
  }

  /**
   * Boundaries between `buckets` equal-count buckets: the sample values at ranks
   * floor(k * n / buckets) for k = 1 .. buckets-1, duplicates removed.
   */
  boundaries(buckets: number): number[] {
    const n = Math.min(this.seen, this.values.length);
    const sorted = this.values.slice(0, n).sort();
    const result: number[] = [];
    for (let k = 1; k < buckets; k++) {
      const value = sorted[Math.floor((k * n) / buckets)];
      if (value !== undefined && (result.length === 0 || value > result[result.length - 1])) result.push(value);
    }
    return result;
  }
}

/** Per-feature accumulators of the fitting pass. */
interface FeatureAccumulator {
  feature: ColumnFeature;
  markers: Set<string>;
  moments?: Moments;
  reservoir?: Reservoir;
  counts?: Map<string, number>;
  distinctCapped: boolean;
  missing: number;
  maxBagSize: number;
  /** Scratch of the current row. */
  value: number;
  isMissing: boolean;
  tokens: string[];
  weights: number[];
}

/**
 * Fits a schema on training rows and summarizes them. It learns vocabularies (values seen at
 * least minCount times, the maxSize most frequent, ties in code-unit order), numeric means
 * and standard deviations, and quantile boundaries. Rows are read once and not kept, so
 * memory grows with the number of distinct values, not with rows.
 */
export async function fit(schema: Schema, source: RowSource, options: FitOptions = {}): Promise<{ state: FittedState; summary: DataSummary }> {
  const bound = bindColumns(schema, source.columns);
  const markers = markerSets(schema);
  const hashSeed = schema.hashSeed ?? 0;
  const sampleSize = options.quantileSampleSize ?? 100_000;

  const accumulators: FeatureAccumulator[] = [];
  schema.features.forEach((feature, index) => {
    if (feature.type === 'cross') return;
    const learnsVocabulary = feature.type === 'categorical';
    accumulators.push({
      feature,
      markers: markers.get(`feature:${feature.name}`)!,
      moments: feature.type !== 'categorical' ? new Moments() : undefined,
      reservoir: feature.type === 'bucketized' && feature.quantiles !== undefined ? new Reservoir(sampleSize, new SeededRandom(hashSeed, index)) : undefined,
      counts: learnsVocabulary ? new Map() : undefined,
      distinctCapped: false,
      missing: 0,
      maxBagSize: 0,
      value: 0,
      isMissing: false,
      tokens: [],
      weights: [],
    });
  });

  const labels = schema.labels.map((label) => ({
    label,
    markers: markers.get(`label:${label.name}`)!,
    positive: new Set(label.positive ?? []),
    negative: label.negative ? new Set(label.negative) : undefined,
    moments: new Moments(),
    ones: 0,
    zeros: 0,
    value: 0,
  }));

  const badRows = new BadRows(options.skipBadRows ?? false);
  let used = 0;
  for await (const row of source.rows(badRows)) {
    try {
      for (const accumulator of accumulators) readFeature(row, bound, accumulator);
      for (const entry of labels) entry.value = readLabel(row, bound, entry.label, entry.markers, entry.positive, entry.negative);
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      badRows.report(error.info);
      continue;
    }

    used++;
    for (const accumulator of accumulators) commitFeature(accumulator);
    for (const entry of labels) {
      if (Number.isNaN(entry.value)) entry.moments.missing++;
      else {
        entry.moments.add(entry.value);
        if (entry.value === 1) entry.ones++;
        else if (entry.value === 0) entry.zeros++;
      }
    }
  }
  if (used === 0) throw new SchemaError(`fit: no usable rows in ${source.name}${badRows.count > 0 ? ` (${badRows.count} bad rows skipped)` : ''}`);

  const fitted: Record<string, FittedFeature> = {};
  const summaries: FeatureSummary[] = [];
  for (const accumulator of accumulators) {
    const { state, summary } = finishFeature(accumulator);
    fitted[accumulator.feature.name] = state;
    summaries.push(summary);
  }
  for (const feature of schema.features) {
    if (feature.type !== 'cross') continue;
    // A cross reads features, not columns: list the crossed feature names.
    summaries.push({ name: feature.name, type: 'cross', columns: [...feature.features], missing: 0, vocabularySize: feature.buckets });
  }

  const state: FittedState = { format: FITTED_STATE_FORMAT, version: FITTED_STATE_VERSION, schema, hashSeed, trainingRows: used, features: fitted };
  const summary: DataSummary = {
    source: source.name,
    rows: { read: used + badRows.count, used, skipped: badRows.count, skippedByReason: { ...badRows.byReason }, skippedExamples: badRows.examples },
    labels: labels.map((entry) => labelSummary(entry)),
    features: summaries.sort((a, b) => schema.features.findIndex((f) => f.name === a.name) - schema.features.findIndex((f) => f.name === b.name)),
  };
  return { state, summary };
}

function readFeature(row: Row, bound: BoundColumns, accumulator: FeatureAccumulator): void {
  const { feature, markers } = accumulator;
  if (feature.type === 'categorical') {
    accumulator.isMissing = !readTokens(row, bound, feature, markers, accumulator.tokens, accumulator.weights);
    return;
  }
  const column = sourceColumn(feature);
  const cell = readCell(row, bound, column, markers, feature.missing, missingPolicyOf(feature));
  accumulator.isMissing = cell.missing;
  if (!cell.missing) accumulator.value = readNumberCell(row, bound, column, cell.text);
}

function commitFeature(accumulator: FeatureAccumulator): void {
  if (accumulator.isMissing) {
    accumulator.missing++;
    if (accumulator.moments) accumulator.moments.missing++;
    return;
  }
  if (accumulator.moments) {
    accumulator.moments.add(accumulator.value);
    accumulator.reservoir?.add(accumulator.value);
    return;
  }

  const counts = accumulator.counts!;
  if (accumulator.tokens.length > accumulator.maxBagSize) accumulator.maxBagSize = accumulator.tokens.length;
  for (const token of accumulator.tokens) {
    const count = counts.get(token);
    if (count !== undefined) counts.set(token, count + 1);
    else if (counts.size < DISTINCT_CAP || (accumulator.feature as { hashBuckets?: number }).hashBuckets === undefined) counts.set(token, 1);
    else accumulator.distinctCapped = true;
  }
}

function finishFeature(accumulator: FeatureAccumulator): { state: FittedFeature; summary: FeatureSummary } {
  const { feature } = accumulator;
  const summary: FeatureSummary = { name: feature.name, type: feature.type, columns: inputColumnsOf(feature), missing: accumulator.missing };
  const state: FittedFeature = {};

  if (feature.type === 'numeric' || feature.type === 'bucketized') {
    const stats = accumulator.moments!.stats();
    summary.numeric = stats;
    if (feature.type === 'numeric') {
      if (stats.count === 0) throw new SchemaError(`fit: numeric feature "${feature.name}" has no values in the training data`);
      state.mean = stats.mean;
      state.std = stats.std;
    } else {
      state.boundaries = feature.boundaries ? [...feature.boundaries] : accumulator.reservoir!.boundaries(feature.quantiles!);
      summary.vocabularySize = fieldIdsOf(feature, state).vocabularySize;
    }
    return { state, summary };
  }

  const counts = accumulator.counts!;
  summary.distinctValues = counts.size;
  if (accumulator.distinctCapped) summary.distinctCapped = true;
  if (feature.separator !== undefined || feature.flags !== undefined) summary.maxBagSize = accumulator.maxBagSize;
  if (feature.hashBuckets === undefined) {
    let vocabulary: string[];
    if (feature.values) vocabulary = [...feature.values];
    else {
      const minCount = feature.vocabulary?.minCount ?? 1;
      const maxSize = feature.vocabulary?.maxSize ?? Infinity;
      const kept = [...counts.entries()].filter(([, count]) => count >= minCount);
      kept.sort(byCountThenValue);
      vocabulary = kept.slice(0, maxSize).map(([value]) => value);
    }
    state.vocabulary = vocabulary;
    const known = new Set(vocabulary);
    let oov = 0;
    for (const [value, count] of counts) if (!known.has(value)) oov += count;
    summary.outOfVocabulary = oov;
  }
  summary.vocabularySize = fieldIdsOf(feature, state).vocabularySize;
  return { state, summary };
}

/** Orders vocabulary entries by descending count, then by value in code-unit order. */
function byCountThenValue(a: [string, number], b: [string, number]): number {
  if (a[1] !== b[1]) return b[1] - a[1];
  if (a[0] === b[0]) return 0;
  return a[0] < b[0] ? -1 : 1;
}

function labelSummary(entry: { label: Schema['labels'][number]; moments: Moments; ones: number; zeros: number }): LabelSummary {
  const { label, moments } = entry;
  const summary: LabelSummary = { name: label.name, type: label.type, column: sourceColumn(label), missing: moments.missing };
  if (label.type === 'binary') {
    summary.positive = entry.ones;
    summary.negative = entry.zeros;
    summary.positiveRate = entry.ones + entry.zeros > 0 ? entry.ones / (entry.ones + entry.zeros) : NaN;
  } else {
    summary.numeric = moments.stats();
  }
  return summary;
}
