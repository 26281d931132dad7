// The train, eval and predict commands end to end on a slice of UCI Adult.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, lastJson, repositoryRoot as root, sparrow } from './helpers/cli.js';

const dataDir = process.env.SPARROW_DATA_DIR ?? join(root, '..', 'shared', 'data');
const adultTrain = join(dataDir, 'adult', 'adult.data');
const adultTest = join(dataDir, 'adult', 'adult.test');
const haveData = existsSync(adultTrain) && existsSync(adultTest);
if (!haveData && process.env.CI === 'true') throw new Error(`UCI Adult not found under ${dataDir}; set SPARROW_DATA_DIR`);
if (!haveData) console.warn(`skipped: UCI Adult not found under ${dataDir} (set SPARROW_DATA_DIR)`);

const scratch = mkdtempSync(join(tmpdir(), 'sparrow-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.runIf(haveData)('sparrow train, eval and predict on Adult', () => {
  const trainSlice = join(scratch, 'adult-train.csv');
  const testSlice = join(scratch, 'adult-test.csv');
  const modelDir = join(scratch, 'model');

  beforeAll(async () => {
    // Build first, so the commands under test are the current sources.
    await buildCli();
    writeFileSync(trainSlice, readFileSync(adultTrain, 'utf8').split('\n').slice(0, 1500).join('\n') + '\n');
    writeFileSync(testSlice, readFileSync(adultTest, 'utf8').split('\n').slice(0, 501).join('\n') + '\n');
  });

  let trainResult: Record<string, any>;

  test('train writes a checkpoint and prints the JSON summary', async () => {
    const result = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--eval', testSlice, '--epochs', '2', '--out', modelDir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    trainResult = lastJson(result.stdout);
    const income = trainResult.metrics.income;
    for (const key of ['auc', 'accuracy', 'logloss']) expect(typeof income[key]).toBe('number');
    expect(income.auc).toBeGreaterThan(0.75);
    expect(trainResult.examplesPerSecond).toBeGreaterThan(0);
    expect(trainResult.seconds).toBeGreaterThan(0);
    expect(typeof trainResult.backend).toBe('string');
    expect(trainResult.adapter).toBeTypeOf('object');
    for (const file of ['config.json', 'model.safetensors', 'optimizer.safetensors']) expect(existsSync(join(modelDir, file))).toBe(true);
  });

  test('eval reproduces the final training metrics', async () => {
    const result = await sparrow(['eval', '--model', modelDir, '--data', testSlice, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const metrics = (lastJson(result.stdout).metrics as any).income;
    const expected = trainResult.metrics.income;
    for (const key of ['auc', 'accuracy', 'logloss']) expect(Math.abs(metrics[key] - expected[key])).toBeLessThanOrEqual(1e-6);
  });

  test('predict writes one probability per row', async () => {
    const out = join(scratch, 'scores.csv');
    const result = await sparrow(['predict', '--model', modelDir, '--data', testSlice, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('income');
    expect(lines).toHaveLength(501);
    for (const line of lines.slice(1)) {
      const value = Number(line);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
  });

  test('a bad CSV row names file, line and column; --skip-bad-rows counts it', async () => {
    const bad = join(scratch, 'bad.csv');
    const lines = readFileSync(testSlice, 'utf8').split('\n');
    lines[5] = lines[5].replace(/^\d+/, 'forty');
    writeFileSync(bad, lines.join('\n'));
    const failed = await sparrow(['eval', '--model', modelDir, '--data', bad]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/bad\.csv.*line 6.*age.*forty/s);

    const skipped = await sparrow(['eval', '--model', modelDir, '--data', bad, '--skip-bad-rows', '--json']);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toMatch(/skipped 1 bad row\(s\): 1 number; first: .*bad\.csv line 6, column 1 "age": not a number \(value "forty"\)/);
    expect(lastJson(skipped.stdout).rows).toBe(499);
    expect(lastJson(skipped.stdout).skippedRows).toBe(1);
  });

  test('predict scores rows without the label column', async () => {
    const unlabeled = join(scratch, 'unlabeled.csv');
    const rows = readFileSync(testSlice, 'utf8').trim().split('\n');
    // The first line is adult.test's comment line; every other row loses its last field, income.
    writeFileSync(unlabeled, [rows[0], ...rows.slice(1).map((row) => row.slice(0, row.lastIndexOf(',')))].join('\n') + '\n');

    const labeled = await sparrow(['predict', '--model', modelDir, '--data', testSlice]);
    const result = await sparrow(['predict', '--model', modelDir, '--data', unlabeled]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(501);
    expect(result.stdout).toBe(labeled.stdout);
  });

  test('predict --skip-bad-rows adds a line column', async () => {
    const bad = join(scratch, 'bad-predict.csv');
    const lines = readFileSync(testSlice, 'utf8').split('\n');
    lines[5] = lines[5].replace(/^\d+/, 'forty');
    writeFileSync(bad, lines.join('\n'));
    const out = join(scratch, 'skipped-scores.csv');

    const result = await sparrow(['predict', '--model', modelDir, '--data', bad, '--skip-bad-rows', '--out', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result.stdout)).toMatchObject({ rows: 499, skippedRows: 1 });
    const written = readFileSync(out, 'utf8').trim().split('\n');
    expect(written[0]).toBe('line,income');
    expect(written).toHaveLength(500);
    const scoredLines = written.slice(1).map((row) => Number(row.split(',')[0]));
    expect(scoredLines.slice(0, 5)).toEqual([2, 3, 4, 5, 7]);
  });

  test('predict checks --out before scoring', async () => {
    const missing = await sparrow(['predict', '--model', modelDir, '--data', testSlice, '--out', join(scratch, 'no-dir', 'scores.csv')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--out: the directory .*no-dir of ".*scores\.csv" does not exist; create it or choose another path/);

    const directory = await sparrow(['predict', '--model', modelDir, '--data', testSlice, '--out', modelDir]);
    expect(directory.code).not.toBe(0);
    expect(directory.stderr).toContain(`--out: "${modelDir}" is a directory; give a file path`);
    expect(readdirSync(scratch).filter((name) => name.includes('.tmp'))).toEqual([]);
  });

  test('train checks --score and --out before fitting', async () => {
    const train = ['train', '--preset', 'adult', '--data', trainSlice, '--eval', testSlice, '--epochs', '1'];
    const badScore = await sparrow([...train, '--score', 'income=abc', '--out', join(scratch, 'scored')]);
    expect(badScore.code).not.toBe(0);
    expect(badScore.stderr).toMatch(/score weights: the weight of "income" is "abc"/);
    expect(badScore.stderr).not.toMatch(/fitting/);

    const noOut = await sparrow([...train, '--score', 'income=1']);
    expect(noOut.code).not.toBe(0);
    expect(noOut.stderr).toContain('--score and --score-kind set the serving score saved with the model; give --out too');

    const file = join(scratch, 'not-a-directory.csv');
    writeFileSync(file, 'keep me\n');
    const onFile = await sparrow([...train, '--out', file]);
    expect(onFile.code).not.toBe(0);
    expect(onFile.stderr).toMatch(/not-a-directory\.csv.*exists and is not a directory/);
    expect(onFile.stderr).not.toMatch(/fitting/);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
  });

  test('eval names why a metric is undefined', async () => {
    const rows = readFileSync(testSlice, 'utf8').trim().split('\n');
    const oneClass = join(scratch, 'one-class.csv');
    writeFileSync(oneClass, [rows[0], ...rows.slice(1).filter((row) => row.includes('<=50K'))].join('\n') + '\n');
    const text = await sparrow(['eval', '--model', modelDir, '--data', oneClass]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^income: auc undefined \(all \d+ labels are 0\)  accuracy 0\.\d{4}/);

    const json = lastJson((await sparrow(['eval', '--model', modelDir, '--data', oneClass, '--json'])).stdout);
    expect(json.metrics.income.auc).toBeNull();
    expect(json.metrics.income.undefined.auc).toMatch(/labels are 0/);

    const empty = join(scratch, 'empty.csv');
    writeFileSync(empty, `${rows[0]}\n`);
    const none = await sparrow(['eval', '--model', modelDir, '--data', empty]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain(`${empty}: no data rows to evaluate`);
  });

  test('resume continues a run as an uninterrupted one', async () => {
    const train = ['train', '--preset', 'adult', '--data', trainSlice, '--eval', testSlice, '--schedule', 'constant', '--batch-size', '128'];
    const straight = join(scratch, 'straight');
    const first = join(scratch, 'first-epoch');
    const resumed = join(scratch, 'resumed');
    expect((await sparrow([...train, '--epochs', '2', '--out', straight])).code).toBe(0);
    expect((await sparrow([...train, '--epochs', '1', '--out', first])).code).toBe(0);

    // Left out, --batch-size and --schedule come from the checkpoint.
    const result = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--eval', testSlice, '--epochs', '2', '--resume', first, '--out', resumed]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(resumed, 'model.safetensors'))).toEqual(readFileSync(join(straight, 'model.safetensors')));

    const mismatch = await sparrow([...train.slice(0, -2), '--batch-size', '64', '--epochs', '2', '--resume', first]);
    expect(mismatch.code).not.toBe(0);
    expect(mismatch.stderr).toContain(`--resume: --batch-size 64 differs from 128, which the run saved in ${first} used; leave --batch-size out to continue with it`);

    const finished = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--resume', resumed]);
    expect(finished.code).not.toBe(0);
    expect(finished.stderr).toContain(`--resume: the run saved in ${resumed} has finished 2 epoch(s), and --epochs is 2; pass a larger --epochs to train further`);
  });

  test('train rejects options of other models', async () => {
    const result = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--model', 'wide-deep', '--experts', '4']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('--experts: applies to --model omoe, mmoe only, and --model is wide-deep; leave it out or choose one of those models');
    const wide = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--model', 'wide', '--hidden', '8']);
    expect(wide.stderr).toContain('--hidden: applies to --model deep, wide-deep only, and --model is wide');
  });

  test('eval --part scores the held-out part of a split', async () => {
    const splitModel = join(scratch, 'split-model');
    const trained = await sparrow(['train', '--preset', 'adult', '--data', trainSlice, '--split', '0.5,0.25,0.25', '--epochs', '1', '--out', splitModel, '--json']);
    expect(trained.code, trained.stderr).toBe(0);
    const finalMetrics = lastJson(trained.stdout).metrics.income;

    const heldOut = await sparrow(['eval', '--model', splitModel, '--data', trainSlice, '--part', 'test', '--json']);
    expect(heldOut.code, heldOut.stderr).toBe(0);
    const metrics = lastJson(heldOut.stdout);
    expect(metrics.rows).toBe(finalMetrics.rows);
    expect(metrics.rows).toBeLessThan(1000);
    expect(Math.abs(metrics.metrics.income.auc - finalMetrics.auc)).toBeLessThanOrEqual(1e-6);

    const unsplit = await sparrow(['eval', '--model', modelDir, '--data', testSlice, '--part', 'test']);
    expect(unsplit.code).not.toBe(0);
    expect(unsplit.stderr).toContain('--part: the model in');
    expect(unsplit.stderr).toContain('was not trained on a split file');
  });

  test('a missing model directory is a clear error', async () => {
    const result = await sparrow(['eval', '--model', join(scratch, 'no-model'), '--data', testSlice]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no-model/);
  });
});
