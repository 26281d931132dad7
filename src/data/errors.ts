// Errors of the data layer: an invalid schema, a bad CSV row, a missing data file.

/** A schema or fitted state that is invalid; the message starts with the JSON path of the bad key. */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** Reason for rejecting a row; the summary counts skipped rows by reason. */
export type BadRowReason = 'field count' | 'number' | 'label' | 'missing value' | 'weight' | 'flag' | 'lookup';

/** Location and value of a bad row, for the error and for skip counts. */
export interface BadRowInfo {
  file: string;
  /** 1-based line number in the file. */
  line: number;
  /** Column name, or undefined when the whole row is bad (wrong number of fields). */
  column?: string;
  /** 1-based column number in the file, when the column comes from the file itself. */
  columnNumber?: number;
  value?: string;
  reason: BadRowReason;
  /** Description of the problem, without the location. */
  detail: string;
}

/** A row that cannot be parsed or encoded; thrown unless bad rows are skipped. */
export class BadRowError extends Error {
  override name = 'BadRowError';
  readonly info: BadRowInfo;

  constructor(info: BadRowInfo) {
    super(formatBadRow(info));
    this.info = info;
  }
}

/** Formats a bad row as "FILE line N, column K "NAME": DETAIL; what to do". */
export function formatBadRow(info: BadRowInfo): string {
  let where = `${info.file} line ${info.line}`;
  if (info.column !== undefined) {
    where += info.columnNumber !== undefined ? `, column ${info.columnNumber} "${info.column}"` : `, column "${info.column}"`;
  }
  const value = info.value !== undefined ? ` (value ${JSON.stringify(info.value)})` : '';
  return `${where}: ${info.detail}${value}; fix the row, or skip and count bad rows (--skip-bad-rows on the command line, skipBadRows in the library)`;
}

/** A data file that was expected but does not exist. */
export class DataFileError extends Error {
  override name = 'DataFileError';
}
