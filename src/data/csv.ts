// Streaming CSV reading with csv-parse: gzip, header or given column names, line numbers, bad-row policy.

import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CsvError, parse, type Options as ParseOptions } from 'csv-parse';

import { BadRowError, DataFileError } from './errors.js';
import { BadRows, type Row } from './rows.js';
import type { CsvOptions } from './schema.js';

export { BadRows, type Row } from './rows.js';

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
