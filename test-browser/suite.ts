// The browser test page's script: sets up WebGPU from navigator.gpu and exposes the cases that test-browser/run.mjs calls.
//
// The driver bundles this file with the import of src/browser.js pointed at /dist/browser.js, so
// the page runs the library as the browser bundle ships it.

import * as sp from '../src/browser.js';
import { PARITY_CASES } from './parity-cases.js';
import { runTraining, TRAINING_RUN, type TrainingRunResult } from './training-run.js';

export interface AdapterReport {
  /** Whether the page has `navigator.gpu` at all. */
  navigatorGpu: boolean;
  secureContext: boolean;
  userAgent: string;
  /** The WebGPU backend's adapter, or why `init` found none. */
  adapter?: sp.AdapterDescription;
  limits?: Record<string, number>;
  features?: string[];
  error?: string;
}

export interface CaseOutcome {
  ok: boolean;
  seconds: number;
  error?: string;
}

/**
 * Initializes the WebGPU backend from navigator.gpu, with no fallback: a page without an
 * adapter reports the error, and every parity case then fails.
 */
async function setUp(): Promise<AdapterReport> {
  const report: AdapterReport = {
    navigatorGpu: 'gpu' in navigator && navigator.gpu !== undefined,
    secureContext: isSecureContext,
    userAgent: navigator.userAgent,
  };
  try {
    const backend = await sp.init({ backend: 'webgpu' });
    const webgpu = sp.getWebGPUBackend()!;
    report.adapter = backend.adapter;
    report.limits = backend.limits;
    report.features = [...webgpu.features].sort();
  } catch (error) {
    report.error = (error as Error).message;
  }
  return report;
}

async function runParityCase(name: string): Promise<CaseOutcome> {
  const started = performance.now();
  const found = PARITY_CASES.find((item) => item.name === name);
  try {
    if (found === undefined) throw new Error(`no parity case named "${name}"`);
    // The cases compare the CPU with each backend that testBackends() lists, so they must not run without WebGPU.
    if (sp.getWebGPUBackend() === null) throw new Error('the WebGPU backend is not initialized: navigator.gpu gave no adapter');
    await found.run();
    await sp.sync('webgpu');
    return { ok: true, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    return { ok: false, seconds: (performance.now() - started) / 1000, error: (error as Error).stack ?? String(error) };
  }
}

async function runTrainingOn(backend: sp.BackendName): Promise<TrainingRunResult> {
  return runTraining({ ...TRAINING_RUN, backend });
}

declare global {
  interface Window {
    sparrowBrowserTests: {
      setUp: typeof setUp;
      parityCases: string[];
      runParityCase: typeof runParityCase;
      runTrainingOn: typeof runTrainingOn;
    };
  }
}

window.sparrowBrowserTests = { setUp, parityCases: PARITY_CASES.map((item) => item.name), runParityCase, runTrainingOn };
document.title = 'Sparrow browser tests: ready';
