// Finds a WebGPU adapter through navigator.gpu in a web page; the browser bundle uses this module in place of discovery.ts.

import { BackendError } from '../../errors.js';
import { debugLog } from '../../debug.js';
import type { AdapterChoice, FoundAdapter } from './adapter.js';

export { ADAPTER_CHOICES, type AdapterChoice, type FoundAdapter } from './adapter.js';

/** Advice for the error that `init` throws when no adapter exists. */
export const NO_ADAPTER_HINT =
  'This page has no WebGPU: navigator.gpu exists only in a secure context (https:// or http://localhost) of a browser with WebGPU enabled ' +
  "(Chromium on Linux: --enable-unsafe-webgpu), and its requestAdapter() can still return null. Use { backend: 'cpu' } to run without it";

/** Returns the page's `navigator.gpu`, or undefined where the browser does not expose WebGPU. */
function navigatorGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

/**
 * Requests the browser's adapter at core feature level, then at compatibility level. Returns
 * null when the page has no `navigator.gpu` or the browser gives no adapter. The Dawn choices
 * (`opengles`, `vulkan`, `swiftshader`) throw, because a page cannot pick the browser's backend.
 */
export async function findAdapter(choice: AdapterChoice): Promise<FoundAdapter | null> {
  if (choice !== 'auto' && choice !== 'default') {
    throw new BackendError(
      `webgpu: adapter "${choice}" selects a Dawn backend, which only Node can choose; in a browser use "auto" or "default", and the browser picks its adapter`,
    );
  }

  const gpu = navigatorGpu();
  if (gpu === undefined) {
    debugLog(1, 'webgpu: navigator.gpu is missing');
    return null;
  }

  for (const featureLevel of ['core', 'compatibility'] as const) {
    const adapter = await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' });
    debugLog(1, `webgpu: browser (${featureLevel}) adapter ${adapter ? adapter.info.description || adapter.info.vendor : 'not found'}`);
    if (adapter) return { gpu, adapter, dawnBackend: 'default', featureLevel };
  }
  return null;
}
