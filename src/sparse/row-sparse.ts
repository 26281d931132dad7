// Row-sparse gradients: the rows of a table that a batch touched, and their summed values.

import { ShapeError } from '../errors.js';
import { formatShape, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The gradient of a table of shape `denseShape` ([rows, ...rowShape]) that is zero outside
 * `rows`. `rows` is u32 [U], unique and sorted ascending; `values` is f32 [U, ...rowShape],
 * where `values[i]` is the summed gradient of row `rows[i]`. Optimizers update only these
 * rows, so a step costs O(U x row size), never O(table size).
 */
export class RowSparse {
  constructor(
    readonly rows: Tensor,
    readonly values: Tensor,
    readonly denseShape: Shape,
  ) {
    if (rows.dtype !== 'u32' || rows.rank !== 1) {
      throw new ShapeError(`RowSparse: rows must be u32 [U], got ${rows.dtype}${formatShape(rows.shape)}`);
    }
    const expected = [rows.shape[0], ...denseShape.slice(1)];
    if (values.dtype !== 'f32' || formatShape(values.shape) !== formatShape(expected)) {
      throw new ShapeError(`RowSparse: values must be f32 ${formatShape(expected)}, got ${values.dtype}${formatShape(values.shape)}`);
    }
  }

  get rowCount(): number {
    return this.rows.shape[0];
  }

  dispose(): void {
    this.rows.dispose();
    this.values.dispose();
  }
}
