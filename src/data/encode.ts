// The encoder: maps raw rows to sparse batches with a fitted state (vocabulary ids, hashes, crosses, scaling).

import { crossBucket, murmur3String } from '../sparse/hash.js';
import type { BatchLayout, FieldBatch, SparseBatch } from './batch.js';
import { BadRows, type Row } from './rows.js';
import { SchemaError } from './errors.js';
import {
  bindColumns, markerSets, readCell, readLabel, readNumberCell, readTokens, RowProblem, type BoundColumns,
} from './read-values.js';
import { feedsOf, missingPolicyOf, sourceColumn, type FeatureSpec, type LabelSpec } from './schema.js';
import { fieldIdsOf, layoutOf, type FittedState } from './state.js';

/** A feature compiled for encoding, with scratch space for the current row. */
interface CompiledFeature {
  spec: FeatureSpec;
  markers: Set<string>;
  emitted: boolean;
  missingId?: number;
  vocabulary?: Map<string, number>;
  boundaries?: number[];
  /** Numeric features: training mean (for the mean missing policy), subtracted shift and scale. */
  mean: number;
  shift: number;
  scale: number;
  /** Indices of the crossed features in the compiled list (crosses only). */
  crossed?: number[];
  ids: number[];
  weights: number[];
  tokens: string[];
  value: number;
}

interface CompiledLabel {
  spec: LabelSpec;
  markers: Set<string>;
  positive: Set<string>;
  negative?: Set<string>;
  value: number;
}

/**
 * Encodes rows with a fitted state. Categorical ids follow `fieldIdsOf`: a vocabulary value
 * maps to its id, an unseen value to the out-of-vocabulary id 0; a hashed value to
 * murmur3String(value, hashSeed) % hashBuckets; a number to its bucket (the count of
 * boundaries <= value). A cross bag contains crossBucket([id_1, ..., id_k], hashSeed, buckets)
 * for every combination of the crossed bags' ids (first feature outermost).
 */
export class Encoder {
  readonly state: FittedState;
  readonly layout: BatchLayout;
  private readonly bound: BoundColumns;
  private readonly features: CompiledFeature[];
  private readonly labels: CompiledLabel[];
  private readonly combination: number[] = [];

  constructor(state: FittedState, columns: string[]) {
    this.state = state;
    this.layout = layoutOf(state);
    const schema = state.schema;
    this.bound = bindColumns(schema, columns);
    const markers = markerSets(schema);

    this.features = schema.features.map((spec) => {
      const fitted = state.features[spec.name];
      const compiled: CompiledFeature = {
        spec,
        markers: markers.get(`feature:${spec.name}`) ?? new Set(),
        emitted: spec.type === 'numeric' || feedsOf(spec) !== 'none',
        mean: fitted?.mean ?? 0,
        shift: 0,
        scale: 1,
        ids: [],
        weights: [],
        tokens: [],
        value: 0,
      };
      if (spec.type !== 'numeric') compiled.missingId = fieldIdsOf(spec, fitted).missingId;
      if (spec.type === 'numeric' && spec.normalize === 'standardize') {
        // A constant column has std 0; dividing by 1 then maps it to 0.
        compiled.shift = fitted!.mean!;
        compiled.scale = fitted!.std! > 0 ? 1 / fitted!.std! : 1;
      }
      if (spec.type === 'bucketized') compiled.boundaries = fitted!.boundaries!;
      if (spec.type === 'categorical' && spec.hashBuckets === undefined) {
        compiled.vocabulary = new Map(fitted!.vocabulary!.map((value, i) => [value, i + 1]));
      }
      if (spec.type === 'cross') compiled.crossed = spec.features.map((name) => schema.features.findIndex((item) => item.name === name));
      return compiled;
    });

    this.labels = schema.labels.map((spec) => ({
      spec,
      markers: markers.get(`label:${spec.name}`)!,
      positive: new Set(spec.positive ?? []),
      negative: spec.negative ? new Set(spec.negative) : undefined,
      value: 0,
    }));
  }

  /** Starts an empty batch. */
  builder(): BatchBuilder {
    return new BatchBuilder(this);
  }

  /** Encodes all `rows` into one batch; bad rows throw or are counted in `badRows`. */
  encode(rows: Iterable<Row>, badRows = new BadRows(false)): SparseBatch {
    const builder = this.builder();
    for (const row of rows) builder.add(row, badRows);
    return builder.finish();
  }

