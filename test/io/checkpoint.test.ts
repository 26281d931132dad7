// Checkpoint directories: round trip, replacement, format version, missing and changed files.

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { CheckpointError, loadCheckpoint, saveCheckpoint, writeSafetensors, type CheckpointParts } from '../../src/io/index.js';
import { expectBitIdentical, sampleTensors, temporaryDirectory } from './helpers.js';

function parts(step: number): CheckpointParts {
  return {
    weights: { ...sampleTensors(), 'step.marker': { dtype: 'i32', shape: [1], data: new Int32Array([step]) } },
    optimizer: {
      'deep.dense.weight.m': { dtype: 'f32', shape: [2, 5], data: new Float32Array(10).fill(step / 3) },
      'deep.dense.weight.v': { dtype: 'f32', shape: [2, 5], data: new Float32Array(10).fill(step / 7) },
    },
    config: {
      model: { kind: 'wide-deep', hidden: [64, 32] },
      hashSeed: 17,
      training: { epoch: 2, step, rngSeed: 5 },
      metrics: { label: { auc: 0.91, logLoss: 0.3, calibration: null, undefinedReasons: { calibration: 'undefined: mean label is 0' } } },
    },
  };
}

describe('checkpoint round trip', () => {
  test('weights, optimizer and config', () => {
    const directory = join(temporaryDirectory(), 'run');
    const saved = parts(7);
    saveCheckpoint(directory, saved);
    const loaded = loadCheckpoint(directory);

    expectBitIdentical(expect, loaded.weights, saved.weights);
    expectBitIdentical(expect, loaded.optimizer!, saved.optimizer!);
    expect(loaded.config).toEqual(saved.config);
    expect(loaded.version).toBe(1);
    expect(loaded.directory).toBe(directory);
    expect(readdirSync(directory).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors']);
  });

  test('config.json lists files and version', () => {
    const directory = join(temporaryDirectory(), 'run');
    saveCheckpoint(directory, parts(1));
    const configFile = JSON.parse(readFileSync(join(directory, 'config.json'), 'utf8'));

    expect(configFile.format).toBe('sparrow-checkpoint');
    expect(configFile.version).toBe(1);
    expect(Object.keys(configFile.files)).toEqual(['model.safetensors', 'optimizer.safetensors']);
    expect(configFile.files['model.safetensors'].bytes).toBe(readFileSync(join(directory, 'model.safetensors')).length);
    expect(configFile.files['model.safetensors'].sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('directory gets the mode of mkdir', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    saveCheckpoint(directory, parts(1));
    mkdirSync(join(parent, 'plain'));
    expect(statSync(directory).mode & 0o777).toBe(statSync(join(parent, 'plain')).mode & 0o777);
  });

  test('without optimizer', () => {
    const directory = join(temporaryDirectory(), 'run');
    saveCheckpoint(directory, { weights: parts(1).weights, config: { kind: 'wide' } });
    const loaded = loadCheckpoint(directory);

    expect(loaded.optimizer).toBeUndefined();
    expect(existsSync(join(directory, 'optimizer.safetensors'))).toBe(false);
  });

  test('skip reading the optimizer', () => {
    const directory = join(temporaryDirectory(), 'run');
    saveCheckpoint(directory, parts(1));
    expect(loadCheckpoint(directory, { optimizer: false }).optimizer).toBeUndefined();
  });

  test('save replaces the previous checkpoint', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    saveCheckpoint(directory, parts(1));
    saveCheckpoint(directory, { weights: parts(2).weights, config: { step: 2 } });
    const loaded = loadCheckpoint(directory);

    expect(loaded.config).toEqual({ step: 2 });
    expect(loaded.weights['step.marker'].data[0]).toBe(2);
    expect(loaded.optimizer).toBeUndefined();
    expect(readdirSync(directory).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(readdirSync(parent)).toEqual(['run']);
  });

  test('save into an empty directory', () => {
    const directory = temporaryDirectory();
    saveCheckpoint(directory, parts(3));
    expect(loadCheckpoint(directory).config).toEqual(parts(3).config);
  });
});

describe('checkpoint save checks', () => {
  test('non-checkpoint directory is kept', () => {
    const directory = temporaryDirectory();
    writeFileSync(join(directory, 'notes.txt'), 'keep me');

    expect(() => saveCheckpoint(directory, parts(1))).toThrow(`${directory}: exists and is not a Sparrow checkpoint`);
    expect(readdirSync(directory)).toEqual(['notes.txt']);
  });

  test('foreign directory at the swap path', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    saveCheckpoint(directory, parts(1));
    mkdirSync(`${directory}.sparrow-previous`);
    writeFileSync(join(`${directory}.sparrow-previous`, 'notes.txt'), 'keep me');

    expect(() => saveCheckpoint(directory, parts(2))).toThrow(`${directory}.sparrow-previous: exists and is not a Sparrow checkpoint`);
    expect(readdirSync(`${directory}.sparrow-previous`)).toEqual(['notes.txt']);
    expect(loadCheckpoint(directory).config).toEqual(parts(1).config);
  });

  test('weights missing', () => {
    const directory = join(temporaryDirectory(), 'run');
    expect(() => saveCheckpoint(directory, { config: {} } as unknown as CheckpointParts)).toThrow(`${directory}: weights are missing`);
  });

  test('non-finite config value', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    const bad = { ...parts(1), config: { metrics: { auc: NaN } } };

    expect(() => saveCheckpoint(directory, bad)).toThrow(`${directory}: config value "auc" is NaN; JSON cannot store it`);
    expect(readdirSync(parent)).toEqual([]);
  });

  test('invalid tensor keeps the previous checkpoint', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    saveCheckpoint(directory, parts(1));
    const bad = { ...parts(2), optimizer: { m: { dtype: 'f32' as const, shape: [3], data: new Float32Array(2) } } };

    expect(() => saveCheckpoint(directory, bad)).toThrow(`${join(directory, 'optimizer.safetensors')}: tensor "m": shape [3] has 3 elements but data has 2`);
    expect(loadCheckpoint(directory).config).toEqual(parts(1).config);
    expect(readdirSync(parent)).toEqual(['run']);
  });
});

