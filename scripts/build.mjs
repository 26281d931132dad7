// Bundles the library entry, the CLI and the browser bundle into dist/ with esbuild; npm packages stay external except in the browser bundle.
import { build } from 'esbuild';

import { buildBrowserBundle } from './browser-bundle.mjs';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
});
await build({ ...common, entryPoints: ['bench/main.ts'], outfile: 'dist/bench.js' });
// Parallel expert pre-training starts its worker threads from this file, next to the bundle that uses it.
await build({ ...common, entryPoints: ['src/train/pretrain-worker.ts'], outfile: 'dist/pretrain-worker.js' });
// The browser bundle: the library without its Node-only parts, for web pages.
await buildBrowserBundle();
