// EmbeddingBag: the tables of one or many categorical fields, pooled per bag, with row-sparse gradients.

import type { BackendName } from '../backend/backend.js';
import { embeddingBags, type Pooling } from '../ops/embedding-bag.js';
import { embeddingBatch, type EmbeddingBatch, type SparseFieldInput } from '../sparse/embedding-batch.js';
import { ShardedTable, type TableInit } from '../sparse/sharded-table.js';
import { TableLayout, type FieldSpec } from '../sparse/table-layout.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export interface EmbeddingBagOptions {
  /** Pooling of each bag (default sum). */
  pooling?: Pooling;
  /** Initial values (default uniform in [-0.05, 0.05)). */
  init?: TableInit;
  seed?: number;
  backend?: BackendName;
  /** Rows per shard; default: as many as one storage binding holds. */
  shardRows?: number;
}

/**
 * Embedding tables of several fields stacked into one combined table (one dispatch for all
 * fields), split into shards when it exceeds one storage binding. `forward` returns
 * [B, fields, dim]; each shard is a parameter whose gradient is row-sparse (`sparseGrad`).
 */
export class EmbeddingBag extends Module {
  readonly layout: TableLayout;
  readonly table: ShardedTable;
  readonly pooling: Pooling;
  private readonly backend?: BackendName;

  constructor(fields: FieldSpec[], readonly dim: number, options: EmbeddingBagOptions = {}) {
    super();
    this.layout = new TableLayout(fields);
    this.pooling = options.pooling ?? 'sum';
    this.backend = options.backend;
    this.table = ShardedTable.create(this.layout.totalRows, dim, {
      backend: options.backend,
      init: options.init,
      seed: options.seed,
      shardRows: options.shardRows,
      requiresGrad: true,
    });
    this.table.shards.forEach((shard, k) => this.registerParameter(`shard${k}`, shard));
  }

  /** Checks the fields' CSR ids on the host and uploads them as one batch. */
  batch(fields: SparseFieldInput[] | Record<string, SparseFieldInput>): EmbeddingBatch {
    return embeddingBatch(this.layout, fields, { backend: this.backend });
  }

  /** Pooled embeddings [B, fields, dim]. */
  forward(batch: EmbeddingBatch): Tensor {
    return embeddingBags(this.table, batch, { pooling: this.pooling });
  }
}
