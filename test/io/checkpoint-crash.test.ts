// A simulated crash at every file-system step of a checkpoint save leaves a checkpoint that loads.
//
// The mock of node:fs counts each call that changes the disk. At the chosen call it throws, and
// from then on every such call throws too, as if the process had died: no cleanup runs. The test
// then "restarts", loads the directory, and saves again.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';

import { loadCheckpoint, saveCheckpoint, type CheckpointParts } from '../../src/io/index.js';
import { temporaryDirectory } from './helpers.js';

const crash = vi.hoisted(() => ({ active: false, calls: 0, at: -1, crashed: false }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const mutating = ['openSync', 'writeSync', 'fsyncSync', 'closeSync', 'renameSync', 'rmSync', 'mkdirSync', 'mkdtempSync'] as const;
  const wrapped: Record<string, unknown> = { ...actual };
  for (const name of mutating) {
    const original = actual[name] as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]) => {
      if (crash.active) {
        if (crash.crashed) throw new Error(`simulated crash: ${name} after the process died`);
        if (crash.calls++ === crash.at) {
          crash.crashed = true;
          throw new Error(`simulated crash at ${name}`);
        }
      }
      return original(...args);
    };
  }
  return wrapped;
});

function parts(step: number): CheckpointParts {
  return {
    weights: {
      'wide.weight': { dtype: 'f32', shape: [4, 1], data: new Float32Array([step, -step, 0.5, NaN]) },
      'step.marker': { dtype: 'i32', shape: [1], data: new Int32Array([step]) },
    },
    optimizer: { 'wide.weight.accumulator': { dtype: 'f32', shape: [4, 1], data: new Float32Array(4).fill(step) } },
    config: { training: { step } },
  };
}

/** Runs `save` with the crash armed at mutating call `at` (-1: never); returns whether it crashed. */
function withCrashAt(at: number, save: () => void): { crashed: boolean; calls: number } {
  Object.assign(crash, { active: true, calls: 0, at, crashed: false });
  try {
    save();
  } catch (error) {
    if (!crash.crashed) throw error;
  } finally {
    crash.active = false;
  }
  return { crashed: crash.crashed, calls: crash.calls };
}

function loadedStep(directory: string): number {
  const loaded = loadCheckpoint(directory);
  const step = loaded.weights['step.marker'].data[0];
  expect(loaded.config, 'config belongs to the same save as the weights').toEqual({ training: { step } });
  expect(loaded.optimizer!['wide.weight.accumulator'].data[0], 'optimizer belongs to the same save').toBe(step);
  return step;
}

describe('checkpoint crash', () => {
  test('every crash point leaves one whole checkpoint', () => {
    // Count the mutating calls of one replacing save.
    const probe = join(temporaryDirectory(), 'run');
    saveCheckpoint(probe, parts(1));
    const { calls } = withCrashAt(-1, () => saveCheckpoint(probe, parts(2)));
    expect(calls).toBeGreaterThan(20);

    const loadedSteps: number[] = [];
    for (let at = 0; at < calls; at++) {
      const parent = temporaryDirectory();
      const directory = join(parent, 'run');
      saveCheckpoint(directory, parts(1));

      const result = withCrashAt(at, () => saveCheckpoint(directory, parts(2)));
      expect(result.crashed, `crash point ${at}`).toBe(true);

      // After the restart the directory contains the old checkpoint or the new one, whole.
      const step = loadedStep(directory);
      expect([1, 2], `crash point ${at}: loaded step`).toContain(step);
      loadedSteps.push(step);

      // A later save succeeds and is what loads next.
      saveCheckpoint(directory, parts(3));
      expect(loadedStep(directory), `crash point ${at}: save after the crash`).toBe(3);
      expect(existsSync(`${directory}.sparrow-previous`), `crash point ${at}: .sparrow-previous removed`).toBe(false);
      expect(readdirSync(directory).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors']);
    }

    // The switch happens once, at the rename of the staged directory: every earlier crash keeps
    // the old checkpoint, and the few steps after it (flush the parent, remove .sparrow-previous) keep the new.
    const firstNew = loadedSteps.indexOf(2);
    expect(firstNew, 'some crash point after the final rename').toBeGreaterThan(0);
    expect(loadedSteps.slice(firstNew).every((step) => step === 2), `loaded steps ${loadedSteps.join(',')}`).toBe(true);
    expect(calls - firstNew, 'steps after the final rename').toBeLessThanOrEqual(4);
  });

  test('crash during the first save leaves nothing that loads', () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'run');
    const { calls } = withCrashAt(-1, () => saveCheckpoint(join(temporaryDirectory(), 'probe'), parts(1)));

    for (let at = 0; at < calls; at++) {
      const result = withCrashAt(at, () => saveCheckpoint(directory, parts(1)));
      expect(result.crashed).toBe(true);
      if (existsSync(directory)) {
        expect(loadedStep(directory), `crash point ${at}`).toBe(1);
        break;
      }
      expect(() => loadCheckpoint(directory), `crash point ${at}`).toThrow('checkpoint directory not found');
    }
  });
});
