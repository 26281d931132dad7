// Sparrow's own matmul runners, in one place so that they follow changes to the library's API.

import * as sp from '../../src/index.js';

import type { BenchRunner } from '../harness.js';

export type SparrowImpl = 'sparrow-webgpu' | 'sparrow-cpu';

export const SPARROW_IMPLS: readonly SparrowImpl[] = ['sparrow-webgpu', 'sparrow-cpu'];

const BACKEND: Record<SparrowImpl, 'webgpu' | 'cpu'> = {
  'sparrow-webgpu': 'webgpu',
  'sparrow-cpu': 'cpu',
};

const initialized = new Set<SparrowImpl>();

/** Checks that Sparrow's backend for `impl` exists; the benchmark entry initializes WebGPU. */
async function initSparrow(impl: SparrowImpl): Promise<void> {
  if (initialized.has(impl)) return;
  sp.getBackend(BACKEND[impl]);
  initialized.add(impl);
}

/**
 * Creates a runner for one `[m, k] x [k, n]` float32 matmul on Sparrow's backend of `impl`, with
 * seeded uniform random inputs.
 *
 * `verify()` checks element [0, 0] of one product against a float64 dot product, so a kernel that
 * returns garbage fails instead of producing a fast time.
 *
 * Sync: on WebGPU, `run()` awaits `sp.sync('webgpu')`, which waits until the submitted GPU work
 * has finished without reading the product back. On the CPU, `matmul` computes the product
 * before it returns.
 */
export async function createSparrowMatmulRunner(
  impl: SparrowImpl,
  m: number,
  k: number,
  n: number,
): Promise<BenchRunner> {
  await initSparrow(impl);
  const backend = BACKEND[impl];

  const a = sp.randomUniform([m, k], { seed: 1, backend });
  const b = sp.randomUniform([k, n], { seed: 2, backend });

  return {
    verify: () => checkCorner(impl, a, b, m, k, n),
    async run(): Promise<void> {
      const c = sp.matmul(a, b);
      if (backend === 'webgpu') await sp.sync('webgpu');
      c.dispose();
    },
    dispose(): void {
      a.dispose();
      b.dispose();
    },
  };
}

type SparrowTensor = ReturnType<typeof sp.randomUniform>;

async function checkCorner(impl: SparrowImpl, a: SparrowTensor, b: SparrowTensor, m: number, k: number, n: number): Promise<void> {
  const c = sp.matmul(a, b);
  const actual = (await c.data())[0];
  c.dispose();

  const aValues = await a.data();
  const bValues = await b.data();
  let expected = 0;
  for (let i = 0; i < k; i++) {
    expected += aValues[i] * bValues[i * n];
  }

  // float32 accumulation over k terms of size <= 1: an error far above k * 2^-24 * |terms| means
  // a wrong result, not rounding.
  const tolerance = 1e-4 * k;
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(
      `${impl}: matmul ${m}x${k}x${n} returned c[0,0]=${actual}, expected ${expected.toFixed(6)} (tolerance ${tolerance})`,
    );
  }
}
