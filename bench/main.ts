// Entry of `sparrow bench`: finds the benchmark adapter, runs the case grids and reports them.

import { cpus, loadavg } from 'node:os';

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
    if (!(IMPLS as readonly string[]).includes(name)) {
      throw new Error(`--impl: invalid implementation "${name}"; use one or more of ${IMPLS.join(', ')}`);
    }
  }
  return names as Impl[];
}

/** Runs the benchmark grids, prints the table, writes the JSON report and returns it. */
export async function runBenchmarks(opts: BenchOptions = {}): Promise<BenchReport> {
  const impls = parseImpls(opts.impls);
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

  const out = opts.out ?? DEFAULT_REPORT_PATH;
  writeReport(report, out);

  const table = `${formatAdapter(adapter)}\n\n${formatTable(results)}\n\nJSON report: ${out}\n`;
  if (opts.json) {
    process.stderr.write(table);
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    process.stdout.write(table);
  }
  return report;
}
