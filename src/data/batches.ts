// Batch iteration: streamed batches with a seeded shuffle buffer, prefetching, and epochs over an in-memory batch.

import { selectRows, type SparseBatch } from './batch.js';
import { BadRows, type Row } from './rows.js';
import type { Encoder } from './encode.js';
import { SeededRandom } from './random.js';
import type { RowSource } from './source.js';

export interface StreamOptions {
  batchSize: number;
  /** Shuffle rows through a buffer with this seed; without it, rows keep file order. */
  shuffleSeed?: number;
  /** Rows held by the shuffle buffer; default 65,536. A file no larger than this is shuffled uniformly. */
  shuffleBuffer?: number;
  /** Keep the last, smaller batch; default true. */
  keepPartial?: boolean;
  /** Skip and count bad rows instead of throwing; default false. The counts land in `badRows`. */
  badRows?: BadRows;
}

/**
 * Streams encoded batches from a source. With `shuffleSeed`, rows pass through a buffer of
 * `shuffleBuffer` rows from which a seeded random row is drawn each time (the same seed gives
 * the same order). Memory contains the buffer and one batch, never the whole file.
 */
export async function* streamBatches(source: RowSource, encoder: Encoder, options: StreamOptions): AsyncGenerator<SparseBatch> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new RangeError(`batchSize: ${options.batchSize} is not a positive integer`);
  const badRows = options.badRows ?? new BadRows(false);
  let builder = encoder.builder();

  const rows = options.shuffleSeed === undefined
    ? source.rows(badRows)
    : shuffleRows(source.rows(badRows), options.shuffleBuffer ?? 65536, new SeededRandom(options.shuffleSeed));
  for await (const row of rows) {
    builder.add(row, badRows);
    if (builder.size === options.batchSize) {
      yield builder.finish();
      builder = encoder.builder();
    }
  }
  if (builder.size > 0 && (options.keepPartial ?? true)) yield builder.finish();
}

/** Shuffles a row stream through a buffer: each output row is a uniformly chosen buffered row. */
export async function* shuffleRows(rows: AsyncIterable<Row>, bufferSize: number, random: SeededRandom): AsyncGenerator<Row> {
  if (!Number.isInteger(bufferSize) || bufferSize < 1) throw new RangeError(`shuffleBuffer: ${bufferSize} is not a positive integer`);
  const buffer: Row[] = [];
  for await (const row of rows) {
    if (buffer.length < bufferSize) {
      buffer.push(row);
      continue;
    }
    const slot = random.int(bufferSize);
    yield buffer[slot];
    buffer[slot] = row;
  }
  random.shuffle(buffer);
  yield* buffer;
}

/**
 * Runs an async iterator `depth` items ahead of its consumer: while the consumer works on
 * batch i (for example waiting for a training step on the GPU), batch i + 1 is read and
 * encoded. Errors surface when the consumer reaches the failed item.
 */
export async function* prefetch<T>(items: AsyncIterable<T>, depth = 1): AsyncGenerator<T> {
  const iterator = items[Symbol.asyncIterator]();
  const pending: Promise<IteratorResult<T>>[] = [];
  try {
    for (let i = 0; i <= depth; i++) pending.push(iterator.next());
    for (;;) {
      const next = await pending.shift()!;
      if (next.done) return;
      pending.push(iterator.next());
      yield next.value;
    }
  } finally {
    // Settle requests already made, so a rejected one does not surface as unhandled.
    await Promise.allSettled(pending);
    await iterator.return?.();
  }
}

/** Reads a whole source into one batch (for data sets that fit in memory and train for several epochs). */
export async function encodeAll(source: RowSource, encoder: Encoder, badRows = new BadRows(false)): Promise<SparseBatch> {
  const builder = encoder.builder();
  for await (const row of source.rows(badRows)) builder.add(row, badRows);
  return builder.finish();
}

/**
 * Yields the batches of one epoch over an in-memory batch, in an order shuffled with
 * (seed, epoch), so the same seed and epoch give the same batches.
 */
export function* epochBatches(data: SparseBatch, options: { batchSize: number; seed: number; epoch?: number; keepPartial?: boolean }): Generator<SparseBatch> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new RangeError(`batchSize: ${options.batchSize} is not a positive integer`);
  const order = new Uint32Array(data.size);
  for (let i = 0; i < data.size; i++) order[i] = i;
  new SeededRandom(options.seed, options.epoch ?? 0).shuffle(order);
  for (let start = 0; start < data.size; start += options.batchSize) {
    const end = Math.min(start + options.batchSize, data.size);
    if (end - start < options.batchSize && options.keepPartial === false) return;
    yield selectRows(data, order.subarray(start, end));
  }
}
