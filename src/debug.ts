// The one debug switch: SPARROW_DEBUG=1 logs adapters and launches, 2 adds WGSL sources, 3 adds timings.

import { envValue, writeDiagnostic } from './host.js';

function parseLevel(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  const level = Number(raw);
  if (!Number.isInteger(level) || level < 0) {
    throw new RangeError(`SPARROW_DEBUG: invalid value "${raw}"; use 0 (off), 1 (launches), 2 (+ WGSL source) or 3 (+ timings)`);
  }
  return level;
}

let level = parseLevel(envValue('SPARROW_DEBUG'));

export function debugLevel(): number {
  return level;
}

export function setDebugLevel(next: number): void {
  level = parseLevel(String(next));
}

/** Writes `message` to stderr (the console in a browser) when the debug level is at least `minLevel`. */
export function debugLog(minLevel: number, message: string): void {
  if (level >= minLevel) writeDiagnostic(`[sparrow] ${message}`);
}
