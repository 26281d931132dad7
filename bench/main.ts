// Entry of `sparrow bench`: finds the benchmark adapter, runs the case grids and reports them.

import { statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';

import * as sp from '../src/index.js';

import { EMBEDDING_CASE, runEmbeddingGrid } from './embedding.js';
import { IMPLS, type BenchResult, type Impl } from './harness.js';
import { MATMUL_CASE, runMatmulGrid, type GridContext } from './matmul.js';
import { configureTfjsWebGpu, tfjsPeerInfo } from './peers/tfjs.js';
import { DEFAULT_REPORT_PATH, formatAdapter, formatTable, writeReport, type AdapterRecord, type BenchReport } from './report.js';
import { TRAIN_ADULT_CASE, runTrainAdult } from './train-adult.js';

export type { BenchReport } from './report.js';

export interface BenchOptions {
  /** Runs only the cases whose name contains this string. */
  filter?: string;
  /** Runs only these implementations; all of them by default. */
  impls?: string[];
  /** Prints the report as one JSON object on the last line of stdout, and the table on stderr. */
  json?: boolean;
  /** Path of the JSON report; `bench/results/latest.json` by default. */
  out?: string;
}

interface BenchCase {
  name: string;
  run(context: GridContext): Promise<BenchResult[]>;
}

const CASES: readonly BenchCase[] = [
  { name: MATMUL_CASE, run: runMatmulGrid },
  { name: EMBEDDING_CASE, run: runEmbeddingGrid },
  { name: TRAIN_ADULT_CASE, run: runTrainAdult },
];

interface FoundGpu {
  gpu: GPU;
  globals: object;
  adapter: AdapterRecord;
}

/**
 * Sets up Sparrow's WebGPU backend for the benchmark and returns its Dawn `GPU` object, which
 * the tfjs-webgpu peer then uses, so both run on one adapter.
 *
 * The benchmark adapter is llvmpipe (Dawn's OpenGL ES backend at compatibility level), the
 * faster of the two software adapters, unless SPARROW_ADAPTER names another one; `auto`
 * counts as `opengles` here so that numbers stay comparable between runs.
 * SPARROW_BACKEND=cpu skips the WebGPU implementations.
 */
async function findBenchmarkGpu(): Promise<FoundGpu | { reason: string }> {
  if (process.env.SPARROW_BACKEND === 'cpu') return { reason: 'SPARROW_BACKEND=cpu' };

  const raw = process.env.SPARROW_ADAPTER;
  const choice = raw === undefined || raw === '' || raw === 'auto' ? 'opengles' : raw;
  if (!(sp.ADAPTER_CHOICES as readonly string[]).includes(choice)) {
    throw new Error(`SPARROW_ADAPTER: invalid value "${choice}"; use one of ${sp.ADAPTER_CHOICES.join(', ')}`);
  }
  try {
    await sp.init({ backend: 'webgpu', adapter: choice as sp.AdapterChoice });
  } catch (error) {
    return { reason: (error as Error).message };
  }
  const backend = sp.getWebGPUBackend()!;
  const dawn = (await import('webgpu')) as unknown as { globals: object };
  const adapter = backend.adapter;
  return {
    gpu: backend.gpu,
    globals: dawn.globals,
    adapter: { ...adapter, featureLevel: adapter.featureLevel === 'core' ? 'core' : 'compatibility' },
  };
}

function parseImpls(names: readonly string[] | undefined): Impl[] {
  if (names === undefined || names.length === 0) return [...IMPLS];
  for (const name of names) {
    if (name === '') throw new Error('--impl: an empty implementation name (a stray comma?); use one or more of ' + IMPLS.join(', '));
    if (!(IMPLS as readonly string[]).includes(name)) {
      throw new Error(`--impl: invalid implementation "${name}"; use one or more of ${IMPLS.join(', ')}`);
    }
  }
  // Each implementation runs once, however often it is named.
  return [...new Set(names)] as Impl[];
}

/**
 * Runs the benchmark grids, prints the table, writes the JSON report and returns it. The report
 * path is checked before any case runs, so a bad `--out` cannot waste a long run.
 */
export async function runBenchmarks(opts: BenchOptions = {}): Promise<BenchReport> {
  const impls = parseImpls(opts.impls);
  const out = opts.out ?? DEFAULT_REPORT_PATH;
  checkReportPath(out);
  const cases = CASES.filter((benchCase) => opts.filter === undefined || benchCase.name.includes(opts.filter));
  if (cases.length === 0) {
    throw new Error(`--filter: no case name contains "${opts.filter}"; cases: ${CASES.map((c) => c.name).join(', ')}`);
  }

  const needsGpu = impls.some((impl) => impl.endsWith('-webgpu'));
  const found = needsGpu ? await findBenchmarkGpu() : { reason: 'no WebGPU implementation requested' };
  const context: GridContext =
    'gpu' in found ? { gpu: found.gpu, impls } : { gpu: null, noGpuReason: found.reason, impls };
  if ('gpu' in found) {
    configureTfjsWebGpu({ gpu: found.gpu, globals: found.globals, featureLevel: found.adapter.featureLevel });
  }
  const adapter = 'gpu' in found ? found.adapter : null;
  process.stderr.write(`[bench] ${formatAdapter(adapter)}\n`);

  const loadBefore = loadavg()[0];
  const results: BenchResult[] = [];
  for (const benchCase of cases) {
    results.push(...(await benchCase.run(context)));
  }

  const cpuList = cpus();
  const report: BenchReport = {
    adapter,
    results,
    generatedAt: new Date().toISOString(),
    host: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      cpus: cpuList.length,
      loadAverage: { before: loadBefore, after: loadavg()[0] },
    },
    peers: await tfjsPeerInfo(),
  };

  // The table first, so that the results are on screen even if writing the report fails.
  const table = `${formatAdapter(adapter)}\n\n${formatTable(results)}\n`;
  if (opts.json) process.stderr.write(table);
  else process.stdout.write(table);
  writeReport(report, out);
  process.stderr.write(`JSON report: ${out}\n`);
  if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
  return report;
}

/** Throws unless `path` can become the report file: not empty, not a directory, and not under a file. */
function checkReportPath(path: string): void {
  if (path.trim() === '') throw new Error('--out: the report path is empty; give a file path such as bench/results/latest.json');
  // Missing folders are created; an existing file on the way cannot become one.
  for (let folder = dirname(resolve(path)); folder !== dirname(folder); folder = dirname(folder)) {
    const stat = statSync(folder, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    if (!stat.isDirectory()) throw new Error(`--out: "${folder}" in "${path}" is a file, not a folder; choose another path`);
    break;
  }
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--out: "${path}" is a directory; give a file path`);
}

/**
 * Returns the exit status of a finished run: 1 when a row failed or no row was measured, else 0.
 * `log` receives the lines that give the reason (stderr by default).
 */
export function benchExitCode(report: BenchReport, log: (line: string) => void = (line) => process.stderr.write(line)): number {
  const failed = report.results.filter((result) => result.error !== undefined);
  const measured = report.results.filter((result) => result.medianMs !== null);
  if (failed.length > 0) log(`[bench] ${failed.length} row(s) failed: ${failed.map((result) => `${result.case} ${typeof result.shape === 'string' ? result.shape : JSON.stringify(result.shape)} ${result.impl}`).join('; ')}\n`);
  if (measured.length === 0) log('[bench] no row was measured: every row was skipped (see the reasons above)\n');
  return failed.length > 0 || measured.length === 0 ? 1 : 0;
}
