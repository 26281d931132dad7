// Parity and determinism of sortPairs, segmentSum and scatterAddRows on every backend present.

import { describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { expectParity, testBackends, type InputSpec } from '../../src/testing/index.js';

// Sorting moves integers, and the segmented sum adds in sorted order on both backends with
// each partial sum rounded to float32, so results match bit for bit.
const EXACT = { atol: 0, rtol: 0 };

function keySpec(count: number, high: number, dtype: 'u32' | 'i32' = 'u32'): InputSpec {
  return { shape: [count], dtype, low: 0, high, differentiable: false };
}

describe('sortPairs', () => {
  // [count, key range, key bits]: one key, a prime count, just past a 1024-key block, many
  // blocks, keys wider than the sorted bits (clamped), and all 32 bits.
  const cases: [number, number, number][] = [
    [1, 5, 3],
    [7, 4, 3],
    [1025, 50, 6],
    [20011, 1000, 10],
    [300, 5000, 8],
    [4099, 4294967295, 32],
  ];

  // Each WebGPU program in each layout on every case, whatever the size and the adapter `auto`
  // would pick them for.
  const programs = (['single', 'multi'] as const).flatMap((strategy) => (['narrow', 'wide'] as const).map((workgroup) => [strategy, workgroup] as const));
  test.each(programs)('parity at awkward sizes (%s workgroup program, %s layout)', async (strategy, workgroup) => {
    for (const [count, high, keyBits] of cases) {
      await expectParity(`sortPairs ${count} keys, ${strategy}, ${workgroup}`, (keys) => sp.sortPairs(keys, { keyBits, strategy, workgroup }), [keySpec(count, high)], {
        tolerance: EXACT,
        gradients: false,
      });
    }
    const i32Keys = [{ ...keySpec(1500, 2 ** 31 - 1, 'i32'), low: -(2 ** 31) }];
    await expectParity(`sortPairs i32 keys, ${strategy}, ${workgroup}`, (keys) => sp.sortPairs(keys, { keyBits: 32, strategy, workgroup }), i32Keys, {
      tolerance: EXACT,
      gradients: false,
    });
  });

  test('auto picks the program by count and gives the same bits as both', async () => {
    for (const backend of await testBackends()) {
      for (const count of [sp.SINGLE_WORKGROUP_SORT_LIMIT, sp.SINGLE_WORKGROUP_SORT_LIMIT + 1]) {
        const values = new Uint32Array(count).map((_, i) => (i * 2654435761) % 977);
        const keys = sp.tensor(values, [count], { backend });
        const results = await Promise.all(
          (['auto', 'single', 'multi'] as const).map(async (strategy) => {
            const [sorted, positions] = sp.sortPairs(keys, { keyBits: 10, strategy });
            return [Array.from(await sorted.data()), Array.from(await positions.data())];
          }),
        );
        expect(results[1]).toEqual(results[0]);
        expect(results[2]).toEqual(results[0]);
      }
    }
  });

  test('is stable and clamps wide keys', async () => {
    for (const backend of await testBackends()) {
      const keys = sp.tensor(new Uint32Array([5, 3, 9, 3, 40, 5, 1]), [7], { backend });
      const [sorted, positions] = sp.sortPairs(keys, { keyBits: 4 });
      expect(Array.from(await sorted.data())).toEqual([1, 3, 3, 5, 5, 9, 15]);
      expect(Array.from(await positions.data())).toEqual([6, 1, 3, 0, 5, 2, 4]);
    }
  });

  test('i32 keys sort by their bits', async () => {
    for (const backend of await testBackends()) {
      const keys = sp.tensor(new Int32Array([2, -1, 0]), [3], { backend });
      const [sorted, positions] = sp.sortPairs(keys, { keyBits: 32 });
      expect(Array.from(await sorted.data())).toEqual([0, 2, 4294967295]);
      expect(Array.from(await positions.data())).toEqual([2, 0, 1]);
    }
  });

  test('empty keys give empty outputs', async () => {
    for (const backend of await testBackends()) {
      const [sorted, positions] = sp.sortPairs(sp.tensor(new Uint32Array([]), [0], { backend }));
      expect(sorted.shape).toEqual([0]);
      expect(positions.shape).toEqual([0]);
    }
  });

  test('bad key bits are rejected', () => {
    const keys = sp.tensor(new Uint32Array([1]), [1], { backend: 'cpu' });
    expect(() => sp.sortPairs(keys, { keyBits: 0 })).toThrow('sortPairs: keyBits must be an integer from 1 to 32, got 0');
    expect(() => sp.sortPairs(sp.zeros([2], { backend: 'cpu' }))).toThrow(sp.DTypeError);
  });
});

describe('segmentSum', () => {
  function sortedThenSummed(keys: sp.Tensor, values: sp.Tensor, keyLimit: number, strategy: sp.SortStrategy = 'auto'): sp.Tensor[] {
    const [sorted, positions] = sp.sortPairs(keys, { keyBits: sp.bitLength(keyLimit) });
    return sp.segmentSum(sorted, positions, values, { keyLimit, strategy });
  }

  // [count, key range, row shape, key limit]: a single key, keys past the limit dropped, a
  // scalar row, rows wider than a workgroup, and many segments over several scan blocks. The
  // parity test adds rows of 16, 8, 12 and 64 columns, which the vec4 form sums in chunks of
  // 4, 2, 1 and 16 vec4 groups.
  const cases: [number, number, number[], number][] = [
    [1, 3, [4], 3],
    [9, 12, [3], 8],
    [33, 5, [], 5],
    [20, 6, [257], 6],
    [5003, 700, [2], 700],
  ];

  test.each(['single', 'multi'] as const)('parity at awkward sizes (%s workgroup program)', async (strategy) => {
    const vec4Rows: typeof cases = [
      [2001, 300, [4, 4], 290],
      [1500, 90, [8], 90],
      [777, 50, [12], 50],
      [901, 70, [64], 70],
    ];
    for (const [count, high, row, keyLimit] of [...cases, [9001, 3000, [3], 2900], [3001, 400, [2, 4], 390], ...vec4Rows] as typeof cases) {
      const fn = (keys: sp.Tensor, values: sp.Tensor) => sortedThenSummed(keys, values, keyLimit, strategy);
      await expectParity(`segmentSum ${count} keys, ${strategy}`, fn, [keySpec(count, high), { shape: [count, ...row] }], {
        tolerance: EXACT,
        gradients: false,
      });
    }
  });

  test('values of a small case', async () => {
    for (const backend of await testBackends()) {
      const keys = sp.tensor(new Uint32Array([1, 1, 4, 6, 6, 6]), [6], { backend });
      const positions = sp.tensor(new Uint32Array([2, 0, 1, 3, 3, 0]), [6], { backend });
      const values = sp.tensor([1, 10, 100, 1000], [4, 1], { backend });
      const [unique, sums] = sp.segmentSum(keys, positions, values, { keyLimit: 6 });
      expect(Array.from(await unique.data())).toEqual([1, 4, 4294967295, 4294967295, 4294967295, 4294967295]);
      expect(Array.from(await sums.data())).toEqual([101, 10, 0, 0, 0, 0]);
    }
  });

  test('position outside the values throws on the CPU', () => {
    const keys = sp.tensor(new Uint32Array([0, 1]), [2], { backend: 'cpu' });
    const positions = sp.tensor(new Uint32Array([0, 5]), [2], { backend: 'cpu' });
    expect(() => sp.segmentSum(keys, positions, sp.ones([2, 3], { backend: 'cpu' }))).toThrow(
      'segmentSum: positions[1] is 5, outside the valid range [0, 2) of value rows',
    );
  });
});

describe('scatterAddRows', () => {
  test('matches dense scatterAdd', async () => {
    for (const backend of await testBackends()) {
      const idValues = sp.testing.inputValues({ shape: [300], dtype: 'u32', low: 0, high: 40 }, 3, 0);
      const ids = sp.tensor(Uint32Array.from(idValues), [300], { backend });
      const values = sp.randomUniform([300, 5], { backend, seed: 4, low: -1, high: 1 });
      const grad = sp.scatterAddRows(ids, values, [40, 5]);
      const dense = sp.rowSparseToDense(grad);
      const expected = sp.scatterAdd(ids, values, 40);
      const got = await dense.data();
      const want = await expected.data();
      // Both add in increasing position: scatterAdd by construction, the sort because it is stable.
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  test('two runs give identical bits', async () => {
    for (const backend of await testBackends()) {
      const idValues = sp.testing.inputValues({ shape: [5000], dtype: 'u32', low: 0, high: 97 }, 5, 0);
      const ids = sp.tensor(Uint32Array.from(idValues), [5000], { backend });
      const values = sp.randomNormal([5000, 8], { backend, seed: 6 });
      const first = sp.scatterAddRows(ids, values, [97, 8]);
      const second = sp.scatterAddRows(ids, values, [97, 8]);
      expect(new Uint32Array((await first.values.data()).buffer)).toEqual(new Uint32Array((await second.values.data()).buffer));
      expect(await first.rows.data()).toEqual(await second.rows.data());
    }
  });
});
