// The benchmark command's checks and exit status, and peers that release what they allocate: a
// grid runs many cases in one process.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';

import { generateInputs } from '../bench/embedding.js';
import { benchExitCode, runBenchmarks } from '../bench/main.js';
import { createTfjsEmbeddingRunner } from '../bench/peers/tfjs-embedding.js';

test('tfjs embedding runner frees its tensors', async () => {
  await tf.setBackend('cpu');
  const before = tf.memory().numTensors;
  const runner = await createTfjsEmbeddingRunner('tfjs-cpu', generateInputs(1000, 4));
  await runner.run();
  await runner.verify?.();
  runner.dispose();

  expect(tf.memory().numTensors).toBe(before);
});

describe('sparrow bench', () => {
  test('a bad --out fails before any case runs', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sparrow-bench-'));
    const started = performance.now();
    await expect(runBenchmarks({ filter: 'matmul', impls: ['sparrow-cpu'], out: folder })).rejects.toThrow(`--out: "${folder}" is a directory; give a file path`);
    writeFileSync(join(folder, 'file'), '');
    await expect(runBenchmarks({ filter: 'matmul', impls: ['sparrow-cpu'], out: join(folder, 'file', 'r.json') })).rejects.toThrow(/is a file, not a folder/);
    // A matmul row on the CPU takes seconds; the checks take milliseconds.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('exit status is 1 when nothing was measured', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sparrow-bench-'));
    const previous = process.env.SPARROW_DATA_DIR;
    process.env.SPARROW_DATA_DIR = join(folder, 'no-data');
    try {
      const report = await runBenchmarks({ filter: 'train-adult', impls: ['sparrow-cpu'], out: join(folder, 'r.json') });
      expect(report.results.every((result) => result.skipped !== undefined)).toBe(true);
      const lines: string[] = [];
      const log = (line: string) => void lines.push(line);
      expect(benchExitCode(report, log)).toBe(1);
      expect(lines).toEqual(['[bench] no row was measured: every row was skipped (see the reasons above)\n']);
      expect(benchExitCode({ ...report, results: [{ ...report.results[0], skipped: undefined, medianMs: 5 }] }, log)).toBe(0);
      expect(benchExitCode({ ...report, results: [{ ...report.results[0], medianMs: 5, error: 'broken' }] }, log)).toBe(1);
      expect(lines[1]).toBe('[bench] 1 row(s) failed: train-adult batch 256 sparrow-cpu\n');
    } finally {
      if (previous === undefined) delete process.env.SPARROW_DATA_DIR;
      else process.env.SPARROW_DATA_DIR = previous;
    }
  });
});
