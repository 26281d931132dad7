// The matmul benchmark grid: square sizes and one MLP-layer shape, Sparrow beside the TF.js peers.

import { runCase, type BenchResult, type Impl, type TimingOptions } from './harness.js';
import { createSparrowMatmulRunner } from './peers/sparrow.js';
import { createTfjsMatmulRunner } from './peers/tfjs.js';

export const MATMUL_CASE = 'matmul';

interface MatmulShape {
  m: number;
  k: number;
  n: number;
  /** Rows of `a` counted as examples, for the shapes that stand for a layer applied to a batch. */
  examples?: number;
}

export const MATMUL_SHAPES: readonly MatmulShape[] = [
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
  // A dense layer of 512 inputs and 256 outputs applied to a batch of 4096 examples.
  { m: 4096, k: 512, n: 256, examples: 4096 },
];

/** Environment of a grid run: the Dawn `GPU` object shared by Sparrow and TF.js, or the reason there is none. */
export interface GridContext {
  gpu: GPU | null;
  noGpuReason?: string;
  impls: readonly Impl[];
}

const GPU_IMPLS: readonly Impl[] = ['sparrow-webgpu', 'tfjs-webgpu'];

/** A product of 2^30 floating-point operations or more counts as heavy for the timing budget below. */
const HEAVY_FLOPS = 2 ** 30;

/**
 * Returns the timing budget of one implementation on one shape, sized so that the whole grid
 * takes at most about 3 minutes on a 2-core machine with the llvmpipe adapter. Measured there with
 * bench/run.ts bundled by esbuild, a 1024 matmul took about 0.45 s on tfjs-webgpu, 0.07 s
 * on tfjs-wasm and 3 s on tfjs-cpu, and the grid took 58 s for the three TF.js backends.
 *
 * The GPU implementations get 2 warm-up runs, so that pipeline compilation and the growth of
 * buffer pools end before sampling. The CPU implementations get 1, for the JavaScript engine's
 * optimizing compiler. On heavy shapes the CPU implementations take 3 samples, so a tfjs-cpu row
 * costs 5 runs, about 15 s.
 */
function timingFor(impl: Impl, flops: number): TimingOptions {
  // An implementation that needs over 15 s per run would take minutes for its samples alone.
  const maxRunMs = 15_000;
  if (GPU_IMPLS.includes(impl)) return { warmupRuns: 2, maxTime: 2, minSamples: 5, maxRunMs };
  if (flops >= HEAVY_FLOPS) return { warmupRuns: 1, maxTime: 1, minSamples: 3, maxRunMs };
  return { warmupRuns: 1, maxTime: 1.5, minSamples: 5, maxRunMs };
}

function createRunner(impl: Impl, shape: MatmulShape, gpu: GPU | null) {
  const { m, k, n } = shape;
  switch (impl) {
    case 'sparrow-webgpu':
    case 'sparrow-cpu':
      return createSparrowMatmulRunner(impl, m, k, n);
    case 'tfjs-webgpu':
    case 'tfjs-wasm':
    case 'tfjs-cpu':
      return createTfjsMatmulRunner(impl, m, k, n);
  }
}

/** Runs every shape of the grid on every implementation in `context.impls`, one shape at a time. */
export async function runMatmulGrid(context: GridContext): Promise<BenchResult[]> {
  const results: BenchResult[] = [];

  for (const shape of MATMUL_SHAPES) {
    const { m, k, n } = shape;
    const flops = 2 * m * k * n;

    for (const impl of context.impls) {
      const needsGpu = GPU_IMPLS.includes(impl);
      const skip = needsGpu && context.gpu === null ? `no WebGPU adapter: ${context.noGpuReason ?? 'none found'}` : undefined;

      results.push(
        await runCase({
          caseName: MATMUL_CASE,
          shape: `${m}x${k}x${n}`,
          impl,
          flops,
          examples: shape.examples,
          setup: () => createRunner(impl, shape, context.gpu),
          options: timingFor(impl, flops),
          skip,
        }),
      );
    }
  }
  return results;
}
