// The browser entry and bundle: exports beside index.ts, the guard against Node-only modules, and adapter discovery on navigator.gpu.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, test, vi } from 'vitest';

import * as browser from '../src/browser.js';
import * as node from '../src/index.js';
import { findAdapter } from '../src/backend/webgpu/discovery.browser.js';
import { buildBrowserBundle } from '../scripts/browser-bundle.mjs';

/** Exports of index.ts that need Node, each with the reason; every other export must be in browser.ts too. */
const NODE_ONLY: Record<string, string> = {
  openCsv: 'reads CSV files',
  csvSource: 'reads CSV files',
  openData: 'reads data and schema files',
  readSchemaFile: 'reads a schema file',
  describeData: 'reads data files',
  formatDescription: 'formats the result of describeData',
  dataDir: 'resolves the data directory on disk',
  dataPath: 'resolves the data directory on disk',
  saveState: 'writes a fitted-state file',
  loadState: 'reads a fitted-state file',
  readSafetensors: 'reads a safetensors file',
  writeSafetensors: 'writes a safetensors file',
  readForeignSafetensors: 'reads a safetensors file',
  importSafetensors: 'reads a safetensors file',
  saveCheckpoint: 'writes a checkpoint directory',
  loadCheckpoint: 'reads a checkpoint directory',
  writeFileAtomic: 'writes a file',
  CHECKPOINT_FORMAT: 'describes checkpoint directories',
  CHECKPOINT_VERSION: 'describes checkpoint directories',
  CONFIG_FILE: 'names a file of a checkpoint directory',
  OPTIMIZER_FILE: 'names a file of a checkpoint directory',
  PREVIOUS_SUFFIX: 'names a file of a checkpoint directory',
  WEIGHTS_FILE: 'names a file of a checkpoint directory',
  saveModel: 'writes a checkpoint directory',
  loadModel: 'reads a checkpoint directory',
  exportOnnx: 'encodes with the onnx-proto package, which the page bundle leaves out',
};

const scratch = join(import.meta.dirname, '..', '.tmp', 'browser-entry-test');

describe('browser entry', () => {
  test('exports everything of index.ts except the Node-only parts', () => {
    const missing = Object.keys(node).filter((name) => !(name in browser) && !(name in NODE_ONLY));
    expect(missing, 'exports of src/index.ts missing from src/browser.ts; export them there or list them in NODE_ONLY with the reason').toEqual([]);
  });

  test('Node-only list matches index.ts', () => {
    expect(Object.keys(NODE_ONLY).filter((name) => !(name in node)), 'NODE_ONLY names that index.ts no longer exports').toEqual([]);
    expect(Object.keys(NODE_ONLY).filter((name) => name in browser), 'NODE_ONLY names that browser.ts exports').toEqual([]);
  });
});

describe('browser bundle', () => {
  test('builds src/browser.ts with navigator.gpu discovery', async () => {
    const metafile = await buildBrowserBundle({ outfile: '.tmp/browser-entry-test/browser.js' });
    const inputs = Object.keys(metafile.inputs);
    expect(inputs).toContain('src/backend/webgpu/discovery.browser.ts');
    expect(inputs).not.toContain('src/backend/webgpu/discovery.ts');
    expect(inputs.filter((path) => path.includes('node_modules/'))).toEqual([]);
  });

  test('rejects Node built-in modules and names the importers', async () => {
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, 'reads-csv.ts'), "export { openCsv } from '../../src/data/csv.js';\n");
    const build = buildBrowserBundle({ entry: '.tmp/browser-entry-test/reads-csv.ts', outfile: '.tmp/browser-entry-test/reads-csv.js' });
    await expect(build).rejects.toThrow(/Node-only modules are reachable[\s\S]*src\/data\/csv\.ts imports "node:fs"[\s\S]*node_modules\/csv-parse\/lib\/index\.js imports "stream"/);
  });

  test('rejects the webgpu package', async () => {
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, 'loads-dawn.ts'), "export { create } from 'webgpu';\n");
    const build = buildBrowserBundle({ entry: '.tmp/browser-entry-test/loads-dawn.ts', outfile: '.tmp/browser-entry-test/loads-dawn.js' });
    await expect(build).rejects.toThrow('.tmp/browser-entry-test/loads-dawn.ts imports "webgpu"');
  });
});

describe('adapter discovery on navigator.gpu', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** Creates a stand-in for navigator.gpu that gives an adapter only at the listed feature levels, and the list of levels requested. */
  function fakeGpu(levels: string[]): { gpu: GPU; requests: string[] } {
    const requests: string[] = [];
    const adapter = { info: { vendor: 'test', architecture: 'fake', device: '', description: 'fake adapter' } } as unknown as GPUAdapter;
    const gpu = {
      requestAdapter: async (options?: { featureLevel?: string }) => {
        requests.push(options?.featureLevel ?? 'core');
        return levels.includes(options?.featureLevel ?? 'core') ? adapter : null;
      },
    } as unknown as GPU;
    return { gpu, requests };
  }

  test('returns null without navigator.gpu', async () => {
    vi.stubGlobal('navigator', {});
    expect(await findAdapter('auto')).toBeNull();
  });

  test('tries core, then compatibility level', async () => {
    const { gpu, requests } = fakeGpu(['compatibility']);
    vi.stubGlobal('navigator', { gpu });
    const found = await findAdapter('auto');
    expect(requests).toEqual(['core', 'compatibility']);
    expect(found?.gpu).toBe(gpu);
    expect(found?.featureLevel).toBe('compatibility');
    expect(found?.dawnBackend).toBe('default');
  });

  test('returns null when the browser gives no adapter', async () => {
    const { gpu } = fakeGpu([]);
    vi.stubGlobal('navigator', { gpu });
    expect(await findAdapter('default')).toBeNull();
  });

  test('rejects the Dawn adapter choices', async () => {
    const { gpu } = fakeGpu(['core']);
    vi.stubGlobal('navigator', { gpu });
    await expect(findAdapter('swiftshader')).rejects.toThrow(/adapter "swiftshader" selects a Dawn backend, which only Node can choose; in a browser use "auto" or "default"/);
    await expect(findAdapter('opengles')).rejects.toThrow(browser.BackendError);
  });
});
