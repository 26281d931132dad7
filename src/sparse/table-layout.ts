// The layout of several fields' embedding tables stacked into one combined table.

import type { BackendName } from '../backend/backend.js';
import { tensor } from '../ops/creation.js';
import { keep } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { PADDING_ROW } from './row-sparse.js';

/** One categorical field: its name (used in errors), its vocabulary size and an optional padding id. */
export interface FieldSpec {
  name: string;
  /** Rows of this field's table: ids are in [0, rows). */
  rows: number;
  /** An id that contributes nothing to its bag and does not count for `mean`. */
  paddingId?: number;
}

/** The largest combined table: row ids and the "dropped" key `totalRows` must stay below PADDING_ROW. */
export const MAX_TOTAL_ROWS = PADDING_ROW - 1;

/**
 * Stacks the tables of several fields into one combined table, in field order: field f
 * owns rows [rowStarts[f], rowStarts[f] + rows) and its local id i is row rowStarts[f] + i.
 * One combined table lets one dispatch serve every field (table batching), and one
 * row-sparse gradient cover all of them. The fields share the embedding dimension.
 */
export class TableLayout {
  readonly fields: readonly Readonly<FieldSpec>[];
  readonly rowStarts: readonly number[];
  readonly totalRows: number;
  private readonly fieldInfoCache = new Map<BackendName, Tensor>();

  constructor(fields: FieldSpec[]) {
    if (fields.length === 0) throw new RangeError('TableLayout: needs at least one field');
    const names = new Set<string>();
    const starts: number[] = [];
    let total = 0;
    for (const field of fields) {
      if (names.has(field.name)) throw new RangeError(`TableLayout: field name "${field.name}" appears twice; names must be unique`);
      names.add(field.name);
      if (!Number.isInteger(field.rows) || field.rows < 1) {
        throw new RangeError(`TableLayout: field "${field.name}" has ${field.rows} rows; expected a positive integer`);
      }
      const padding = field.paddingId;
      if (padding !== undefined && (!Number.isInteger(padding) || padding < 0 || padding >= field.rows)) {
        throw new RangeError(`TableLayout: field "${field.name}" has paddingId ${padding}, outside its ids [0, ${field.rows})`);
      }
      starts.push(total);
      total += field.rows;
    }
    if (total > MAX_TOTAL_ROWS) {
      throw new RangeError(`TableLayout: the fields have ${total} rows in all, more than the ${MAX_TOTAL_ROWS} that u32 row ids allow`);
    }
    this.fields = fields.map((field) => Object.freeze({ ...field }));
    this.rowStarts = starts;
    this.totalRows = total;
  }

  get fieldCount(): number {
    return this.fields.length;
  }

  /**
   * Returns the u32 [F, 3] tensor of (first row, rows, padding id or PADDING_ROW) per field that the
   * kernels read. Created once per backend and kept until `dispose()`.
   */
  fieldInfo(backend: BackendName): Tensor {
    const cached = this.fieldInfoCache.get(backend);
    if (cached !== undefined && !cached.isDisposed) return cached;

    const values = new Uint32Array(this.fields.length * 3);
    this.fields.forEach((field, f) => {
      values[f * 3] = this.rowStarts[f];
      values[f * 3 + 1] = field.rows;
      values[f * 3 + 2] = field.paddingId ?? PADDING_ROW;
    });
    const info = keep(tensor(values, [this.fields.length, 3], { backend }));
    this.fieldInfoCache.set(backend, info);
    return info;
  }

  /** Finds the field and local id of combined row `row`, for messages, or returns null outside the table. */
  locateRow(row: number): { field: string; id: number } | null {
    if (!(row >= 0 && row < this.totalRows)) return null;
    let f = this.fields.length - 1;
    while (this.rowStarts[f] > row) f--;
    return { field: this.fields[f].name, id: row - this.rowStarts[f] };
  }

  dispose(): void {
    for (const info of this.fieldInfoCache.values()) info.dispose();
    this.fieldInfoCache.clear();
  }
}
