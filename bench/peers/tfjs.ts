// TensorFlow.js 4.22 as a benchmark peer on its webgpu, wasm and cpu backends, in Node.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

import type { BenchRunner } from '../harness.js';

export type TfjsImpl = 'tfjs-webgpu' | 'tfjs-wasm' | 'tfjs-cpu';

export const TFJS_IMPLS: readonly TfjsImpl[] = ['tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'];

const BACKEND_NAME: Record<TfjsImpl, string> = {
  'tfjs-webgpu': 'webgpu',
  'tfjs-wasm': 'wasm',
  'tfjs-cpu': 'cpu',
};

/** The Dawn adapter that the tfjs-webgpu peer shares with Sparrow. */
export interface TfjsGpuTarget {
  /** The `GPU` object from `create([...])` of the `webgpu` package. */
  gpu: GPU;
  /** The WebGPU globals (`GPUBufferUsage`, `GPUMapMode`, ...) from the `webgpu` package. */
  globals: object;
  /** The feature level to request: Dawn's OpenGL ES backend only offers `compatibility`. */
  featureLevel: 'core' | 'compatibility';
}

let gpuTarget: TfjsGpuTarget | null = null;
let wasmPathsSet = false;
let webgpuErrors: string[] = [];

/**
 * Points TF.js at the caller's Dawn adapter, so tfjs-webgpu runs on the same adapter as Sparrow.
 *
 * TF.js 4.22 registers its `webgpu` backend at import time only if `navigator.gpu` exists then,
 * and its factory requests an adapter without a feature level, which finds no adapter on Dawn's
 * OpenGL ES backend (compatibility level only). So this function replaces that factory with one
 * that requests the adapter at the given feature level and builds `new WebGPUBackend(device,
 * adapterInfo)` itself. The backend's constructor still checks `navigator.gpu`, which Node 20 lacks,
 * so a minimal `globalThis.navigator = { gpu }` is installed when none exists.
 */
export function configureTfjsWebGpu(target: TfjsGpuTarget): void {
  gpuTarget = target;
  Object.assign(globalThis, target.globals);

  const global = globalThis as { navigator?: { gpu?: GPU } };
  if (global.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: target.gpu }, configurable: true, writable: true });
  } else if (global.navigator.gpu === undefined) {
    Object.defineProperty(global.navigator, 'gpu', { value: target.gpu, configurable: true });
  }

  if (tf.findBackendFactory('webgpu') !== null) {
    tf.removeBackend('webgpu');
  }
  tf.registerBackend('webgpu', createWebGpuBackend, 3);
}

async function createWebGpuBackend(): Promise<WebGPUBackend> {
  if (gpuTarget === null) {
    throw new Error('tfjs-webgpu: no GPU configured; call configureTfjsWebGpu() first');
  }

  const { gpu, featureLevel } = gpuTarget;
  const adapter = await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new Error(`tfjs-webgpu: requestAdapter({ featureLevel: '${featureLevel}' }) found no adapter`);
  }

  // The same limits TF.js 4.22 requests in its own factory (tfjs-backend-webgpu/dist/base.js).
  // Timestamp queries stay off: TF.js uses them only for its profiler.
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });

  // Dawn only prints validation errors unless they are captured, and a failed pipeline then
  // returns garbage; collect them so that a run can throw.
  device.addEventListener('uncapturederror', (event) => {
    webgpuErrors.push((event as GPUUncapturedErrorEvent).error.message);
  });

  return new WebGPUBackend(device, adapter.info);
}

function configureWasm(): void {
  if (wasmPathsSet) return;

  // In Node, the wasm backend reads its .wasm binaries from disk. By default it looks beside the
  // running script, so a bundle would not find them; point it at the package's dist folder.
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(join(dirname(packageJson), 'dist') + '/');

  // NOTE: TF.js 4.22 reports no multithreading support in Node (WASM_HAS_MULTITHREAD_SUPPORT in
  // flags_wasm.js), so tfjs-wasm runs its single-threaded SIMD binary here.
  wasmPathsSet = true;
}

/** Switches TF.js to the backend of `impl`, initializing it on first use. */
export async function useTfjsBackend(impl: TfjsImpl): Promise<void> {
  if (impl === 'tfjs-wasm') configureWasm();
  if (impl === 'tfjs-webgpu' && gpuTarget === null) {
    throw new Error('tfjs-webgpu: no GPU configured; call configureTfjsWebGpu() first');
  }

  const name = BACKEND_NAME[impl];
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`${impl}: TF.js failed to initialize its "${name}" backend`);
  }
  await tf.ready();
}

/**
 * Creates a runner for one `[m, k] x [k, n]` float32 matmul on the TF.js backend of `impl`.
 *
 * The inputs are uniform random in [-1, 1) with fixed seeds. `verify()` checks element [0, 0] of
 * one product against a float64 dot product, so a backend that silently returns garbage (a failed
 * pipeline) fails instead of producing a fast time.
 *
 * Sync: the cpu and wasm backends compute `matMul` synchronously, so `run()` has finished the work
 * when `matMul` returns. The webgpu backend only encodes the work, so `run()` slices element [0, 0]
 * and awaits its `data()`: the queue runs in order, so the readback waits for the matmul. That adds
 * one small slice dispatch, a 4-byte copy and one `mapAsync` round trip to every run: a median
 * of about 0.4 ms on llvmpipe (2-core machine, measured on a tensor whose work had finished).
 */
export async function createTfjsMatmulRunner(impl: TfjsImpl, m: number, k: number, n: number): Promise<BenchRunner> {
  await useTfjsBackend(impl);
  webgpuErrors = [];

  const a = tf.randomUniform([m, k], -1, 1, 'float32', 1);
  const b = tf.randomUniform([k, n], -1, 1, 'float32', 2);

  const isGpu = impl === 'tfjs-webgpu';
  const run = async (): Promise<void> => {
    if (tf.getBackend() !== BACKEND_NAME[impl]) {
      throw new Error(`${impl}: the active TF.js backend changed to "${tf.getBackend()}" during the benchmark`);
    }

    const c = tf.matMul(a, b);
    if (isGpu) {
      const corner = tf.slice(c, [0, 0], [1, 1]);
      await corner.data();
      corner.dispose();
      throwOnGpuError(impl);
    }
    c.dispose();
  };

  return {
    run,
    verify: () => checkCorner(impl, a, b, m, k, n),
    dispose(): void {
      a.dispose();
      b.dispose();
    },
  };
}

async function checkCorner(impl: TfjsImpl, a: tf.Tensor, b: tf.Tensor, m: number, k: number, n: number): Promise<void> {
  const c = tf.matMul(a, b);
  const corner = tf.slice(c, [0, 0], [1, 1]);
  const actual = (await corner.data())[0];
  c.dispose();
  corner.dispose();
  throwOnGpuError(impl);

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

function throwOnGpuError(impl: TfjsImpl): void {
  if (webgpuErrors.length === 0) return;
  const errors = webgpuErrors;
  webgpuErrors = [];
  throw new Error(`${impl}: WebGPU reported ${errors.length} error(s); first: ${errors[0]}`);
}

/** Returns the TF.js version and, once the wasm backend has run, which of its binaries it used. */
export async function tfjsPeerInfo(): Promise<Record<string, string | boolean>> {
  const info: Record<string, string | boolean> = { tfjs: tf.version.tfjs };
  if (wasmPathsSet) {
    info.wasmSimd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    info.wasmThreads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  }
  return info;
}
