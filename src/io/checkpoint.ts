// Checkpoint directories: weights and optimizer state as safetensors, and config.json, replaced as a whole.
//
// Layout of a checkpoint directory:
//   model.safetensors       the weights, by parameter name
//   optimizer.safetensors   the optimizer's state tensors, by name (only when saved with one)
//   config.json             { format, version, files: { name: { bytes, sha256 } }, config }
// `config` is the caller's JSON (model config, schema, fitted data state, hash seed, training
// state, metrics). `files` ties config.json to the exact safetensors files written with it.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { fsyncDirectory, isErrorCode, writeAll, writeFileAtomic } from './atomic.js';
import { CheckpointError } from './errors.js';
import { encodeHeader, type TensorMap } from './safetensors.js';
import { readSafetensors, writeSafetensors, type WrittenFile } from './safetensors-file.js';

export const CHECKPOINT_FORMAT = 'sparrow-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const WEIGHTS_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const CONFIG_FILE = 'config.json';

/** Suffix of the sibling directory that contains the replaced checkpoint while a save swaps directories. */
export const PREVIOUS_SUFFIX = '.sparrow-previous';

export interface CheckpointParts<Config = unknown> {
  weights: TensorMap;
  optimizer?: TensorMap;
  /** Any JSON value; numbers must be finite, because JSON has no NaN or Infinity. */
  config: Config;
}

export interface LoadedCheckpoint<Config = unknown> extends CheckpointParts<Config> {
  /** The directory read: the one requested, or its `.sparrow-previous` sibling after an interrupted save. */
  directory: string;
  version: number;
}

export interface LoadOptions {
  /** Read optimizer.safetensors too. Default true; prediction needs only the weights. */
  optimizer?: boolean;
}

/** The parsed config.json of a checkpoint. */
interface ConfigFile {
  format: string;
  version: number;
  files: Record<string, WrittenFile>;
  config: unknown;
}

/**
 * Saves a checkpoint to `directory`, replacing any checkpoint there. All files are written and
 * flushed in a new sibling directory, which is then renamed into place. So a crash at any
 * point leaves either the previous checkpoint or the new one loadable, never a mix. Between
 * the two renames of the swap, the previous checkpoint is in `<directory>.sparrow-previous`,
 * which `loadCheckpoint` reads when `<directory>` is missing.
 *
 * Refuses to replace a non-empty directory that is not a Sparrow checkpoint. Other files in a
 * replaced checkpoint directory are not kept. One process at a time may save to a directory.
 */
