// Times one benchmark case on one implementation: a first (compiling) run, warm-up runs, then samples.

import Benchmark from 'benchmark';

export type Impl = 'sparrow-webgpu' | 'sparrow-cpu' | 'tfjs-webgpu' | 'tfjs-wasm' | 'tfjs-cpu';

export const IMPLS: readonly Impl[] = ['sparrow-webgpu', 'sparrow-cpu', 'tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'];

/** One prepared workload: `run()` performs it once and resolves when the work has finished. */
export interface BenchRunner {
  run(): Promise<void>;
  /** Checks the workload's result and throws when it is wrong; called once, after the first run. */
  verify?(): Promise<void>;
  dispose(): void;
}

/** One row of the JSON report. */
export interface BenchResult {
  case: string;
  /** The case's shape, e.g. `m x k x n` for matmul. */
  shape: string;
  impl: Impl;
  /** Median of the steady-state samples in milliseconds; null when skipped or failed. */
  medianMs: number | null;
  gflops?: number;
  examplesPerSecond?: number;
  /** Duration of the first run in milliseconds, which includes shader compilation on WebGPU. */
  firstRunMs?: number;
  /** Number of steady-state samples behind the median. */
  samples?: number;
  /** Reason the case was not measured. */
  skipped?: string;
  /** The message of the error that stopped the measurement. */
  error?: string;
  /**
   * Resident memory of the benchmark process once the case's runner is disposed, in bytes. Memory
   * that a peer keeps after dispose (a wasm heap never shrinks) shows up here and in later cases.
   */
  residentBytesAfter?: number;
  /** The process's peak resident memory so far (all cases up to this one), in bytes. */
  peakResidentBytes?: number;
}

export interface TimingOptions {
  /** Untimed runs after the first run and before sampling. */
  warmupRuns: number;
  /** benchmark.js `maxTime`: seconds of sampling, reached only after `minSamples` samples. */
  maxTime: number;
  /** benchmark.js `minSamples`. */
  minSamples: number;
  /**
   * When the last warm-up run takes longer than this many milliseconds, sampling is skipped and
   * the result records why, so one slow implementation cannot hold up the grid for minutes.
   */
  maxRunMs?: number;
}

export interface CaseSpec {
  caseName: string;
  shape: string;
  impl: Impl;
  /** Floating-point operations of one run, for GFLOP/s. */
  flops?: number;
  /** Examples processed by one run, for examples per second. */
  examples?: number;
  setup: () => Promise<BenchRunner>;
  options: TimingOptions;
  /** A reason to skip this case without running it. */
  skip?: string;
}

/** Returns the median of `values`, which must not be empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Formats a byte count in MiB for progress lines. */
export function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function timeOneRun(runner: BenchRunner): Promise<number> {
  const start = performance.now();
  await runner.run();
  return performance.now() - start;
}

/**
 * Samples `run` with a deferred benchmark.js benchmark and returns its samples in seconds per run.
 *
 * benchmark.js repeats `run` within one sample until the sample lasts at least its `minTime`
 * (0.05 s by default), so a sample of a fast run is the mean of several runs.
 */
function sampleRuns(run: () => Promise<void>, options: TimingOptions): Promise<number[]> {
  return new Promise((resolve, reject) => {
    let failure: unknown = null;
    let settled = false;

    const bench = new Benchmark({
      defer: true,
      async: true,
      initCount: 1,
      maxTime: options.maxTime,
      minSamples: options.minSamples,
      fn(deferred: Benchmark.Deferred) {
        run().then(
          () => deferred.resolve(),
          (error: unknown) => {
            failure ??= error;
            bench.abort();
          },
        );
      },
    });

    const finish = (): void => {
      if (settled) return;
      settled = true;

      const benchError = (bench as unknown as { error?: unknown }).error;
      if (failure !== null) reject(failure);
      else if (benchError) reject(benchError);
      else if (bench.stats.sample.length === 0) reject(new Error('benchmark.js returned no samples'));
      else resolve([...bench.stats.sample]);
    };
    bench.on('complete', finish);
    bench.on('abort', finish);
    bench.on('error', finish);
    bench.run();
  });
}

/** Measures one case on one implementation and returns its result record; errors are recorded, not thrown. */
export async function runCase(spec: CaseSpec): Promise<BenchResult> {
  const { caseName, shape, impl, options } = spec;
  const label = `${caseName} ${shape} ${impl}`;
  const result: BenchResult = { case: caseName, shape, impl, medianMs: null };

  if (spec.skip !== undefined) {
    progress(`${label}: skipped (${spec.skip})`);
    return { ...result, skipped: spec.skip };
  }

  let runner: BenchRunner | null = null;
  try {
    runner = await spec.setup();

    const firstRunMs = await timeOneRun(runner);
    result.firstRunMs = firstRunMs;
    await runner.verify?.();

    let lastRunMs = firstRunMs;
    for (let i = 0; i < options.warmupRuns; i++) {
      lastRunMs = await timeOneRun(runner);
    }

    if (options.maxRunMs !== undefined && lastRunMs > options.maxRunMs) {
      result.skipped =
        `one run takes ${lastRunMs.toFixed(0)} ms after warm-up, over this grid's limit of ` +
        `${options.maxRunMs} ms per run; steady state not sampled`;
      progress(`${label}: first ${firstRunMs.toFixed(1)} ms; skipped (${result.skipped})`);
      return result;
    }

    const activeRunner = runner;
    const samples = await sampleRuns(() => activeRunner.run(), options);
    const medianMs = median(samples) * 1000;
    result.medianMs = medianMs;
    result.samples = samples.length;
    if (spec.flops !== undefined) result.gflops = spec.flops / (medianMs * 1e6);
    if (spec.examples !== undefined) result.examplesPerSecond = spec.examples / (medianMs / 1000);

    const rate = result.gflops !== undefined ? `, ${result.gflops.toFixed(2)} GFLOP/s` : '';
    progress(
      `${label}: first ${firstRunMs.toFixed(1)} ms, median ${medianMs.toFixed(2)} ms ` +
        `(${samples.length} samples)${rate}`,
    );
    return result;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    progress(`${label}: failed: ${result.error}`);
    return result;
  } finally {
    runner?.dispose();
    if (runner !== null) {
      result.residentBytesAfter = process.memoryUsage.rss();
      result.peakResidentBytes = process.resourceUsage().maxRSS * 1024;
      progress(`${label}: process resident ${formatBytes(result.residentBytesAfter)} after dispose, peak so far ${formatBytes(result.peakResidentBytes)}`);
    }
  }
}
