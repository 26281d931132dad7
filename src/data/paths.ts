// Location of the real data sets: SPARROW_DATA_DIR, else ../shared/data beside the repository.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Finds the package root: the nearest folder above this module that contains a package.json. */
export function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) return process.cwd();
    folder = parent;
  }
  return folder;
}

/** Returns the data directory: $SPARROW_DATA_DIR, else `../shared/data` relative to the package root. */
export function dataDir(): string {
  const configured = process.env.SPARROW_DATA_DIR;
  return configured ? resolve(configured) : resolve(packageRoot(), '..', 'shared', 'data');
}

/** Absolute path of a file under the data directory. */
export function dataPath(relative: string): string {
  return join(dataDir(), relative);
}
