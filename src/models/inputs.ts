// Turns a host batch into the device inputs of a model part: embedding batches and numeric columns.

import type { BackendName } from '../backend/backend.js';
import type { FieldLayout, SparseBatch } from '../data/batch.js';
import { tensor } from '../ops/creation.js';
import { embeddingBatch, type EmbeddingBatch } from '../sparse/embedding-batch.js';
import { TableLayout } from '../sparse/table-layout.js';
import type { Tensor } from '../tensor/tensor.js';

/** Fields that share one combined embedding table: one dimension and one pooling. */
export interface FieldGroup {
  dim: number;
  pooling: 'sum' | 'mean';
  fields: FieldLayout[];
  layout: TableLayout;
}

/** Groups fields by embedding dimension and pooling, in the order they first appear. */
export function groupFields(fields: FieldLayout[], dimOf: (field: FieldLayout) => number, poolingOf: (field: FieldLayout) => 'sum' | 'mean'): FieldGroup[] {
  const groups = new Map<string, FieldLayout[]>();
  for (const field of fields) {
    const key = `${dimOf(field)}:${poolingOf(field)}`;
    groups.set(key, [...(groups.get(key) ?? []), field]);
  }
  return [...groups.entries()].map(([key, members]) => {
    const [dim, pooling] = key.split(':');
    const layout = new TableLayout(members.map((field) => ({ name: field.name, rows: field.vocabularySize })));
    return { dim: Number(dim), pooling: pooling as 'sum' | 'mean', fields: members, layout };
  });
}

/** Uploads the group's fields of `batch` (checked on the host) as one embedding batch. */
export function groupBatch(group: FieldGroup, batch: SparseBatch, backend: BackendName): EmbeddingBatch {
  const fields: Record<string, SparseBatch['fields'][string]> = {};
  for (const field of group.fields) fields[field.name] = batch.fields[field.name];
  return embeddingBatch(group.layout, fields, { backend });
}

/** Uploads the numeric columns at `columns` of the batch's dense matrix as f32 [B, columns]. */
export function numericColumns(batch: SparseBatch, columns: number[], backend: BackendName): Tensor {
  const width = batch.layout.numeric.length;
  const values = new Float32Array(batch.size * columns.length);
  for (let row = 0; row < batch.size; row++) {
    columns.forEach((column, j) => (values[row * columns.length + j] = batch.dense[row * width + column]));
  }
  return tensor(values, [batch.size, columns.length], { backend });
}

/**
 * Uploads the labels of every task as f32 [B, T] and the masks as f32 [B, T]. Missing labels
 * (NaN in the host batch) become 0 with mask 0, so they add nothing to a masked loss.
 */
export function labelMatrix(batch: SparseBatch, backend: BackendName): { labels: Tensor; masks: Tensor; present: number[] } {
  const tasks = batch.layout.tasks;
  const labels = new Float32Array(batch.size * tasks.length);
  const masks = new Float32Array(batch.size * tasks.length);
  const present = tasks.map(() => 0);
  tasks.forEach((task, t) => {
    const values = batch.labels[task.name];
    const mask = batch.labelMasks[task.name];
    for (let row = 0; row < batch.size; row++) {
      const ok = mask[row] !== 0;
      labels[row * tasks.length + t] = ok ? values[row] : 0;
      masks[row * tasks.length + t] = ok ? 1 : 0;
      if (ok) present[t]++;
    }
  });
  return {
    labels: tensor(labels, [batch.size, tasks.length], { backend }),
    masks: tensor(masks, [batch.size, tasks.length], { backend }),
    present,
  };
}
