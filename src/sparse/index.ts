// Sparse features: row-sparse gradients, sort-and-segment ops, sharded tables, sparse batches and embedding bags.

export { PADDING_ROW, RowSparse } from './row-sparse.js';
export { TableLayout, MAX_TOTAL_ROWS, type FieldSpec } from './table-layout.js';
export { ShardedTable, maxShardRows, type ShardedTableOptions, type TableInit } from './sharded-table.js';
export { EmbeddingBatch, embeddingBatch, validateSparseField, type SparseFieldInput } from './embedding-batch.js';
export * from '../ops/sparse-sort.js';
export { NARROW_SORT_SHAPE, SINGLE_WORKGROUP_SORT_LIMIT, WIDE_SORT_SHAPE, type SortShape, type SortStrategy, type SortWorkgroup } from '../kernels/sort.js';
export { SINGLE_WORKGROUP_SEGMENT_LIMIT } from '../kernels/segment.js';
export { embeddingBags, embeddingBagsOp, type EmbeddingBagsOptions, type Pooling } from '../ops/embedding-bag.js';
export { firstNonFinite, firstNonFiniteOp, assertFiniteGradient } from '../ops/sparse-check.js';
export { crossBucket, murmur3String, murmur3Words } from './hash.js';
