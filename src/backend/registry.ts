// Chooses and keeps the backends: the CPU backend always, the WebGPU backend after `init`.

import { BackendError } from '../errors.js';
import { envValue, writeDiagnostic } from '../host.js';
import type { Backend, BackendName } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';
// The browser bundle swaps discovery.ts for discovery.browser.ts, which uses navigator.gpu.
import { ADAPTER_CHOICES, NO_ADAPTER_HINT, findAdapter, type AdapterChoice } from './webgpu/discovery.js';
import { WebGPUBackend } from './webgpu/webgpu-backend.js';

export interface InitOptions {
  /** `auto` (default) uses WebGPU when an adapter exists, else the CPU backend. Env: SPARROW_BACKEND. */
  backend?: BackendName | 'auto';
  /** The adapter to try; see `AdapterChoice` (a browser takes `auto` and `default` only). Env: SPARROW_ADAPTER. */
  adapter?: AdapterChoice;
  /** Throw instead of falling back to the CPU backend. Env: SPARROW_REQUIRE_WEBGPU=1. */
  requireWebGPU?: boolean;
}

const cpuBackend = new CpuBackend();
let webgpuBackend: WebGPUBackend | null = null;
/** The adapter choice and Dawn backend of the WebGPU backend, checked by later init calls. */
let webgpuAdapter: { choice: AdapterChoice; dawnBackend: string } | null = null;
let defaultBackend: Backend = cpuBackend;

/** Checks a backend name from `source` (an init option or an environment variable). */
function parseBackend(raw: unknown, source: string): BackendName | 'auto' | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'auto' || raw === 'webgpu' || raw === 'cpu') return raw;
  throw new BackendError(`${source}: invalid value ${JSON.stringify(raw)}; use auto, webgpu or cpu`);
}

/** Checks an adapter choice from `source` (an init option or an environment variable). */
function parseAdapter(raw: unknown, source: string): AdapterChoice | undefined {
  if (raw === undefined || raw === '') return undefined;
  if ((ADAPTER_CHOICES as readonly unknown[]).includes(raw)) return raw as AdapterChoice;
  throw new BackendError(`${source}: invalid value ${JSON.stringify(raw)}; use one of ${ADAPTER_CHOICES.join(', ')}`);
}

/**
 * Throws when `requested`, an adapter named in init's options, is not the one the WebGPU
 * backend already runs on. `auto` and `default` match any adapter.
 */
function checkSameAdapter(requested: AdapterChoice, current: { choice: AdapterChoice; dawnBackend: string }): void {
  if (requested === 'auto' || requested === 'default' || requested === current.choice) return;
  if ((current.choice === 'auto' || current.choice === 'default') && requested === current.dawnBackend) return;
  throw new BackendError(
    `init: adapter "${requested}" requested, but the WebGPU backend already runs on the adapter that "${current.choice}" chose ` +
      `(Dawn backend "${current.dawnBackend}"); the WebGPU adapter is set up once per program (a Node process or a page), so pick it in the first init call`,
  );
}

/**
 * Sets up the default backend. Options win over environment variables, which a web page
 * does not have, so there only the options count. Calling it again can switch the default
 * between the CPU and WebGPU backends, but the WebGPU adapter is set up once per program (a
 * Node process or a page): naming another adapter later throws a BackendError.
 */
export async function init(options: InitOptions = {}): Promise<Backend> {
  const backend = parseBackend(options.backend, 'init: option backend') ?? parseBackend(envValue('SPARROW_BACKEND'), 'SPARROW_BACKEND') ?? 'auto';
  const requestedAdapter = parseAdapter(options.adapter, 'init: option adapter');
  const adapter = requestedAdapter ?? parseAdapter(envValue('SPARROW_ADAPTER'), 'SPARROW_ADAPTER') ?? 'auto';
  const requireWebGPU = options.requireWebGPU ?? envValue('SPARROW_REQUIRE_WEBGPU') === '1';

  if (backend === 'cpu') {
    defaultBackend = cpuBackend;
    return cpuBackend;
  }

  if (webgpuBackend === null) {
    const found = await findAdapter(adapter);
    if (found === null) {
      if (backend === 'webgpu' || requireWebGPU) {
        throw new BackendError(`webgpu: no adapter found. ${NO_ADAPTER_HINT}`);
      }
      writeDiagnostic('sparrow: no WebGPU adapter found; using the CPU backend');
      defaultBackend = cpuBackend;
      return cpuBackend;
    }
    webgpuBackend = await WebGPUBackend.create(found);
    webgpuAdapter = { choice: adapter, dawnBackend: found.dawnBackend };
  } else if (requestedAdapter !== undefined && webgpuAdapter !== null) {
    checkSameAdapter(requestedAdapter, webgpuAdapter);
  }
  defaultBackend = webgpuBackend;
  return webgpuBackend;
}

/** Returns the named backend, or the default one. WebGPU needs a successful `init` first. */
export function getBackend(name?: BackendName): Backend {
  if (name === undefined) return defaultBackend;
  if (name === 'cpu') return cpuBackend;
  if (name !== 'webgpu') {
    const value: unknown = name;
    const hint = typeof value === 'object' && value !== null && 'name' in value ? ' (for a Backend object, pass its name: backend.name)' : '';
    throw new BackendError(`backend: invalid value ${typeof value === 'string' ? JSON.stringify(value) : String(value)}; use "cpu" or "webgpu"${hint}`);
  }
  if (webgpuBackend === null) {
    throw new BackendError('webgpu: the WebGPU backend is not initialized; call `await init({ backend: "webgpu" })` first');
  }
  return webgpuBackend;
}

/** Returns the WebGPU backend if `init` set one up, else null. */
export function getWebGPUBackend(): WebGPUBackend | null {
  return webgpuBackend;
}

export function getCpuBackend(): CpuBackend {
  return cpuBackend;
}

/** Makes an initialized backend the default for new tensors. */
export function setDefaultBackend(name: BackendName): void {
  defaultBackend = getBackend(name);
}
