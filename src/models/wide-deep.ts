// Wide & Deep (Cheng et al., 2016): a sparse linear model and an embedding MLP, summed into one logit per task.

import type { BackendName } from '../backend/backend.js';
import type { BatchLayout, SparseBatch } from '../data/batch.js';
import { ShapeError } from '../errors.js';
import { Module } from '../nn/module.js';
import { Linear, MLP } from '../nn/layers.js';
import { full } from '../ops/creation.js';
import { add } from '../ops/elementwise.js';
import { concat } from '../ops/shape-ops.js';
import { sum } from '../ops/reduce.js';
import { embeddingBags } from '../ops/embedding-bag.js';
import { ShardedTable } from '../sparse/sharded-table.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupBatch, groupFields, numericColumns, type FieldGroup } from './inputs.js';

export type WideDeepKind = 'wide' | 'deep' | 'wide-deep';

export interface WideDeepConfig {
  kind: WideDeepKind;
  /** Hidden layer sizes of the deep tower (default [100, 50]). */
  hidden?: number[];
  /** Dropout after each hidden layer (default 0). */
  dropout?: number;
  /** Standard deviation of the initial embedding values (default 0.05, uniform in +-std). */
  embeddingInitScale?: number;
  seed?: number;
}

export interface ResolvedWideDeepConfig {
  kind: WideDeepKind;
  hidden: number[];
  dropout: number;
  embeddingInitScale: number;
  seed: number;
}

export function resolveWideDeepConfig(config: WideDeepConfig): ResolvedWideDeepConfig {
  if (!['wide', 'deep', 'wide-deep'].includes(config.kind)) {
    throw new RangeError(`model: invalid kind "${config.kind}"; use wide, deep or wide-deep`);
  }
  const hidden = config.hidden ?? [100, 50];
  if (hidden.some((size) => !Number.isInteger(size) || size < 1)) throw new RangeError(`model: hidden sizes [${hidden}] must be positive integers`);
  const dropout = config.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`model: dropout ${dropout} must be in [0, 1)`);
  return { kind: config.kind, hidden, dropout, embeddingInitScale: config.embeddingInitScale ?? 0.05, seed: config.seed ?? 1 };
}

/**
 * The wide part: one weight per id of every wide field (crosses included) and task, as an
 * embedding bag of dimension T summed over the fields, plus a bias per task and a weight per
 * wide numeric column. Its tables start at zero, as linear models with FTRL do.
 */
export class WideLinear extends Module {
  readonly group: FieldGroup | null;
  readonly table: ShardedTable | null;
  readonly bias: Tensor;
  readonly numeric: Linear | null;
  readonly numericColumns: number[];

  constructor(layout: BatchLayout, backend: BackendName, seed: number) {
    super();
    const tasks = layout.tasks.length;
    const fields = layout.fields.filter((field) => field.feeds === 'wide' || field.feeds === 'both');
    this.group = fields.length > 0 ? groupFields(fields, () => tasks, () => 'sum')[0] : null;
    this.table = this.group ? ShardedTable.create(this.group.layout.totalRows, tasks, { backend, init: { kind: 'zeros' }, requiresGrad: true }) : null;
    this.table?.shards.forEach((shard, k) => this.registerParameter(`table${k}`, shard));
    this.bias = this.registerParameter('bias', full([tasks], 0, { backend }));

    this.numericColumns = layout.numeric.flatMap((column, i) => (column.feeds === 'wide' || column.feeds === 'both' ? [i] : []));
    this.numeric =
      this.numericColumns.length > 0
        ? this.registerModule('numeric', new Linear(this.numericColumns.length, tasks, { bias: false, init: { kind: 'constant', value: 0 }, seed, backend }))
        : null;
  }

  /** Logits [B, T]. */
  forward(batch: SparseBatch, backend: BackendName): Tensor {
    let logits: Tensor = this.bias;
    if (this.group && this.table) {
      const pooled = embeddingBags(this.table, groupBatch(this.group, batch, backend), { pooling: 'sum' });
      logits = add(sum(pooled, 1), logits);
    }
    if (this.numeric) logits = add(this.numeric.forward(numericColumns(batch, this.numericColumns, backend)), logits);
    if (logits === this.bias) logits = add(full([batch.size, this.bias.shape[0]], 0, { backend }), this.bias);
    return logits;
  }
}

