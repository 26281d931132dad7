// Streaming CSV reading with csv-parse: gzip, header or given column names, line numbers, bad-row policy.

import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CsvError, parse, type Options as ParseOptions } from 'csv-parse';

import { BadRowError, DataFileError, type BadRowInfo, type BadRowReason } from './errors.js';
import type { CsvOptions } from './schema.js';

/** One data row: its values in column order, and where it came from. */
export interface Row {
  /** File name (without directories) or generator name, for error messages. */
  file: string;
  /** 1-based line number in the file, or the row index + 1 for generated rows. */
  line: number;
  /** Field text in column order; generators may give numbers directly. */
  values: (string | number)[];
}

/**
 * Policy for bad rows: throw a BadRowError (the default), or skip the row and count it by
 * reason. One instance is used for one pass over the data.
 */
export class BadRows {
  readonly skip: boolean;
  count = 0;
  readonly byReason: Partial<Record<BadRowReason, number>> = {};
  /** The first few skipped rows, to show in a summary. */
  readonly examples: string[] = [];

  constructor(skip = false) {
    this.skip = skip;
  }

  /** Throws the bad row, or counts it when skipping. */
  report(info: BadRowInfo): void {
    const error = new BadRowError(info);
    if (!this.skip) throw error;
    this.count++;
    this.byReason[info.reason] = (this.byReason[info.reason] ?? 0) + 1;
    if (this.examples.length < 5) this.examples.push(error.message.split('; fix the row')[0]);
  }
}

/** Rows of a CSV file and its column names. */
export interface CsvFile {
  columns: string[];
  rows: AsyncGenerator<Row>;
}

/** Opens a file (gunzipped on the fly when it ends in .gz) as a byte stream. */
export function openFileStream(path: string): Readable {
  if (!existsSync(path)) throw new DataFileError(`data file not found: ${path}`);
  const stream = createReadStream(path);
  return path.endsWith('.gz') ? stream.pipe(createGunzip()) : stream;
}

/**
 * Opens a CSV file for streaming. Blank lines and lines starting with `csv.comment` are
 * skipped; every other line must have one field per column, else it is a bad row
 * (reported to `badRows`). Memory use does not grow with the file's size.
 */
export async function openCsv(path: string, csv: CsvOptions, badRows: BadRows): Promise<CsvFile> {
  const file = basename(path);
  const options: ParseOptions = {
    delimiter: csv.delimiter ?? ',',
    ltrim: csv.trim ?? true,
    rtrim: csv.trim ?? true,
    quote: csv.quote === false ? false : (csv.quote ?? '"'),
    relax_column_count: true,
    skip_empty_lines: true,
    info: true,
    encoding: csv.encoding === 'latin1' ? 'latin1' : 'utf8',
    skip_records_with_error: badRows.skip,
    on_skip: (error: CsvError | undefined) => {
      if (!error) return;
      badRows.count++;
      badRows.byReason['field count'] = (badRows.byReason['field count'] ?? 0) + 1;
      if (badRows.examples.length < 5) badRows.examples.push(`${file} line ${String(error.lines ?? '?')}: ${error.message}`);
    },
  };
  if (csv.comment !== undefined) {
    options.comment = csv.comment;
    options.comment_no_infix = true;
  }
  const parser = openFileStream(path).pipe(parse(options));
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>;

  let columns = csv.columns;
  if (csv.header) {
    const first = await nextRecord(records, file);
    if (first.done) throw new DataFileError(`${file}: the file is empty but the schema expects a header line`);
    const header = first.value.record;
    if (columns && header.join('\u0000') !== columns.join('\u0000')) {
      throw new DataFileError(`${file} line ${first.value.info.lines}: the header (${header.join(', ')}) differs from the schema's columns (${columns.join(', ')})`);
    }
    columns = header;
  }
  if (!columns) throw new DataFileError(`${file}: the schema gives no column names and the file has no header`);
  const names = columns;

  async function* rows(): AsyncGenerator<Row> {
    try {
      for (;;) {
        const next = await nextRecord(records, file);
        if (next.done) return;
        const { record, info } = next.value;
        if (record.length !== names.length) {
          reportFieldCount(badRows, file, info.lines, record, names);
          continue;
        }
        yield { file, line: info.lines, values: record };
      }
    } finally {
      parser.destroy();
    }
  }
  return { columns: names, rows: rows() };
}

async function nextRecord<T>(records: AsyncIterator<T>, file: string): Promise<IteratorResult<T>> {
  try {
    return await records.next();
  } catch (error) {
    // csv-parse throws on an unclosed quote and similar damage; name the file and line.
    if (error instanceof CsvError) {
      throw new BadRowError({ file, line: Number(error.lines ?? 0), reason: 'field count', detail: `cannot parse CSV: ${error.message}` });
    }
    throw error;
  }
}

function reportFieldCount(badRows: BadRows, file: string, line: number, record: string[], columns: string[]): void {
  const detail = `${record.length} fields, expected ${columns.length}`;
  if (record.length < columns.length) {
    const column = columns[record.length];
    badRows.report({ file, line, column, columnNumber: record.length + 1, reason: 'field count', detail: `${detail}; column "${column}" and later are absent` });
  } else {
    const value = record[columns.length];
    badRows.report({ file, line, columnNumber: columns.length + 1, column: '(extra field)', value, reason: 'field count', detail });
  }
}
