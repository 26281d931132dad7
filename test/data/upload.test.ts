// Uploading a sparse batch to tensors on every backend present, and selecting rows of a batch.

import { describe, expect, test } from 'vitest';

import * as sp from '../../src/index.js';
import { testBackends } from '../../src/testing/index.js';
import { Encoder, encodeAll, fit, Foodio, foodioSchema, selectRows, youtubeSimSchema, YoutubeSim } from '../../src/data/index.js';

describe('batchToTensors', () => {
  test('ids, offsets, dense and labels keep their values', async () => {
    const source = new Foodio({ rows: 37, seed: 1 }).source();
    const { state } = await fit(foodioSchema, source);
    const batch = await encodeAll(source, new Encoder(state, source.columns));

    for (const backend of await testBackends()) {
      const tensors = sp.batchToTensors(batch, backend);
      const cross = tensors.fields['query-x-item'];
      expect(cross.ids.dtype).toBe('u32');
      expect(cross.offsets.shape).toEqual([38]);
      expect(Array.from(await cross.ids.data())).toEqual(Array.from(batch.fields['query-x-item'].ids));
      expect(Array.from(await tensors.fields.query.offsets.data())).toEqual(Array.from(batch.fields.query.offsets));
      expect(tensors.dense.shape).toEqual([37, 1]);
      expect(Array.from(await tensors.dense.data())).toEqual(Array.from(batch.dense));
      expect(Array.from(await tensors.labels.consumed.data())).toEqual(Array.from(batch.labels.consumed));
    }
  });

  test('masked labels upload with their masks', async () => {
    const source = new YoutubeSim({ rows: 20, seed: 2 }).source();
    const { state } = await fit(youtubeSimSchema, source);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    const tensors = sp.batchToTensors(batch, 'cpu');
    expect(Array.from(await tensors.labelMasks.rating.data())).toEqual(Array.from(batch.labelMasks.rating));
    expect(tensors.dense.shape).toEqual([20, 0]);
  });
});

describe('selectRows', () => {
  test('picks bags, dense rows and labels', async () => {
    const source = new Foodio({ rows: 10, seed: 3 }).source();
    const { state } = await fit(foodioSchema, source);
    const batch = await encodeAll(source, new Encoder(state, source.columns));
    const picked = selectRows(batch, [4, 0, 4]);
    expect(picked.size).toBe(3);
    expect(Array.from(picked.fields.item.ids)).toEqual([4, 0, 4].map((row) => batch.fields.item.ids[row]));
    expect(Array.from(picked.fields.item.offsets)).toEqual([0, 1, 2, 3]);
    expect(Array.from(picked.dense)).toEqual([4, 0, 4].map((row) => batch.dense[row]));
    expect(() => selectRows(batch, [10])).toThrow(/outside \[0, 10\)/);
  });
});
