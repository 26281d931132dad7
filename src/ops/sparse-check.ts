// Checks of gradients for NaN and infinity that read back one number, not the gradient.

import { firstNonFiniteProgram } from '../kernels/embedding-validate.js';
import { PADDING_ROW, type RowSparse } from '../sparse/row-sparse.js';
import type { TableLayout } from '../sparse/table-layout.js';
import { runOp } from '../tensor/engine.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp } from './op.js';
import { slice } from './shape-ops.js';
import { expectDType, expectInputs } from './validate.js';

/**
 * The flat index of the first NaN or infinite element of an f32 tensor, as u32 [1], or
 * 0xffffffff when every element is finite. Not differentiable.
 */
export const firstNonFiniteOp = defineOp({
  name: 'firstNonFinite',
  shape(inputs) {
    expectInputs('firstNonFinite', inputs, 1);
    expectDType('firstNonFinite', inputs[0], ['f32']);
    return [{ shape: [1], dtype: 'u32' }];
  },
  cpu({ inputs: [values], outputs: [out] }) {
    out[0] = PADDING_ROW;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        out[0] = i;
        return;
      }
    }
  },
  webgpu: ({ inputSpecs }) => firstNonFiniteProgram(sizeOf(inputSpecs[0].shape)),
  backward: { notDifferentiable: 'it returns an integer index' },
});

/** Finds the index of the first NaN or infinite element of `values`, or returns null. Reads back one u32. */
export async function firstNonFinite(values: Tensor): Promise<number | null> {
  const found = runOp(firstNonFiniteOp, [values], {})[0];
  const index = (await found.data())[0];
  found.dispose();
  return index === PADDING_ROW ? null : index;
}

/**
 * Throws a RangeError when a row-sparse gradient contains a NaN or an infinity, naming the
 * element, its table row (with `layout`, the field and the field's id) and the value.
 * Call it before an optimizer step: it costs one pass over the values and a readback of
 * one u32 (two more single elements when it throws), never the whole gradient.
 */
export async function assertFiniteGradient(grad: RowSparse, options: { name?: string; layout?: TableLayout } = {}): Promise<void> {
  const index = await firstNonFinite(grad.values);
  if (index === null) return;

  const rowSize = grad.rowSize;
  const entry = Math.floor(index / rowSize);
  const column = index % rowSize;
  const rowTensor = slice(grad.rows, [entry], [1]);
  const flatValues = grad.values.reshape([grad.rowCount * rowSize]);
  const valueTensor = slice(flatValues, [index], [1]);
  flatValues.dispose();
  const row = (await rowTensor.data())[0];
  const value = (await valueTensor.data())[0];
  rowTensor.dispose();
  valueTensor.dispose();

  const located = options.layout?.locateRow(row);
  const where = located ? `field "${located.field}" id ${located.id}` : `table row ${row}`;
  throw new RangeError(
    `${options.name ?? 'gradient'}: the gradient of ${where}, column ${column}, is ${value}; gradients must be finite (check the loss, inputs and learning rate)`,
  );
}

/**
 * Throws a RangeError when the dense gradient `values` contains a NaN or an infinity, naming
 * `name`, the element's index and its value. Like `assertFiniteGradient`, it costs one pass and
 * a readback of one u32 (one more element when it throws).
 */
export async function assertFiniteDenseGradient(values: Tensor, name: string): Promise<void> {
  const index = await firstNonFinite(values);
  if (index === null) return;

  const flat = values.reshape([values.size]);
  const valueTensor = slice(flat, [index], [1]);
  flat.dispose();
  const value = (await valueTensor.data())[0];
  valueTensor.dispose();

  const position: number[] = [];
  let rest = index;
  for (let axis = values.shape.length - 1; axis >= 0; axis--) {
    position.unshift(rest % values.shape[axis]);
    rest = Math.floor(rest / values.shape[axis]);
  }
  throw new RangeError(`${name}: the gradient element [${position.join(', ')}] is ${value}; gradients must be finite (check the loss, inputs and learning rate)`);
}
