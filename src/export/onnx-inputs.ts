// The input and output layout of an exported ONNX serving graph, and padded feeds built from a Sparrow batch.

import type { SparseBatch } from '../data/batch.js';
import type { OnnxDim } from './onnx-graph.js';

/**
 * Value that fills the unused slots of a padded bag of ids. It is outside every vocabulary
 * because ids are >= 0. The graph treats any negative id as padding, which adds nothing and
 * does not count for mean.
 */
export const ONNX_PADDING_ID = -1;

/** Name of the symbolic batch dimension of every input and output. */
export const BATCH_DIM = 'batch';

/**
 * One graph input.
 *
 * - `ids`: int64 [batch, <field>_len], the field's ids as Sparrow's encoder assigns them (in
 *   [0, vocabularySize)), one bag per row, padded on the right with ONNX_PADDING_ID.
 * - `weights`: float32 [batch, <field>_len], one weight per id of a weighted field, aligned
 *   with its ids input; values at padded slots are ignored.
 * - `numeric`: float32 [batch, columns.length], the numeric columns after the schema's
 *   normalization, in the order of `columns`.
 */
export interface OnnxInputSpec {
  name: string;
  kind: 'ids' | 'weights' | 'numeric';
  dtype: 'int64' | 'float32';
  shape: OnnxDim[];
  /** The sparse field of an ids or weights input. */
  field?: string;
  /** Ids of the field are in [0, vocabularySize). */
  vocabularySize?: number;
  /** Names of the numeric columns, in input column order. */
  columns?: string[];
}

/** One graph output: `predictions` float32 [batch, tasks] or `score` float32 [batch]. */
export interface OnnxOutputSpec {
  name: string;
  dtype: 'float32';
  shape: OnnxDim[];
  /** Task names of the prediction columns, in column order. */
  columns?: string[];
}

/** A tensor to feed an ONNX runtime: element type, dimensions and row-major values. */
export interface OnnxFeed {
  dtype: 'int64' | 'float32';
  dims: number[];
  data: BigInt64Array | Float32Array;
}

/**
 * Builds the padded inputs of an exported graph from a Sparrow batch. Each field's bags become
 * rows of ids padded with ONNX_PADDING_ID to the longest bag, at least 1 wide so that an
 * all-empty field still has a slot. Weights are padded with 0. The numeric input gets the
 * columns that the graph reads. Throws when the batch lacks a field or column of the graph.
 */
export function onnxFeeds(batch: SparseBatch, inputs: readonly OnnxInputSpec[]): Record<string, OnnxFeed> {
  const feeds: Record<string, OnnxFeed> = {};
  for (const input of inputs) {
    if (input.kind === 'numeric') {
      feeds[input.name] = numericFeed(batch, input.columns ?? []);
      continue;
    }

    const field = batch.fields[input.field!];
    if (field === undefined) throw new RangeError(`onnxFeeds: the batch has no field "${input.field}", which input "${input.name}" needs`);
    if (input.kind === 'weights' && field.weights === undefined) {
      throw new RangeError(`onnxFeeds: field "${input.field}" of the batch has no weights, which input "${input.name}" needs`);
    }
    feeds[input.name] = bagFeed(batch.size, field, input.kind);
  }
  return feeds;
}

function bagFeed(rows: number, field: SparseBatch['fields'][string], kind: 'ids' | 'weights'): OnnxFeed {
  let width = 1;
  for (let row = 0; row < rows; row++) width = Math.max(width, field.offsets[row + 1] - field.offsets[row]);

  const ids = kind === 'ids' ? new BigInt64Array(rows * width).fill(BigInt(ONNX_PADDING_ID)) : null;
  const weights = kind === 'weights' ? new Float32Array(rows * width) : null;
  for (let row = 0; row < rows; row++) {
    const start = field.offsets[row];
    const end = field.offsets[row + 1];
    for (let p = start; p < end; p++) {
      if (ids) ids[row * width + p - start] = BigInt(field.ids[p]);
      else weights![row * width + p - start] = field.weights![p];
    }
  }
  return ids ? { dtype: 'int64', dims: [rows, width], data: ids } : { dtype: 'float32', dims: [rows, width], data: weights! };
}

function numericFeed(batch: SparseBatch, columns: string[]): OnnxFeed {
  const all = batch.layout.numeric.map((column) => column.name);
  const positions = columns.map((name) => {
    const position = all.indexOf(name);
    if (position < 0) throw new RangeError(`onnxFeeds: the batch has no numeric column "${name}"; its columns are [${all.join(', ')}]`);
    return position;
  });

  const data = new Float32Array(batch.size * columns.length);
  for (let row = 0; row < batch.size; row++) {
    positions.forEach((position, j) => (data[row * columns.length + j] = batch.dense[row * all.length + position]));
  }
  return { dtype: 'float32', dims: [batch.size, columns.length], data };
}