export function saveCheckpoint(directory: string, parts: CheckpointParts): void {
  const target = resolve(directory);
  if (typeof parts?.weights !== 'object' || parts.weights === null) throw new CheckpointError(target, 'weights are missing; pass { weights, optimizer?, config }');
  checkConfig(target, parts.config);
  encodeHeader(parts.weights, undefined, join(target, WEIGHTS_FILE));
  if (parts.optimizer !== undefined) encodeHeader(parts.optimizer, undefined, join(target, OPTIMIZER_FILE));
  checkCheckpointTarget(target);

  // NOTE: a crash while writing leaves this staging directory behind; the next save does not remove it.
  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.staging-`));
  // mkdtemp creates the directory for its owner only (0700). A checkpoint gets the mode of a
  // directory made with mkdir instead, 0777 less the umask, like any other output.
  chmodSync(staging, 0o777 & ~process.umask());
  try {
    writeParts(staging, parts);
    fsyncDirectory(staging);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }

  swapInto(target, staging);
}

/**
 * Loads a checkpoint that `saveCheckpoint` wrote. Checks the format and version in config.json,
 * that every file it lists exists, and that each file's size and SHA-256 match what was saved
 * with it. Throws a CheckpointError naming the path and the fix, or a SafetensorsError for an
 * invalid safetensors file. The model layer checks names and shapes against its config.
 */
export function loadCheckpoint<Config = unknown>(directory: string, options: LoadOptions = {}): LoadedCheckpoint<Config> {
  const source = locateCheckpoint(resolve(directory));
  const configFile = readConfigFile(source);

  const weights = readListed(source, configFile, WEIGHTS_FILE);
  let optimizer: TensorMap | undefined;
  if (options.optimizer !== false && OPTIMIZER_FILE in configFile.files) optimizer = readListed(source, configFile, OPTIMIZER_FILE);

  return { directory: source, version: configFile.version, weights, optimizer, config: configFile.config as Config };
}

function writeParts(staging: string, parts: CheckpointParts): void {
  const files: Record<string, WrittenFile> = {};
  files[WEIGHTS_FILE] = writeSafetensors(join(staging, WEIGHTS_FILE), parts.weights);
  if (parts.optimizer !== undefined) files[OPTIMIZER_FILE] = writeSafetensors(join(staging, OPTIMIZER_FILE), parts.optimizer);

  const configFile: ConfigFile = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, files, config: parts.config };
  const bytes = new TextEncoder().encode(JSON.stringify(configFile, null, 2) + '\n');
  writeFileAtomic(join(staging, CONFIG_FILE), (fd) => writeAll(fd, bytes));
}

/** Renames the staged checkpoint to `target`, moving an existing checkpoint aside first and deleting it after. */
function swapInto(target: string, staging: string): void {
  const previous = target + PREVIOUS_SUFFIX;
  const targetExists = existsSync(target);

  // A `.sparrow-previous` beside an existing target is left over from a save that finished its swap.
  // Without a target it is the only complete checkpoint, and it stays until the new one is in place.
  if (targetExists) rmSync(previous, { recursive: true, force: true });

  try {
    if (targetExists) renameSync(target, previous);
    try {
      renameSync(staging, target);
    } catch (error) {
      if (targetExists) renameSync(previous, target);
      throw error;
    }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }

  fsyncDirectory(dirname(target));
  rmSync(previous, { recursive: true, force: true });
}

/**
 * Throws the CheckpointError that `saveCheckpoint(directory, ...)` would throw for its target
 * path: when the path is a file, or a non-empty directory that is not a checkpoint. Lets a long
 * run check where it will save before it starts.
 */
export function checkCheckpointTarget(directory: string): void {
  const target = resolve(directory);
  checkReplaceable(target);
  checkReplaceable(target + PREVIOUS_SUFFIX);
}

/** Throws unless `target` is absent, an empty directory, or a directory with a Sparrow checkpoint config.json. */
function checkReplaceable(target: string): void {
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new CheckpointError(target, 'exists and is not a directory; choose another checkpoint path');
  if (readdirSync(target).length === 0) return;

  let format: unknown;
  try {
    format = JSON.parse(readFileSync(join(target, CONFIG_FILE), 'utf8'))?.format;
  } catch {
    format = undefined;
  }
  if (format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(target, `exists and is not a Sparrow checkpoint (no ${CONFIG_FILE} with format "${CHECKPOINT_FORMAT}"); saving would delete its files, so choose another directory or remove it first`);
  }
}

/** Returns the directory to read: `target`, or its `.sparrow-previous` sibling when a save was interrupted between its two renames. */
function locateCheckpoint(target: string): string {
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new CheckpointError(target, 'is not a directory; pass the checkpoint directory that saveCheckpoint wrote (`sparrow train --out` writes one)');
    return target;
  }
  const previous = target + PREVIOUS_SUFFIX;
  if (existsSync(join(previous, CONFIG_FILE))) return previous;
  throw new CheckpointError(target, 'checkpoint directory not found; pass the directory that saveCheckpoint wrote (`sparrow train --out` writes one)');
}

function readConfigFile(directory: string): ConfigFile {
  const path = join(directory, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) throw new CheckpointError(path, 'not found; the directory is not a complete checkpoint, so save the checkpoint again or pass another directory');
    throw error;
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(path, `is not valid JSON (${(error as Error).message})`);
  }
  const file = json as Partial<ConfigFile> | null;
  if (typeof file !== 'object' || file === null || file.format !== CHECKPOINT_FORMAT) {
    const found = typeof file === 'object' && file !== null ? JSON.stringify(file.format) : 'no object';
    throw new CheckpointError(path, `format is ${found}, expected "${CHECKPOINT_FORMAT}"; this is not a Sparrow checkpoint`);
  }
  if (file.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      path,
      `checkpoint format version ${JSON.stringify(file.version)} is not supported; this Sparrow reads version ${CHECKPOINT_VERSION}, so load it with the Sparrow release that wrote it`,
    );
  }
  if (typeof file.files !== 'object' || file.files === null || !(WEIGHTS_FILE in file.files)) {
    throw new CheckpointError(path, `"files" does not list ${WEIGHTS_FILE}; the file was edited or written by another program`);
  }
  return file as ConfigFile;
}

/** Reads a safetensors file that config.json lists, and checks its size and SHA-256 against the listing. */
function readListed(directory: string, configFile: ConfigFile, name: string): TensorMap {
  const path = join(directory, name);
  const expected = configFile.files[name];
  if (!existsSync(path)) {
    throw new CheckpointError(path, `not found, but ${CONFIG_FILE} lists it; the checkpoint is incomplete, so save it again or restore the file`);
  }

  const read = readSafetensors(path);
  if (read.bytes !== expected.bytes || read.sha256 !== expected.sha256) {
    throw new CheckpointError(
      path,
      `does not match ${CONFIG_FILE} (${read.bytes} bytes, sha256 ${read.sha256}; expected ${expected.bytes} bytes, sha256 ${expected.sha256}); the file was changed or replaced after the checkpoint was saved`,
    );
  }
  return read.tensors;
}

/** Checks that the caller's config serializes to JSON as it is, so a bad value fails before any file is written. */
function checkConfig(target: string, config: unknown): void {
  let text: string | undefined;
  try {
    text = JSON.stringify(config, (key, value) => {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new CheckpointError(target, `config value ${JSON.stringify(key)} is ${value}; JSON cannot store it, so store null (with a reason) or a string instead`);
      }
      return value;
    });
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(target, `config cannot be written as JSON (${(error as Error).message})`);
  }
  if (text === undefined) throw new CheckpointError(target, 'config is not a JSON value (undefined or a function)');
}