describe('checkpoint load errors', () => {
  function savedDirectory(): string {
    const directory = join(temporaryDirectory(), 'run');
    saveCheckpoint(directory, parts(1));
    return directory;
  }

  function editConfig(directory: string, edit: (configFile: Record<string, unknown>) => void): void {
    const path = join(directory, 'config.json');
    const configFile = JSON.parse(readFileSync(path, 'utf8'));
    edit(configFile);
    writeFileSync(path, JSON.stringify(configFile));
  }

  test('unknown format version', () => {
    const directory = savedDirectory();
    editConfig(directory, (configFile) => (configFile.version = 2));

    expect(() => loadCheckpoint(directory)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(directory)).toThrow(
      `${join(directory, 'config.json')}: checkpoint format version 2 is not supported; this Sparrow reads version 1, so load it with the Sparrow release that wrote it`,
    );
  });

  test('version missing', () => {
    const directory = savedDirectory();
    editConfig(directory, (configFile) => delete configFile.version);
    expect(() => loadCheckpoint(directory)).toThrow('checkpoint format version undefined is not supported');
  });

  test('other format', () => {
    const directory = savedDirectory();
    editConfig(directory, (configFile) => (configFile.format = 'keras'));
    expect(() => loadCheckpoint(directory)).toThrow(`${join(directory, 'config.json')}: format is "keras", expected "sparrow-checkpoint"`);
  });

  test('config.json not JSON', () => {
    const directory = savedDirectory();
    writeFileSync(join(directory, 'config.json'), '{"format":');
    expect(() => loadCheckpoint(directory)).toThrow(`${join(directory, 'config.json')}: is not valid JSON`);
  });

  test('missing directory', () => {
    const directory = join(temporaryDirectory(), 'nowhere');
    expect(() => loadCheckpoint(directory)).toThrow(`${directory}: checkpoint directory not found; pass the directory that saveCheckpoint wrote (\`sparrow train --out\` writes one)`);
  });

  test('missing config.json', () => {
    const directory = savedDirectory();
    rmSync(join(directory, 'config.json'));
    expect(() => loadCheckpoint(directory)).toThrow(`${join(directory, 'config.json')}: not found; the directory is not a complete checkpoint`);
  });

  test('missing model.safetensors', () => {
    const directory = savedDirectory();
    rmSync(join(directory, 'model.safetensors'));
    expect(() => loadCheckpoint(directory)).toThrow(
      `${join(directory, 'model.safetensors')}: not found, but config.json lists it; the checkpoint is incomplete, so save it again or restore the file`,
    );
  });

  test('missing optimizer.safetensors', () => {
    const directory = savedDirectory();
    rmSync(join(directory, 'optimizer.safetensors'));
    expect(() => loadCheckpoint(directory)).toThrow(`${join(directory, 'optimizer.safetensors')}: not found, but config.json lists it`);
    expect(loadCheckpoint(directory, { optimizer: false }).weights['step.marker'].data[0]).toBe(1);
  });

  test('weights file replaced', () => {
    const directory = savedDirectory();
    writeSafetensors(join(directory, 'model.safetensors'), parts(2).weights);
    expect(() => loadCheckpoint(directory)).toThrow(`${join(directory, 'model.safetensors')}: does not match config.json`);
  });

  test('weights file corrupt', () => {
    const directory = savedDirectory();
    const path = join(directory, 'model.safetensors');
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    expect(() => loadCheckpoint(directory)).toThrow(path);
  });

  test('interrupted swap loads the previous checkpoint', () => {
    // The state after a crash between the two renames of a save: only run.sparrow-previous exists.
    const directory = savedDirectory();
    renameSync(directory, `${directory}.sparrow-previous`);
    const loaded = loadCheckpoint(directory);
    expect(loaded.directory).toBe(`${directory}.sparrow-previous`);
    expect(loaded.config).toEqual(parts(1).config);

    // The next save puts a checkpoint back in place and removes the old one.
    saveCheckpoint(directory, parts(2));
    expect(loadCheckpoint(directory).directory).toBe(directory);
    expect(existsSync(`${directory}.sparrow-previous`)).toBe(false);
  });

  test('path is a file', () => {
    const path = join(temporaryDirectory(), 'file');
    writeFileSync(path, '');
    expect(() => loadCheckpoint(path)).toThrow(`${path}: is not a directory`);
    expect(() => saveCheckpoint(path, parts(1))).toThrow(`${path}: exists and is not a directory`);
  });

  test('directory without files entry', () => {
    const directory = savedDirectory();
    editConfig(directory, (configFile) => delete configFile.files);
    mkdirSync(join(directory, 'extra'));
    expect(() => loadCheckpoint(directory)).toThrow('"files" does not list model.safetensors');
  });
});
