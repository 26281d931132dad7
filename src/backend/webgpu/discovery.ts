// Finds a WebGPU adapter through Dawn's Node bindings, in the order the design gives.
// The browser bundle replaces this module with discovery.browser.ts (see scripts/browser-bundle.mjs).

import { BackendError } from '../../errors.js';
import { debugLog } from '../../debug.js';
import type { AdapterChoice, FoundAdapter } from './adapter.js';

export { ADAPTER_CHOICES, type AdapterChoice, type FoundAdapter } from './adapter.js';

/** Where Debian's `chromium` package installs SwiftShader's Vulkan driver manifest. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Advice for the error that `init` throws when no adapter exists. */
export const NO_ADAPTER_HINT =
  "On a machine without a GPU, install Mesa's llvmpipe (Debian: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri), or use --backend cpu";

type DawnModule = { create(options: string[]): GPU; globals: Record<string, unknown> };

let dawn: DawnModule | null = null;

async function loadDawn(): Promise<DawnModule> {
  if (dawn !== null) return dawn;

  // Mesa's EGL reads this when Dawn first loads it: without a display, surfaceless is the
  // platform that gives llvmpipe. A value the user set wins.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (error) {
    throw new BackendError(`webgpu: failed to load Dawn's Node bindings (npm package "webgpu"): ${(error as Error).message}`);
  }
  Object.assign(globalThis, dawn.globals);
  return dawn;
}

async function tryAdapter(
  options: string[],
  featureLevel: 'core' | 'compatibility',
  dawnBackend: FoundAdapter['dawnBackend'],
): Promise<FoundAdapter | null> {
  const module = await loadDawn();
  const gpu = module.create(options);
  const adapter = await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' });
  debugLog(1, `webgpu: ${dawnBackend} (${featureLevel}) adapter ${adapter ? adapter.info.description || adapter.info.vendor : 'not found'}`);
  return adapter ? { gpu, adapter, dawnBackend, featureLevel } : null;
}

/**
 * Requests an adapter. `auto` tries the platform default (Vulkan, Metal, D3D12) at core level,
 * then Dawn's OpenGL ES backend at compatibility level; returns null when neither exists.
 * An explicit choice that finds nothing throws, with what to install.
 */
export async function findAdapter(choice: AdapterChoice): Promise<FoundAdapter | null> {
  if (choice === 'swiftshader') {
    process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
  }

  if (choice === 'auto' || choice === 'default') {
    const found = await tryAdapter([], 'core', 'default');
    if (found || choice === 'default') return found ?? missing(choice);
  }
  if (choice === 'auto' || choice === 'opengles') {
    const found = await tryAdapter(['backend=opengles'], 'compatibility', 'opengles');
    if (found || choice === 'opengles') return found ?? missing(choice);
  }
  if (choice === 'vulkan' || choice === 'swiftshader') {
    return (await tryAdapter(['backend=vulkan'], 'core', 'vulkan')) ?? missing(choice);
  }
  return null;
}

function missing(choice: AdapterChoice): never {
  const hints: Record<AdapterChoice, string> = {
    auto: '',
    default: 'the platform has no Vulkan, Metal or D3D12 adapter',
    opengles:
      'install Mesa\'s EGL and GLES drivers (Debian: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri) and keep EGL_PLATFORM=surfaceless on a machine without a display',
    vulkan: 'install a Vulkan driver that Dawn accepts and the Vulkan loader (Debian: libvulkan1); Dawn skips drivers that lack features it needs',
    swiftshader: `install Debian's chromium and libvulkan1 packages, or set VK_ICD_FILENAMES to a SwiftShader manifest (tried ${process.env.VK_ICD_FILENAMES})`,
  };
  throw new BackendError(`webgpu: no adapter found for the adapter choice "${choice}" (option adapter, --adapter or SPARROW_ADAPTER): ${hints[choice]}`);
}
