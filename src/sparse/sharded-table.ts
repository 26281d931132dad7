// Embedding tables split into shards that each fit one storage-buffer binding.

import type { BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { full, randomNormal, randomUniform, tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export type TableInit =
  | { kind: 'zeros' }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; mean: number; std: number }
  /** Row-major values of the whole table, [rows x dim]. */
  | { kind: 'values'; values: ArrayLike<number> };

export interface ShardedTableOptions {
  backend?: BackendName;
  /** Rows per shard (the last may have fewer). Default: `maxShardRows(dim, backend)`. */
  shardRows?: number;
  /** Default: uniform in [-0.05, 0.05). */
  init?: TableInit;
  /** Seed of random initial values; shard k draws with seed + k, so values depend on `shardRows`. */
  seed?: number;
  requiresGrad?: boolean;
}

/**
 * Returns the maximum number of rows of `dim` f32 values whose bytes fit the backend's maxStorageBufferBindingSize
 * (2^31 - 1 rows on the CPU backend, which has no binding limit). Kernels index a shard as
 * `local_row * dim + column`, which stays below 2^30 under any binding limit of at most 4 GiB.
 */
export function maxShardRows(dim: number, backend?: BackendName): number {
  const limit = getBackend(backend).limits.maxStorageBufferBindingSize;
  if (limit === undefined) return 0x7fffffff;
  return Math.max(1, Math.floor(limit / (4 * Math.max(1, dim))));
}

/**
 * A table f32 [rows, dim] stored as shard tensors of `shardRows` rows each (the last may
 * have fewer), so that a table larger than one storage binding works: shard k contains rows
 * [k * shardRows, k * shardRows + shards[k].shape[0]). Ops that take a ShardedTable take
 * row ids of the whole table. Each shard is a leaf tensor with its own row-sparse
 * gradient: the shard's rows, in row ids of the whole table, with `rowOffset` set to the
 * shard's first row (see RowSparse), so an optimizer updates each shard as a table of its own.
 */
export class ShardedTable {
  constructor(
    readonly shards: Tensor[],
    readonly rows: number,
    readonly dim: number,
    readonly shardRows: number,
  ) {
    if (shards.length === 0) throw new RangeError('ShardedTable: needs at least one shard');
    let total = 0;
    shards.forEach((shard, k) => {
      const expectedRows = k < shards.length - 1 ? shardRows : rows - shardRows * (shards.length - 1);
      if (shard.dtype !== 'f32' || shard.rank !== 2 || shard.shape[0] !== expectedRows || shard.shape[1] !== dim) {
        throw new RangeError(`ShardedTable: shard ${k} is ${shard.describe()}; expected f32 [${expectedRows}, ${dim}] for ${rows} rows in shards of ${shardRows}`);
      }
      total += shard.shape[0];
    });
    if (total !== rows) throw new RangeError(`ShardedTable: shards hold ${total} rows, expected ${rows}`);
  }

  /** Creates a table of `rows` x `dim` values, split into shards that fit the backend's binding limit. */
  static create(rows: number, dim: number, options: ShardedTableOptions = {}): ShardedTable {
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new RangeError(`ShardedTable: rows ${rows} and dim ${dim} must be positive integers`);
    }
    const shardRows = options.shardRows ?? maxShardRows(dim, options.backend);
    const limit = maxShardRows(dim, options.backend);
    if (!Number.isInteger(shardRows) || shardRows < 1 || shardRows > limit) {
      throw new RangeError(`ShardedTable: shardRows ${shardRows} must be an integer from 1 to ${limit}, the maximum number of rows of dim ${dim} that fit one storage binding`);
    }
    const init = options.init ?? { kind: 'uniform', low: -0.05, high: 0.05 };
    const kinds = ['zeros', 'uniform', 'normal', 'values'];
    if (!kinds.includes(init.kind)) {
      throw new RangeError(`ShardedTable: invalid init kind ${JSON.stringify(init.kind)}; use one of ${kinds.join(', ')}`);
    }
    if (init.kind === 'values' && init.values.length !== rows * dim) {
      throw new RangeError(`ShardedTable: init values have ${init.values.length} elements, expected ${rows} x ${dim} = ${rows * dim}`);
    }
    const seed = options.seed ?? 0;
    const backend = options.backend;
    const initial = init.kind === 'values' ? Float32Array.from(init.values) : null;

    const shards: Tensor[] = [];
    for (let start = 0, k = 0; start < rows; start += shardRows, k++) {
      const count = Math.min(shardRows, rows - start);
      const shape = [count, dim];
      let shard: Tensor;
      if (init.kind === 'zeros') shard = full(shape, 0, { backend });
      else if (init.kind === 'uniform') shard = randomUniform(shape, { backend, seed: seed + k, low: init.low, high: init.high });
      else if (init.kind === 'normal') shard = randomNormal(shape, { backend, seed: seed + k, mean: init.mean, std: init.std });
      else shard = tensor(initial!.subarray(start * dim, (start + count) * dim), shape, { backend });
      if (options.requiresGrad) shard.requiresGrad = true;
      shards.push(shard);
    }
    return new ShardedTable(shards, rows, dim, shardRows);
  }

  /** Wraps one tensor f32 [rows, dim] as a table of one shard. */
  static fromTensor(table: Tensor): ShardedTable {
    if (table.rank !== 2) throw new RangeError(`ShardedTable: a table must be [rows, dim], got ${table.describe()}`);
    return new ShardedTable([table], table.shape[0], table.shape[1], table.shape[0]);
  }

  get requiresGrad(): boolean {
    return this.shards.every((shard) => shard.requiresGrad);
  }

  set requiresGrad(value: boolean) {
    for (const shard of this.shards) shard.requiresGrad = value;
  }

  /** Disposes and clears every shard's `sparseGrad` and `grad`. */
  clearGrads(): void {
    for (const shard of this.shards) {
      shard.sparseGrad?.dispose();
      shard.sparseGrad = null;
      shard.grad?.dispose();
      shard.grad = null;
    }
  }

  /** Reads the whole table back, row-major [rows x dim]. */
  async data(): Promise<Float32Array> {
    const out = new Float32Array(this.rows * this.dim);
    let offset = 0;
    for (const shard of this.shards) {
      const values = await shard.data();
      out.set(values, offset);
      offset += values.length;
    }
    return out;
  }

  dispose(): void {
    this.clearGrads();
    for (const shard of this.shards) shard.dispose();
  }
}
