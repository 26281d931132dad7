// `sparrow demo` on a small foodio: wide wins targeted queries, deep wins exploratory ones, wide & deep does well on both.

import { beforeAll, describe, expect, test } from 'vitest';

import { DEMO_MODELS, formatDemoTable, runDemo, type DemoResult } from '../src/cli/demo.js';
import { testBackends } from '../src/testing/index.js';

const backends = await testBackends();

/**
 * How far below the best single model wide & deep may land. Targeted and exploratory slices
 * contain about 1,000 test rows each and the held-out slice about 250, so its AUC is noisier.
 * Also, the wide part adds a per-item weight that is noise for a held-out item.
 */
const MARGIN = { targeted: 0.02, exploratory: 0.02, exploratoryHeldOut: 0.05 };

describe.each(backends)('demo on %s', (backend) => {
  let result: DemoResult;

  // 8,000 training rows and 3 epochs take about 5 s on llvmpipe and on the CPU backend, 16 s on SwiftShader.
  beforeAll(async () => {
    result = await runDemo({ rows: 8000, seed: 11, epochs: 3, batchSize: 256, backend });
    console.log(`${formatDemoTable(result)}\n${result.seconds.toFixed(1)} s on ${backend}`);
  });

  test('slices count the test rows', () => {
    expect(result.rows.train).toBe(8000);
    expect(result.rows.test).toBe(2000);
    expect(result.rows.targeted + result.rows.exploratory).toBe(2000);
    expect(result.rows.exploratoryHeldOut).toBeGreaterThan(100);
    expect(result.rows.exploratoryHeldOut).toBeLessThan(result.rows.exploratory);
  });

  test('every AUC is defined', () => {
    for (const kind of DEMO_MODELS) {
      const metrics = result.results[kind];
      for (const value of [metrics.aucTargeted, metrics.aucExploratory, metrics.aucExploratoryHeldOut, metrics.auc]) expect(value, kind).not.toBeNull();
    }
  });

  test('wide wins targeted queries', () => {
    // By a clear margin, because the deep part has no item id and distinguishes dishes of one category only by price.
    expect(result.results.wide.aucTargeted!).toBeGreaterThan(result.results.deep.aucTargeted! + 0.05);
  });

  test('deep wins exploratory queries', () => {
    expect(result.results.deep.aucExploratory!).toBeGreaterThan(result.results.wide.aucExploratory!);
  });

  test('deep wins held-out exploratory pairs', () => {
    // The wide part has no weight for a pair it never saw, so it ranks these rows near chance.
    expect(result.results.deep.aucExploratoryHeldOut!).toBeGreaterThan(result.results.wide.aucExploratoryHeldOut!);
    expect(result.results.wide.aucExploratoryHeldOut!).toBeLessThan(0.65);
    expect(result.results.deep.aucExploratoryHeldOut!).toBeGreaterThan(0.85);
  });

  test('wide & deep is near the best on each slice', () => {
    const { wide, deep } = result.results;
    const both = result.results['wide-deep'];
    expect(both.aucTargeted!).toBeGreaterThan(Math.max(wide.aucTargeted!, deep.aucTargeted!) - MARGIN.targeted);
    expect(both.aucExploratory!).toBeGreaterThan(Math.max(wide.aucExploratory!, deep.aucExploratory!) - MARGIN.exploratory);
    expect(both.aucExploratoryHeldOut!).toBeGreaterThan(Math.max(wide.aucExploratoryHeldOut!, deep.aucExploratoryHeldOut!) - MARGIN.exploratoryHeldOut);
  });
});
