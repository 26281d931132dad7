// Reading one feature's or label's raw value from a row: missing markers, strict numbers, bags, flags, weights.

import type { Row } from './csv.js';
import { SchemaError, type BadRowInfo, type BadRowReason } from './errors.js';
import {
  inputColumnsOf, missingMarkersOf, missingPolicyOf, sourceColumn,
  type CategoricalFeature, type FeatureSpec, type LabelSpec, type MissingSpec, type Schema,
} from './schema.js';

/** Thrown by the readers for a bad value; the caller turns it into a bad row (error or skip). */
export class RowProblem extends Error {
  readonly info: BadRowInfo;

  constructor(info: BadRowInfo) {
    super(info.detail);
    this.info = info;
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A feature or label bound to its column positions in the rows of one source. */
export interface BoundColumns {
  columns: string[];
  indexOf(column: string): number;
}

/**
 * Binds column names to positions. Throws a SchemaError naming every column the schema needs
 * but the source lacks, and the features or labels that read the first one.
 */
export function bindColumns(schema: Schema, columns: string[]): BoundColumns {
  const positions = new Map(columns.map((name, i) => [name, i]));
  const needed = [...schema.features.flatMap(inputColumnsOf), ...schema.labels.map(sourceColumn)];
  const absent = [...new Set(needed.filter((name) => !positions.has(name)))];
  if (absent.length > 0) {
    const readers = [
      ...schema.features.filter((feature) => inputColumnsOf(feature).includes(absent[0])).map((feature) => `feature "${feature.name}"`),
      ...schema.labels.filter((label) => sourceColumn(label) === absent[0]).map((label) => `label "${label.name}"`),
    ];
    throw new SchemaError(
      `schema: column${absent.length > 1 ? 's' : ''} ${absent.map((name) => `"${name}"`).join(', ')} not found in the data (columns: ${columns.join(', ')}); ` +
        `${readers.join(' and ')} read${readers.length === 1 ? 's' : ''} "${absent[0]}". For a CSV file, the columns are the schema's csv.columns and its lookups' columns`,
    );
  }
  return { columns, indexOf: (column) => positions.get(column)! };
}

function problem(row: Row, bound: BoundColumns, column: string, value: string, reason: BadRowReason, detail: string): RowProblem {
  const index = bound.indexOf(column);
  return new RowProblem({ file: row.file, line: row.line, column, columnNumber: index + 1, value, reason, detail });
}

/** Parses a decimal number strictly (no empty text, hex, Infinity or NaN). */
export function parseNumber(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  return NUMBER.test(text) ? Number(text) : undefined;
}

/** Result of reading a column that may hold a missing marker. */
export type Cell = { missing: true } | { missing: false; text: string | number };

/** Reads a column's cell, applying the `default` policy (replace the missing value by the default text). */
export function readCell(row: Row, bound: BoundColumns, column: string, markers: ReadonlySet<string>, missing: MissingSpec | undefined, policy: string): Cell {
  const value = row.values[bound.indexOf(column)];
  if (typeof value === 'string' && markers.has(value)) {
    if (policy === 'default') return { missing: false, text: missing!.default! };
    if (policy === 'error') throw problem(row, bound, column, value, 'missing value', 'missing value, and the column\'s missing policy is "error"');
    return { missing: true };
  }
  return { missing: false, text: value };
}

/** Reads a number from a column or throws a RowProblem naming it. */
export function readNumberCell(row: Row, bound: BoundColumns, column: string, text: string | number): number {
  const value = parseNumber(text);
  if (value === undefined) throw problem(row, bound, column, String(text), 'number', 'not a number');
  return value;
}

/** Marker sets per feature and label, built once per schema. */
export function markerSets(schema: Schema): Map<string, Set<string>> {
  const sets = new Map<string, Set<string>>();
  for (const feature of schema.features) {
    if (feature.type !== 'cross') sets.set(`feature:${feature.name}`, new Set(missingMarkersOf(schema, feature)));
  }
  for (const label of schema.labels) sets.set(`label:${label.name}`, new Set(missingMarkersOf(schema, label)));
  return sets;
}

/**
 * Reads a categorical feature's values into `tokens` (and `weights` when the feature has a
 * weight column). Returns false when the value is missing (for the own-id and empty policies).
 */
export function readTokens(
  row: Row, bound: BoundColumns, feature: CategoricalFeature, markers: ReadonlySet<string>, tokens: string[], weights: number[],
): boolean {
  tokens.length = 0;
  weights.length = 0;
  const policy = missingPolicyOf(feature);

  if (feature.flags) {
    for (const flag of feature.flags) {
      const cell = readCell(row, bound, flag, markers, feature.missing, policy);
      if (cell.missing) return false;
      const text = String(cell.text);
      if (text === '1') tokens.push(flag);
      else if (text !== '0') throw problem(row, bound, flag, text, 'flag', 'a flag column must be 0 or 1');
    }
  } else {
    const column = sourceColumn(feature);
    const cell = readCell(row, bound, column, markers, feature.missing, policy);
    if (cell.missing) return false;
    const text = String(cell.text);
    if (feature.separator === undefined) tokens.push(text);
    else for (const token of text.split(feature.separator)) if (token.trim() !== '') tokens.push(token.trim());
  }

  if (feature.weightColumn) {
    const text = String(row.values[bound.indexOf(feature.weightColumn)]);
    const parts = feature.separator === undefined || feature.flags ? [text] : text.split(feature.separator).map((part) => part.trim()).filter((part) => part !== '');
    if (parts.length !== tokens.length) {
      throw problem(row, bound, feature.weightColumn, text, 'weight', `${parts.length} weights for ${tokens.length} values of "${feature.name}"`);
    }
    for (const part of parts) {
      const weight = parseNumber(part);
      if (weight === undefined) throw problem(row, bound, feature.weightColumn, part, 'weight', 'weight is not a number');
      weights.push(weight);
    }
  }
  return true;
}

/**
 * Reads a label: 1/0 for binary labels, the number for numeric ones, NaN when missing with
 * the mask policy. Throws a RowProblem for an unknown or unparsable value.
 */
export function readLabel(row: Row, bound: BoundColumns, label: LabelSpec, markers: ReadonlySet<string>, positive: ReadonlySet<string>, negative: ReadonlySet<string> | undefined): number {
  const column = sourceColumn(label);
  const value = row.values[bound.indexOf(column)];
  const text = String(value);
  if (typeof value === 'string' && markers.has(value)) {
    if (label.missing?.policy === 'mask') return NaN;
    throw problem(row, bound, column, text, 'missing value', `label "${label.name}" is missing; set its missing policy to "mask" to keep such rows`);
  }

  if (label.type === 'numeric') return readNumberCell(row, bound, column, value);
  if (label.threshold !== undefined) return readNumberCell(row, bound, column, value) >= label.threshold ? 1 : 0;
  if (positive.has(text)) return 1;
  if (!negative || negative.has(text)) return 0;
  const known = [...positive, ...negative].map((item) => JSON.stringify(item)).join(', ');
  throw problem(row, bound, column, text, 'label', `unknown value of label "${label.name}" (known values: ${known})`);
}

/** Features other than crosses, which read columns. */
export type ColumnFeature = Exclude<FeatureSpec, { type: 'cross' }>;
