// Row-sparse gradients: the rows of a table that a batch touched, and their summed values.

import { ShapeError } from '../errors.js';
import { formatShape, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Row id of an unused entry of a row-sparse gradient. It is the largest u32, so padding
 * entries sort after every real row, and it is outside every table, so a kernel that
 * bounds-checks `rows[i] - rowOffset` against its table skips them without a special case.
 */
export const PADDING_ROW = 0xffffffff;

/**
 * The gradient of a table of shape `denseShape` ([rows, ...rowShape]) that is zero outside
 * `rows`. `rows` is u32 [C] and `values` is f32 [C, ...rowShape], where `values[i]` is the
 * summed gradient of row `rows[i]`. Optimizers update only these rows, so a step costs
 * O(C x row size), never O(table size).
 *
 * Shapes are fixed when the op runs, but the number of distinct rows U can depend on ids
 * that stay on the device. So the capacity C is fixed by the op that made the gradient
 * (`embeddingBags` counts U on the host, so C = U; `gather` with `sparseGrad` uses the
 * number of ids), and the entries are the U distinct rows, unique and sorted ascending,
 * followed by C - U padding entries with the row `PADDING_ROW` and zero values. `rowCount`
 * is the capacity C. The atomic embedding-bag gradient is the exception to the order: its
 * rows are unique but unsorted.
 *
 * `rowOffset` places the gradient in a larger table: `rows` are ids in that larger table,
 * and this tensor contains its rows [rowOffset, rowOffset + denseShape[0]). The shards of a
 * `ShardedTable` get their gradients this way. An entry applies to local row
 * `rows[i] - rowOffset` when that is in [0, denseShape[0]), and is skipped otherwise. A
 * kernel that computes the local row in u32 arithmetic and compares it with
 * denseShape[0] skips padding with the same comparison, whatever the offset.
 */
export class RowSparse {
  constructor(
    readonly rows: Tensor,
    readonly values: Tensor,
    readonly denseShape: Shape,
    readonly rowOffset = 0,
  ) {
    if (rows.dtype !== 'u32' || rows.rank !== 1) {
      throw new ShapeError(`RowSparse: rows must be u32 [C], got ${rows.dtype}${formatShape(rows.shape)}`);
    }
    if (denseShape.length === 0) {
      throw new ShapeError('RowSparse: denseShape must have rank at least 1 ([rows, ...rowShape])');
    }
    const expected = [rows.shape[0], ...denseShape.slice(1)];
    if (values.dtype !== 'f32' || formatShape(values.shape) !== formatShape(expected)) {
      throw new ShapeError(`RowSparse: values must be f32 ${formatShape(expected)}, got ${values.dtype}${formatShape(values.shape)}`);
    }
    if (!Number.isInteger(rowOffset) || rowOffset < 0 || rowOffset + denseShape[0] > PADDING_ROW) {
      throw new RangeError(`RowSparse: rowOffset ${rowOffset} plus ${denseShape[0]} rows must be a non-negative integer range below 2^32 - 1`);
    }
  }

  /** The capacity C: distinct rows followed by padding entries. */
  get rowCount(): number {
    return this.rows.shape[0];
  }

  /** Elements per row: the product of `denseShape` after the first dimension. */
  get rowSize(): number {
    return this.denseShape.slice(1).reduce((a, b) => a * b, 1);
  }

  dispose(): void {
    this.rows.dispose();
    this.values.dispose();
  }
}
