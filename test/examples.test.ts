// The library examples of README and docs/library.md run and print the documented output.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, test } from 'vitest';

import { buildCli, repositoryRoot } from './helpers/cli.js';

const run = promisify(execFile);

async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, [join(repositoryRoot, 'examples', name)], { cwd: repositoryRoot });
  return stdout;
}

beforeAll(buildCli);

test('quickstart prints a loss and bias gradient', async () => {
  const stdout = await example('quickstart.mjs');
  const match = /^loss ([\d.]+) dL\/db \[ ([\d.e-]+), ([\d.e-]+) \]$/m.exec(stdout);
  expect(match, stdout).not.toBeNull();
  // README shows 0.70695 and [0.011033, -0.011434] on llvmpipe; SwiftShader's exp and log
  // differ from them in the sixth digit.
  expect(Number(match![1])).toBeCloseTo(0.70695, 4);
  expect(Number(match![2])).toBeCloseTo(0.011033, 5);
  expect(Number(match![3])).toBeCloseTo(-0.011434, 5);
});

test('sparse step updates only touched rows', async () => {
  const stdout = await example('sparse-step.mjs');
  const losses = [...stdout.matchAll(/^step (\d): loss ([\d.]+), updated rows \[17, 402, 1003, 1009\]$/gm)].map((match) => Number(match[2]));
  expect(losses).toHaveLength(5);
  expect(losses[0]).toBeCloseTo(0.83056, 4);
  for (let step = 1; step < 5; step++) expect(losses[step]).toBeLessThan(losses[step - 1]);
  expect(stdout).toMatch(/Adam steps 5$/m);
});

test('foodio training reaches its AUC', async () => {
  const stdout = await example('train-foodio.mjs');
  const auc = Number(/test AUC of "consumed": ([\d.]+)/.exec(stdout)?.[1]);
  // 0.9140 on llvmpipe and on the CPU backend; backends differ in float rounding only.
  expect(auc).toBeGreaterThan(0.905);
  expect(stdout.match(/^epoch \d: training loss/gm)).toHaveLength(4);
});
