// Types of browser-bundle.mjs, for the TypeScript tests that build the browser bundle.

import type { Metafile } from 'esbuild';

/** Node-only modules of the library (absolute paths) and the browser versions that replace them in the bundle. */
export const BROWSER_SWAPS: Map<string, string>;

/** npm packages that work in Node only; Node's built-in modules are refused as well. */
export const NODE_ONLY_PACKAGES: Set<string>;

/**
 * Bundles `entry` (default src/browser.ts) for browsers into one ES module at `outfile` (default
 * dist/browser.js), both relative to the repository root. Rejects, writing nothing, when the
 * entry reaches a Node-only module, naming each importing file.
 */
export function buildBrowserBundle(options?: { entry?: string; outfile?: string }): Promise<Metafile>;
