// Fitted-state files: the JSON of state.ts written atomically and read back (Node only).

import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

import { parseState, serializeState, type FittedState } from './state.js';

/** Writes a fitted state to `path` atomically: a temporary file in the same directory, then a rename. */
export function saveState(state: FittedState, path: string): void {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, serializeState(state));
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** Reads a fitted state written by `saveState`. */
export function loadState(path: string): FittedState {
  return parseState(readFileSync(path, 'utf8'), path);
}
