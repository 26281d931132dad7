// Prints benchmark results as a side-by-side table and writes them as one JSON object.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { writeAll, writeFileAtomic } from '../src/io/atomic.js';
import type { BenchResult, Impl } from './harness.js';

/** The adapter the WebGPU implementations ran on; a field the adapter leaves blank is an empty string. */
export interface AdapterRecord {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  featureLevel: 'core' | 'compatibility';
  /** Dawn's backend: `opengles`, `vulkan`, or `default` for the platform's native API. */
  dawnBackend: string;
}

/** The JSON contract of `sparrow bench`: the adapter, then one record per case and implementation. */
export interface BenchReport {
  adapter: AdapterRecord | null;
  results: BenchResult[];
  generatedAt: string;
  /** `loadAverage` is the 1-minute load average before and after the run: another busy process skews the numbers. */
  host: { node: string; platform: string; cpuModel: string; cpus: number; loadAverage: { before: number; after: number } };
  /** Versions and builds of the peer libraries, e.g. `{ tfjs: '4.22.0', wasmSimd: true }`. */
  peers: Record<string, string | boolean>;
}

export const DEFAULT_REPORT_PATH = 'bench/results/latest.json';

const PEER_IMPLS: readonly Impl[] = ['tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'];

/**
 * Formats a result's shape: the string a case gives (matmul's `m x k x n`), or an object's fields
 * as `key=value` pairs in their order (the embedding case's `{ vocab, dim, batch, fields }`).
 */
function formatShape(shape: unknown): string {
  if (typeof shape === 'string') return shape;
  if (shape !== null && typeof shape === 'object') {
    return Object.entries(shape).map(([key, value]) => `${key}=${String(value)}`).join(' ');
  }
  return String(shape);
}

/**
 * Returns the variant of a row that has one, such as the embedding case's `sorted` or `atomic`
 * gradient path of sparrow-webgpu, or undefined.
 */
function variantOf(result: BenchResult): string | undefined {
  const { variant } = result as { variant?: unknown };
  return typeof variant === 'string' ? variant : undefined;
}

/** Checks whether a row is the sparrow-webgpu reference of its group: no variant, or the default `sorted` one. */
function isSparrowReference(result: BenchResult): boolean {
  const variant = variantOf(result);
  return result.impl === 'sparrow-webgpu' && (variant === undefined || variant === 'sorted');
}

/**
 * Returns how many times faster `result` is than `reference` (reference median / own median),
 * or null when either has no median.
 */
function speedup(result: BenchResult, reference: BenchResult | undefined): number | null {
  if (reference === undefined || reference.medianMs === null || result.medianMs === null) return null;
  return reference.medianMs / result.medianMs;
}

function formatNumber(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? '-' : value.toFixed(digits);
}

function formatRatio(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(2)}x`;
}

/**
 * Formats the results as a text table. Ratios are speedups: `2.00x` under "vs sparrow-webgpu"
 * means the row runs twice as fast as sparrow-webgpu on the same case and shape, and "vs best
 * peer" compares with the fastest TF.js backend there.
 */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['case', 'shape', 'impl', 'first ms', 'median ms', 'GFLOP/s', 'examples/s', 'vs sparrow-webgpu', 'vs best peer'];
  const rows: string[][] = [];
  const notes: string[] = [];

  for (const result of results) {
    const shape = formatShape(result.shape);
    const group = results.filter((other) => other.case === result.case && formatShape(other.shape) === shape);
    const sparrow = group.find(isSparrowReference);
    const bestPeer = group
      .filter((other) => PEER_IMPLS.includes(other.impl) && other.medianMs !== null)
      .sort((x, y) => (x.medianMs as number) - (y.medianMs as number))[0];

    const isSparrowRow = result === sparrow;
    const isBestPeerRow = result === bestPeer;
    const variant = variantOf(result);
    const impl = variant === undefined ? result.impl : `${result.impl} (${variant})`;
    rows.push([
      result.case,
      shape,
      impl,
      formatNumber(result.firstRunMs, 1),
      // A CPU train-adult epoch is extrapolated from its first steps.
      `${formatNumber(result.medianMs, 2)}${(result as { extrapolated?: boolean }).extrapolated === true ? ' (extrapolated)' : ''}`,
      formatNumber(result.gflops, 2),
      formatNumber(result.examplesPerSecond, 0),
      isSparrowRow ? '' : formatRatio(speedup(result, sparrow)),
      isBestPeerRow ? '' : formatRatio(speedup(result, bestPeer)),
    ]);

    if (result.skipped !== undefined) notes.push(`${result.case} ${shape} ${impl}: skipped: ${result.skipped}`);
    if (result.error !== undefined) notes.push(`${result.case} ${shape} ${impl}: failed: ${result.error}`);
  }

  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const textColumns = 3;
  const formatRow = (row: string[]): string =>
    row.map((cell, column) => (column < textColumns ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');

  const lines = [formatRow(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(formatRow)];
  lines.push('');
  if (results.some((result) => result.case === 'matmul')) lines.push('Matmul shapes are m x k x n.');
  lines.push(
    'Ratios are speedups (reference median / row median); above 1x the row is faster. "vs best peer" compares with the fastest TF.js backend on the same case and shape.',
    'median ms is one run of the case: one product (matmul), one training step (embedding), one epoch (train-adult).',
  );
  if (results.some((result) => variantOf(result) !== undefined)) {
    lines.push('A sparrow-webgpu row with a variant other than the default (sorted) is compared with the default row.');
  }
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}

/** Formats the adapter as one line for the table's heading. */
export function formatAdapter(adapter: AdapterRecord | null): string {
  if (adapter === null) return 'adapter: none (WebGPU implementations not run)';
  const name = adapter.description || adapter.device || adapter.vendor || 'unknown';
  return `adapter: ${name} (Dawn ${adapter.dawnBackend}, ${adapter.featureLevel} level)`;
}

/** Writes `report` as JSON to `path` through a temporary file and a rename, so readers never see half a file. */
export function writeReport(report: BenchReport, path: string = DEFAULT_REPORT_PATH): void {
  mkdirSync(dirname(path), { recursive: true });
  const bytes = new TextEncoder().encode(JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(path, (fd) => writeAll(fd, bytes));
}