  /**
   * Reads and encodes one row into the scratch space of every feature and label. Throws a
   * RowProblem for a bad value before anything is appended, so a bad row leaves no trace.
   */
  encodeRow(row: Row): void {
    const hashSeed = this.state.hashSeed;
    for (const feature of this.features) {
      const spec = feature.spec;
      feature.ids.length = 0;
      feature.weights.length = 0;

      if (spec.type === 'categorical') {
        const present = readTokens(row, this.bound, spec, feature.markers, feature.tokens, feature.weights);
        if (!present) {
          if (feature.missingId !== undefined) feature.ids.push(feature.missingId);
          if (spec.weightColumn) for (let i = feature.weights.length; i < feature.ids.length; i++) feature.weights.push(1);
          continue;
        }
        for (const token of feature.tokens) {
          feature.ids.push(feature.vocabulary ? (feature.vocabulary.get(token) ?? 0) : murmur3String(token, hashSeed) % spec.hashBuckets!);
        }
      } else if (spec.type === 'cross') {
        this.crossIds(feature, hashSeed);
      } else {
        const column = sourceColumn(spec);
        const policy = missingPolicyOf(spec);
        const cell = readCell(row, this.bound, column, feature.markers, spec.missing, policy);
        if (cell.missing) {
          // Numeric: only the mean policy reaches here; sparse: own-id or empty.
          if (spec.type === 'numeric') feature.value = (feature.mean - feature.shift) * feature.scale;
          else if (feature.missingId !== undefined) feature.ids.push(feature.missingId);
          continue;
        }
        const value = readNumberCell(row, this.bound, column, cell.text);
        if (spec.type === 'numeric') feature.value = (value - feature.shift) * feature.scale;
        else feature.ids.push(upperBound(feature.boundaries!, value));
      }
    }

    for (const label of this.labels) label.value = readLabel(row, this.bound, label.spec, label.markers, label.positive, label.negative);
  }

  private crossIds(feature: CompiledFeature, hashSeed: number): void {
    const parts = feature.crossed!.map((index) => this.features[index].ids);
    if (parts.some((ids) => ids.length === 0)) return;
    const buckets = (feature.spec as { buckets: number }).buckets;
    const positions = parts.map(() => 0);
    const combination = this.combination;
    combination.length = parts.length;
    for (;;) {
      for (let k = 0; k < parts.length; k++) combination[k] = parts[k][positions[k]];
      feature.ids.push(crossBucket(combination, hashSeed, buckets));

      // Advance the last position first, so the first feature is the outermost loop.
      let k = parts.length - 1;
      while (k >= 0 && ++positions[k] === parts[k].length) positions[k--] = 0;
      if (k < 0) return;
    }
  }

  /** Scratch results of the last encodeRow, for BatchBuilder. */
  get compiled(): { features: readonly CompiledFeature[]; labels: readonly CompiledLabel[] } {
    return { features: this.features, labels: this.labels };
  }
}

/** Number of boundaries <= value: the bucket id of `value`. */
export function upperBound(boundaries: readonly number[], value: number): number {
  let low = 0;
  let high = boundaries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (boundaries[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Appends encoded rows; `finish` returns them as a SparseBatch. */
export class BatchBuilder {
  private readonly encoder: Encoder;
  private rows = 0;
  private readonly ids = new Map<string, number[]>();
  private readonly offsets = new Map<string, number[]>();
  private readonly weights = new Map<string, number[]>();
  private readonly dense: number[] = [];
  private readonly labels = new Map<string, number[]>();

  constructor(encoder: Encoder) {
    this.encoder = encoder;
    for (const field of encoder.layout.fields) {
      this.ids.set(field.name, []);
      this.offsets.set(field.name, [0]);
      if (field.weighted) this.weights.set(field.name, []);
    }
    for (const task of encoder.layout.tasks) this.labels.set(task.name, []);
  }

  /** Number of rows added. */
  get size(): number {
    return this.rows;
  }

  /** Encodes and appends a row; returns false when the row was bad and skipped. */
  add(row: Row, badRows: BadRows): boolean {
    try {
      this.encoder.encodeRow(row);
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      badRows.report(error.info);
      return false;
    }

    const { features, labels } = this.encoder.compiled;
    for (const feature of features) {
      if (!feature.emitted) continue;
      const name = feature.spec.name;
      if (feature.spec.type === 'numeric') {
        this.dense.push(feature.value);
        continue;
      }
      const ids = this.ids.get(name)!;
      for (const id of feature.ids) ids.push(id);
      this.offsets.get(name)!.push(ids.length);
      const weights = this.weights.get(name);
      if (weights) for (const weight of feature.weights) weights.push(weight);
    }
    for (const label of labels) this.labels.get(label.spec.name)!.push(label.value);
    this.rows++;
    return true;
  }

  /** Returns the rows added so far as a batch. */
  finish(): SparseBatch {
    const layout = this.encoder.layout;
    const fields: Record<string, FieldBatch> = {};
    for (const field of layout.fields) {
      const ids = Uint32Array.from(this.ids.get(field.name)!);
      const offsets = Uint32Array.from(this.offsets.get(field.name)!);
      const weights = this.weights.get(field.name);
      fields[field.name] = weights ? { ids, offsets, weights: Float32Array.from(weights) } : { ids, offsets };
      if (weights && weights.length !== ids.length) throw new SchemaError(`encode: field "${field.name}" has ${weights.length} weights for ${ids.length} ids`);
    }
    const labels: Record<string, Float32Array> = {};
    const labelMasks: Record<string, Float32Array> = {};
    for (const task of layout.tasks) {
      const values = Float32Array.from(this.labels.get(task.name)!);
      labels[task.name] = values;
      labelMasks[task.name] = values.map((value) => (Number.isNaN(value) ? 0 : 1));
    }
    return { size: this.rows, fields, dense: Float32Array.from(this.dense), labels, labelMasks, layout };
  }
}
