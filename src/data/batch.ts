// The sparse batch: per-field CSR ids/offsets/weights, a dense numeric matrix and per-task labels.

import type { BackendName } from '../backend/backend.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Feeds } from './schema.js';

/** A sparse field as the models see it. */
export interface FieldLayout {
  name: string;
  /** categorical and bucketized fields come from one column (or flag columns); cross fields from other fields. */
  kind: 'categorical' | 'bucketized' | 'cross';
  feeds: Exclude<Feeds, 'none'>;
  /** Number of ids, including the out-of-vocabulary and missing ids: every id is < vocabularySize. */
  vocabularySize: number;
  /** Embedding dimension, for fields that feed the deep part or the bias tower. */
  embeddingDim?: number;
  /** Pooling of a bag in the deep part. */
  combiner: 'sum' | 'mean';
  /** Whether a bag may hold more or fewer than one id. */
  multiValued: boolean;
  /** Whether the field's batches carry per-id weights. */
  weighted: boolean;
  /** Id of values not in the vocabulary (learned or given vocabularies only). */
  oovId?: number;
  /** Id of a missing value (missing policy own-id only). */
  missingId?: number;
}

/** A numeric column of the dense matrix. */
export interface NumericLayout {
  name: string;
  feeds: Exclude<Feeds, 'none'>;
}

/** A task's label vector. */
export interface TaskLayout {
  name: string;
  type: 'binary' | 'numeric';
}

/** Contents of every batch, in order, built from the fitted state. */
export interface BatchLayout {
  fields: FieldLayout[];
  numeric: NumericLayout[];
  tasks: TaskLayout[];
}

/**
 * One field of a batch in CSR form: bag b is `ids[offsets[b] .. offsets[b + 1])`; an empty
 * bag is allowed. `weights`, when present, has one weight per id.
 */
export interface FieldBatch {
  ids: Uint32Array;
  offsets: Uint32Array;
  weights?: Float32Array;
}

/** A batch of B encoded rows. */
export interface SparseBatch {
  /** Number of rows B. */
  size: number;
  /** Sparse fields by name, in `layout.fields` order. */
  fields: Record<string, FieldBatch>;
  /** Row-major [B, numeric.length] matrix of numeric features, in `layout.numeric` order. */
  dense: Float32Array;
  /** Label per task, [B]; NaN where the label is missing. */
  labels: Record<string, Float32Array>;
  /** Per task, [B]: 1 where the label is present, 0 where it is missing. */
  labelMasks: Record<string, Float32Array>;
  layout: BatchLayout;
}

/** A batch's arrays as tensors on one backend. */
export interface TensorBatch {
  size: number;
  fields: Record<string, { ids: Tensor; offsets: Tensor; weights?: Tensor }>;
  /** [B, numeric.length] f32. */
  dense: Tensor;
  /** [B] f32 per task. */
  labels: Record<string, Tensor>;
  /** [B] f32 per task. */
  labelMasks: Record<string, Tensor>;
}

/** Uploads a batch to tensors (ids and offsets u32, the rest f32) on `backend` (default: the default backend). */
export function batchToTensors(batch: SparseBatch, backend?: BackendName): TensorBatch {
  const options = { backend };
  const fields: TensorBatch['fields'] = {};
  for (const field of batch.layout.fields) {
    const data = batch.fields[field.name];
    fields[field.name] = {
      ids: tensor(data.ids, [data.ids.length], { ...options, dtype: 'u32' }),
      offsets: tensor(data.offsets, [data.offsets.length], { ...options, dtype: 'u32' }),
      weights: data.weights ? tensor(data.weights, [data.weights.length], { ...options, dtype: 'f32' }) : undefined,
    };
  }

  const labels: Record<string, Tensor> = {};
  const labelMasks: Record<string, Tensor> = {};
  for (const task of batch.layout.tasks) {
    labels[task.name] = tensor(batch.labels[task.name], [batch.size], { ...options, dtype: 'f32' });
    labelMasks[task.name] = tensor(batch.labelMasks[task.name], [batch.size], { ...options, dtype: 'f32' });
  }

  const dense = tensor(batch.dense, [batch.size, batch.layout.numeric.length], { ...options, dtype: 'f32' });
  return { size: batch.size, fields, dense, labels, labelMasks };
}

/** Copies rows `rows` (any order, repeats allowed) of a batch into a new batch. */
export function selectRows(batch: SparseBatch, rows: ArrayLike<number>): SparseBatch {
  const size = rows.length;
  for (let i = 0; i < size; i++) {
    if (!Number.isInteger(rows[i]) || rows[i] < 0 || rows[i] >= batch.size) {
      throw new RangeError(`selectRows: row ${rows[i]} is outside [0, ${batch.size})`);
    }
  }

  const fields: Record<string, FieldBatch> = {};
  for (const field of batch.layout.fields) {
    const source = batch.fields[field.name];
    const offsets = new Uint32Array(size + 1);
    for (let i = 0; i < size; i++) offsets[i + 1] = offsets[i] + (source.offsets[rows[i] + 1] - source.offsets[rows[i]]);
    const ids = new Uint32Array(offsets[size]);
    const weights = source.weights ? new Float32Array(offsets[size]) : undefined;
    // Plain loops: bags hold a few ids, and a subarray per bag would allocate per row and field.
    for (let i = 0; i < size; i++) {
      const start = source.offsets[rows[i]];
      const end = source.offsets[rows[i] + 1];
      for (let p = start, q = offsets[i]; p < end; p++, q++) ids[q] = source.ids[p];
      if (weights && source.weights) {
        for (let p = start, q = offsets[i]; p < end; p++, q++) weights[q] = source.weights[p];
      }
    }
    fields[field.name] = weights ? { ids, offsets, weights } : { ids, offsets };
  }

  const width = batch.layout.numeric.length;
  const dense = new Float32Array(size * width);
  for (let i = 0; i < size; i++) {
    for (let c = 0; c < width; c++) dense[i * width + c] = batch.dense[rows[i] * width + c];
  }

  const labels: Record<string, Float32Array> = {};
  const labelMasks: Record<string, Float32Array> = {};
  for (const task of batch.layout.tasks) {
    const [taskLabels, taskMasks] = [batch.labels[task.name], batch.labelMasks[task.name]];
    const [selected, masks] = [new Float32Array(size), new Float32Array(size)];
    for (let i = 0; i < size; i++) {
      selected[i] = taskLabels[rows[i]];
      masks[i] = taskMasks[rows[i]];
    }
    labels[task.name] = selected;
    labelMasks[task.name] = masks;
  }
  return { size, fields, dense, labels, labelMasks, layout: batch.layout };
}
