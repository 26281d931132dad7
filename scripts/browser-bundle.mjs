// Builds the browser bundle dist/browser.js with esbuild, and fails when a Node-only module is reachable from its entry.

import { mkdirSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Node-only modules of the library and the browser versions that replace them in the bundle. */
export const BROWSER_SWAPS = new Map(
  [['src/backend/webgpu/discovery.ts', 'src/backend/webgpu/discovery.browser.ts']].map(([from, to]) => [resolve(ROOT, from), resolve(ROOT, to)]),
);

/** npm packages that work in Node only; Node's built-in modules are refused as well. */
export const NODE_ONLY_PACKAGES = new Set(['webgpu']);

/** Swaps the modules of BROWSER_SWAPS and records every import of a Node-only module in `offenders`. */
function browserGuard(offenders) {
  return {
    name: 'sparrow-browser-guard',
    setup(builder) {
      builder.onResolve({ filter: /^\.\.?\// }, (args) => {
        const swap = BROWSER_SWAPS.get(resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts'));
        return swap === undefined ? undefined : { path: swap };
      });
      builder.onResolve({ filter: /^[^./]/ }, (args) => {
        const packageName = args.path.split('/')[0];
        const nodeOnly = args.path.startsWith('node:') || builtinModules.includes(args.path) || builtinModules.includes(packageName) || NODE_ONLY_PACKAGES.has(packageName);
        if (!nodeOnly) return undefined;
        offenders.push(`${relative(ROOT, args.importer)} imports "${args.path}"`);
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * Bundles `entry` for browsers into one ES module at `outfile` (plus its source map), with every
 * dependency inside, and returns esbuild's metafile. It throws, writing nothing, when the entry
 * reaches a Node built-in module, a package of NODE_ONLY_PACKAGES, or a module that BROWSER_SWAPS
 * should have replaced. The message lists each importing file.
 */
export async function buildBrowserBundle({ entry = 'src/browser.ts', outfile = 'dist/browser.js' } = {}) {
  const offenders = [];
  const result = await build({
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    metafile: true,
    write: false,
    entryPoints: [entry],
    outfile,
    plugins: [browserGuard(offenders)],
  });

  const unswapped = [...BROWSER_SWAPS.keys()].map((path) => relative(ROOT, path)).filter((path) => path in result.metafile.inputs);
  const problems = [...offenders, ...unswapped.map((path) => `${path} is in the bundle although BROWSER_SWAPS replaces it`)];
  if (problems.length > 0) {
    throw new Error(`${outfile}: Node-only modules are reachable from ${entry}; keep them behind the Node entry (src/index.ts):\n  ${problems.join('\n  ')}`);
  }

  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.contents);
  }
  return result.metafile;
}
