// Data rows and the bad-row policy, shared by CSV files and generators; no file access, so web pages can use them.

import { BadRowError, type BadRowInfo, type BadRowReason } from './errors.js';

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

  /**
   * Summarizes the skipped rows for a log line, such as "skipped 2 bad row(s): 1 number, 1
   * field count; first: people.csv line 4, column 2 "age": not a number (value "x")".
   */
  summary(): string {
    const reasons = Object.entries(this.byReason).map(([reason, count]) => `${count} ${reason}`);
    return `skipped ${this.count} bad row(s): ${reasons.join(', ')}${this.examples.length > 0 ? `; first: ${this.examples[0]}` : ''}`;
  }
}
