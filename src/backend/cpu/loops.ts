// Plain loops shared by CPU references: reading broadcast inputs by output index.

import { broadcastStrides, stridesOf, type Shape } from '../../tensor/shape.js';

/**
 * For each input, the offset that output element `i` reads. Computed independently of the
 * WGSL generator: it walks the output index with a carry, like an odometer.
 */
export function broadcastOffsets(inputShapes: Shape[], outShape: Shape): Int32Array[] {
  const size = outShape.reduce((a, b) => a * b, 1);
  const rank = outShape.length;
  const strides = inputShapes.map((shape) => broadcastStrides(shape, outShape));
  const offsets = inputShapes.map(() => new Int32Array(size));
  const index = new Array<number>(rank).fill(0);

  for (let i = 0; i < size; i++) {
    for (let k = 0; k < inputShapes.length; k++) {
      let offset = 0;
      for (let d = 0; d < rank; d++) offset += index[d] * strides[k][d];
      offsets[k][i] = offset;
    }
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      if (index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return offsets;
}

/** Multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: Shape): number[] {
  const strides = stridesOf(shape);
  return shape.map((dim, d) => Math.floor(flat / strides[d]) % dim);
}
