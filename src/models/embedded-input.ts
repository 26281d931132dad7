// The dense input of an MLP built from sparse fields and numeric columns: pooled embeddings concatenated with the numbers.

import type { BackendName } from '../backend/backend.js';
import type { FieldLayout, NumericLayout, SparseBatch } from '../data/batch.js';
import { ShapeError } from '../errors.js';
import { Module } from '../nn/module.js';
import { embeddingBags } from '../ops/embedding-bag.js';
import { concat } from '../ops/shape-ops.js';
import { ShardedTable } from '../sparse/sharded-table.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupBatch, groupFields, numericColumns, type FieldGroup } from './inputs.js';

/** Columns [start, end) of one field or numeric column in the input matrix. */
export interface InputColumns {
  name: string;
  start: number;
  end: number;
}

export interface EmbeddedInputOptions {
  /** Initial embedding values are uniform in [-scale, scale]. */
  embeddingInitScale: number;
  seed: number;
  /** Names the part in error messages, such as "deep input" or "bias tower". */
  what: string;
}

/**
 * Embeds each field's bag (pooled by its combiner) and concatenates the results with the
 * selected numeric columns into one f32 [B, width] matrix. Fields with one embedding dimension
 * and pooling share one combined table, so a group costs one embedding-bag dispatch.
 */
export class EmbeddedInput extends Module {
  readonly groups: FieldGroup[];
  readonly tables: ShardedTable[];
  readonly numericColumns: number[];
  readonly width: number;
  /** Column range of each field and numeric column in the output, in output order. */
  readonly columns: InputColumns[];

  constructor(fields: FieldLayout[], numeric: { layout: NumericLayout[]; columns: number[] }, options: EmbeddedInputOptions, backend: BackendName) {
    super();
    for (const field of fields) {
      if (field.embeddingDim === undefined) throw new ShapeError(`model: ${options.what} field "${field.name}" has no embeddingDim in the schema`);
    }
    this.groups = groupFields(fields, (field) => field.embeddingDim!, (field) => field.combiner);
    const scale = options.embeddingInitScale;
    this.tables = this.groups.map((group, g) =>
      ShardedTable.create(group.layout.totalRows, group.dim, {
        backend,
        init: { kind: 'uniform', low: -scale, high: scale },
        seed: options.seed * 101 + g * 7,
        requiresGrad: true,
      }),
    );
    this.tables.forEach((table, g) => table.shards.forEach((shard, k) => this.registerParameter(`embedding${g}_${k}`, shard)));
    this.numericColumns = numeric.columns;

    this.columns = [];
    let width = 0;
    for (const group of this.groups) {
      for (const field of group.fields) {
        this.columns.push({ name: field.name, start: width, end: width + group.dim });
        width += group.dim;
      }
    }
    for (const column of numeric.columns) {
      this.columns.push({ name: numeric.layout[column].name, start: width, end: width + 1 });
      width += 1;
    }
    if (width === 0) throw new ShapeError(`model: the ${options.what} has no input features`);
    this.width = width;
  }

  /** Builds the input matrix f32 [B, width]. */
  forward(batch: SparseBatch, backend: BackendName): Tensor {
    const parts = this.groups.map((group, g) => {
      const pooled = embeddingBags(this.tables[g], groupBatch(group, batch, backend), { pooling: group.pooling });
      return pooled.reshape([batch.size, group.fields.length * group.dim]);
    });
    if (this.numericColumns.length > 0) parts.push(numericColumns(batch, this.numericColumns, backend));
    return parts.length === 1 ? parts[0] : concat(parts, 1);
  }
}
