// Options and helpers that several commands share: backend choice, numbers, JSON output.

import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { Option, type Command } from 'commander';

import { init } from '../backend/registry.js';
import type { Backend } from '../backend/backend.js';
import { ADAPTER_CHOICES, type AdapterChoice } from '../backend/webgpu/discovery.js';

export interface BackendOptions {
  backend?: 'auto' | 'webgpu' | 'cpu';
  adapter?: AdapterChoice;
}

/** Adds --backend and --adapter. */
export function addBackendOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--backend <name>', 'compute backend: auto picks WebGPU when an adapter exists, else the CPU (env SPARROW_BACKEND)')
        .choices(['auto', 'webgpu', 'cpu'])
        .default(undefined, 'auto'),
    )
    .addOption(new Option('--adapter <name>', 'WebGPU adapter to try (env SPARROW_ADAPTER)').choices([...ADAPTER_CHOICES]).default(undefined, 'auto'));
}

export async function initBackend(options: BackendOptions): Promise<Backend> {
  return init({ backend: options.backend, adapter: options.adapter });
}

/** Parses an integer option, naming it in the error. */
export function parseInteger(value: string, name: string, min = Number.MIN_SAFE_INTEGER): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new Error(`${name}: invalid value "${value}"; expected an integer${min > Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : ''}`);
  return parsed;
}

/** Parses a positive number option, naming it in the error. */
export function parsePositive(value: string, name: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name}: invalid value "${value}"; expected a positive number`);
  return parsed;
}

/** Parses a comma-separated list of positive integers such as "100,50". */
export function parseSizes(value: string, name: string): number[] {
  const sizes = value.split(',').map((part) => Number(part.trim()));
  if (value.trim() === '' || sizes.some((size) => !Number.isInteger(size) || size < 1)) {
    throw new Error(`${name}: invalid value "${value}"; expected comma-separated positive integers such as 100,50`);
  }
  return sizes;
}

/** Prints the machine-readable result as the last line of stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, item) => (typeof item === 'number' && !Number.isFinite(item) ? null : item))}\n`);
}

/**
 * Checks that `path`, given with option `flag`, can become a file: its directory exists and the
 * path is not a directory. Commands call it before any work, so a typo fails at once.
 */
export function checkOutputFile(path: string, flag = '--out'): void {
  const directory = dirname(resolve(path));
  if (!statSync(directory, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${flag}: the directory ${directory} of "${path}" does not exist; create it or choose another path`);
  }
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${flag}: "${path}" is a directory; give a file path`);
  }
}