/**
 * The deep part: each deep field's bag embedded and pooled (its combiner), the embeddings
 * concatenated with the deep numeric columns, then an MLP with one output per task.
 */
export class DeepTower extends Module {
  readonly groups: FieldGroup[];
  readonly tables: ShardedTable[];
  readonly numericColumns: number[];
  readonly mlp: MLP;

  constructor(layout: BatchLayout, config: ResolvedWideDeepConfig, backend: BackendName) {
    super();
    const fields = layout.fields.filter((field) => field.feeds === 'deep' || field.feeds === 'both');
    for (const field of fields) {
      if (field.embeddingDim === undefined) throw new ShapeError(`model: deep field "${field.name}" has no embeddingDim in the schema`);
    }
    this.groups = groupFields(fields, (field) => field.embeddingDim!, (field) => field.combiner);
    const scale = config.embeddingInitScale;
    this.tables = this.groups.map((group, g) =>
      ShardedTable.create(group.layout.totalRows, group.dim, {
        backend,
        init: { kind: 'uniform', low: -scale, high: scale },
        seed: config.seed * 101 + g * 7,
        requiresGrad: true,
      }),
    );
    this.tables.forEach((table, g) => table.shards.forEach((shard, k) => this.registerParameter(`embedding${g}_${k}`, shard)));

    this.numericColumns = layout.numeric.flatMap((column, i) => (column.feeds === 'deep' || column.feeds === 'both' ? [i] : []));
    const inputWidth = this.groups.reduce((width, group) => width + group.fields.length * group.dim, 0) + this.numericColumns.length;
    if (inputWidth === 0) throw new ShapeError('model: the deep part has no input; mark fields or numeric columns with feeds "deep" or "both"');
    this.mlp = this.registerModule(
      'mlp',
      new MLP(inputWidth, config.hidden, { dropout: config.dropout, outFeatures: layout.tasks.length, seed: config.seed, backend }),
    );
  }

  /** Logits [B, T]. */
  forward(batch: SparseBatch, backend: BackendName): Tensor {
    const parts = this.groups.map((group, g) => {
      const pooled = embeddingBags(this.tables[g], groupBatch(group, batch, backend), { pooling: group.pooling });
      return pooled.reshape([batch.size, group.fields.length * group.dim]);
    });
    if (this.numericColumns.length > 0) parts.push(numericColumns(batch, this.numericColumns, backend));
    const input = parts.length === 1 ? parts[0] : concat(parts, 1);
    return this.mlp.forward(input);
  }
}

/** Wide, deep, or both with their logits summed: `kind` chooses, the data and training stay the same. */
export class WideAndDeep extends Module {
  readonly config: ResolvedWideDeepConfig;
  readonly wide: WideLinear | null;
  readonly deep: DeepTower | null;

  constructor(
    readonly layout: BatchLayout,
    config: WideDeepConfig,
    readonly backend: BackendName,
  ) {
    super();
    this.config = resolveWideDeepConfig(config);
    if (layout.tasks.length === 0) throw new ShapeError('model: the schema has no label');
    this.wide = this.config.kind === 'deep' ? null : this.registerModule('wide', new WideLinear(layout, backend, this.config.seed));
    this.deep = this.config.kind === 'wide' ? null : this.registerModule('deep', new DeepTower(layout, this.config, backend));
  }

  get taskNames(): string[] {
    return this.layout.tasks.map((task) => task.name);
  }

  /** Logits [B, T], one column per task in layout order. */
  forward(batch: SparseBatch): Tensor {
    const wide = this.wide?.forward(batch, this.backend);
    const deep = this.deep?.forward(batch, this.backend);
    if (wide && deep) return add(wide, deep);
    return (wide ?? deep)!;
  }

  /** Parameters of the wide part and of the deep part, for their own optimizers. */
  parameterParts(): { wide: Record<string, Tensor>; deep: Record<string, Tensor> } {
    const wide: Record<string, Tensor> = {};
    const deep: Record<string, Tensor> = {};
    for (const [name, tensor] of this.namedParameters()) {
      if (name.startsWith('wide.')) wide[name] = tensor;
      else deep[name] = tensor;
    }
    return { wide, deep };
  }
}
