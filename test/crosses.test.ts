// Hashed crosses: host reference, CPU and WebGPU bit-identical, multi-valued and empty bags, bad input.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { crossBucket } from '../src/sparse/hash.js';
import { testBackends } from '../src/testing/index.js';

type IdDType = 'i32' | 'u32';

interface HostField {
  ids: number[];
  offsets: number[];
  dtype: IdDType;
}

/** A small seeded generator (mulberry32), so the bags are the same on every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Bags of length 0 to maxLength (about one in five empty when maxLength > 1 and there are several bags), with ids drawn
 * from `pool`, which mixes small, negative (i32) or near-2^32 (u32) values.
 */
function randomField(bags: number, maxLength: number, dtype: IdDType, seed: number): HostField {
  const random = generator(seed);
  const pool =
    dtype === 'i32'
      ? [0, 1, 7, -1, -2, -2147483648, 2147483647, 123456789]
      : [0, 1, 7, 4294967295, 4294967294, 2147483648, 3000000000, 99];
  const ids: number[] = [];
  const offsets = [0];
  for (let b = 0; b < bags; b++) {
    const length = maxLength === 1 ? 1 : bags > 1 && random() < 0.2 ? 0 : 1 + Math.floor(random() * maxLength);
    for (let i = 0; i < length; i++) ids.push(random() < 0.5 ? pool[Math.floor(random() * pool.length)] : Math.floor(random() * 1000));
    offsets.push(ids.length);
  }
  return { ids, offsets, dtype };
}

function toDevice(field: HostField, backend: sp.BackendName): sp.CsrBags {
  const ids = field.dtype === 'i32' ? new Int32Array(field.ids) : new Uint32Array(field.ids);
  return {
    ids: sp.tensor(ids, [ids.length], { backend }),
    offsets: sp.tensor(new Uint32Array(field.offsets), [field.offsets.length], { backend }),
  };
}

async function readCross(cross: sp.CsrBags): Promise<{ ids: number[]; offsets: number[] }> {
  const result = { ids: Array.from(await cross.ids.data()), offsets: Array.from(await cross.offsets.data()) };
  expect(cross.ids.dtype).toBe('u32');
  expect(cross.offsets.dtype).toBe('u32');
  return result;
}

function hostCross(fields: HostField[], options: sp.HashedCrossOptions): { ids: number[]; offsets: number[] } {
  const result = sp.hashedCrossHost(fields, options);
  return { ids: Array.from(result.ids), offsets: Array.from(result.offsets) };
}

describe('hashedCrossHost', () => {
  test('single-valued pair uses crossBucket', () => {
    const a = { ids: [3, -1], offsets: [0, 1, 2] };
    const b = { ids: [4294967295, 5], offsets: [0, 1, 2] };
    const result = sp.hashedCrossHost([a, b], { buckets: 1000, seed: 42 });
    expect(Array.from(result.offsets)).toEqual([0, 1, 2]);
    expect(Array.from(result.ids)).toEqual([crossBucket([3, 4294967295], 42, 1000), crossBucket([-1, 5], 42, 1000)]);
    // -1 hashes by its two's-complement bits, the same word as the u32 id 4294967295.
    expect(crossBucket([-1, 5], 42, 1000)).toBe(crossBucket([4294967295, 5], 42, 1000));
  });

  test('multi-valued bags give the cross product in row-major order', () => {
    const a = { ids: [1, 2], offsets: [0, 2] };
    const b = { ids: [10, 20, 30], offsets: [0, 3] };
    const c = { ids: [7], offsets: [0, 1] };
    const h = (x: number, y: number) => crossBucket([x, y, 7], 9, 100003);
    const result = sp.hashedCrossHost([a, b, c], { buckets: 100003, seed: 9 });
    expect(Array.from(result.offsets)).toEqual([0, 6]);
    expect(Array.from(result.ids)).toEqual([h(1, 10), h(1, 20), h(1, 30), h(2, 10), h(2, 20), h(2, 30)]);
  });

  test('an empty bag in any field gives an empty crossed bag', () => {
    // Bag 0: a empty. Bag 1: both have ids. Bag 2: b empty. Bag 3: both empty.
    const a = { ids: [5, 6], offsets: [0, 0, 1, 2, 2] };
    const b = { ids: [8, 9], offsets: [0, 1, 2, 2, 2] };
    const result = sp.hashedCrossHost([a, b], { buckets: 50 });
    expect(Array.from(result.offsets)).toEqual([0, 0, 1, 1, 1]);
    expect(Array.from(result.ids)).toEqual([crossBucket([5, 9], 0, 50)]);
  });

  test('repeated ids repeat their combinations', () => {
    const a = { ids: [4, 4], offsets: [0, 2] };
    const b = { ids: [1], offsets: [0, 1] };
    const ids = Array.from(sp.hashedCrossHost([a, b], { buckets: 97 }).ids);
    expect(ids).toEqual([crossBucket([4, 1], 0, 97), crossBucket([4, 1], 0, 97)]);
  });

  test('bad options and offsets throw', () => {
    const a = { ids: [1, 2], offsets: [0, 1, 2] };
    const b = { ids: [3, 4], offsets: [0, 1, 2] };
    expect(() => sp.hashedCrossHost([a, b], { buckets: 0 })).toThrow('hashedCrossHost: buckets is 0; expected an integer from 1 to 2^32 - 1');
    expect(() => sp.hashedCrossHost([a, b], { buckets: 2 ** 32 })).toThrow(RangeError);
    expect(() => sp.hashedCrossHost([a, b], { buckets: 10, seed: -1 })).toThrow('hashedCrossHost: seed is -1');
    expect(() => sp.hashedCrossHost([a], { buckets: 10 })).toThrow('hashedCrossHost: a cross needs at least 2 fields, got 1');
    expect(() => sp.hashedCrossHost([a, { ids: [3], offsets: [0, 1] }], { buckets: 10 })).toThrow(sp.ShapeError);
    expect(() => sp.hashedCrossHost([a, { ids: [3, 4], offsets: [1, 1, 2] }], { buckets: 10 })).toThrow(
      'hashedCrossHost: field 1 offsets[0] is 1; offsets must start at 0',
    );
    expect(() => sp.hashedCrossHost([a, { ids: [3, 4], offsets: [0, 2, 1] }], { buckets: 10 })).toThrow(
      'hashedCrossHost: field 1 offsets[2] is 1, less than offsets[1] = 2; offsets must not decrease',
    );
    expect(() => sp.hashedCrossHost([{ ids: [1, 2, 9], offsets: [0, 1, 2] }, b], { buckets: 10 })).toThrow(
      'hashedCrossHost: field 0 offsets[2] is 2, but the field has 3 ids; the last offset must equal the number of ids',
    );
    expect(() => sp.hashedCrossHost([a, { ids: [3, 1.5], offsets: [0, 1, 2] }], { buckets: 10 })).toThrow(
      'hashedCrossHost: field 1 ids[1] is 1.5; ids must be integers (any sign and size: the hash takes their low 32 bits)',
    );
    expect(() => sp.hashedCrossHost([{ ids: ['fried chicken', 2] as unknown as number[], offsets: [0, 1, 2] }, b], { buckets: 10 })).toThrow(
      'hashedCrossHost: field 0 ids[0] is "fried chicken"; ids must be integers',
    );
  });

  test('hash helpers are exported', () => {
    expect(sp.crossBucket([4, 1], 0, 97)).toBe(crossBucket([4, 1], 0, 97));
    expect(sp.murmur3Words([4, 1], 0) % 97).toBe(crossBucket([4, 1], 0, 97));
    expect(sp.murmur3String('', 0)).toBe(0);
  });
});

describe('hashedCross on every backend', () => {
  // 300 bags span two 256-bag chunks of the offsets scan; 20,000 bags span 79.
  const cases: { label: string; bags: number; fields: [number, IdDType][] }[] = [
    { label: 'single-valued i32 pair', bags: 300, fields: [[1, 'i32'], [1, 'i32']] },
    { label: 'single-valued u32 pair', bags: 300, fields: [[1, 'u32'], [1, 'u32']] },
    { label: 'multi-valued mixed pair', bags: 300, fields: [[5, 'i32'], [4, 'u32']] },
    { label: 'multi-valued triple', bags: 97, fields: [[3, 'u32'], [1, 'i32'], [4, 'i32']] },
    { label: 'one bag', bags: 1, fields: [[6, 'i32'], [6, 'u32']] },
    { label: 'many bags', bags: 20000, fields: [[3, 'i32'], [2, 'u32']] },
  ];

  test('device offsets match the host reference bit for bit', async () => {
    for (const backend of await testBackends()) {
      for (const { label, bags, fields } of cases) {
        const host = fields.map(([maxLength, dtype], f) => randomField(bags, maxLength, dtype, 100 * f + bags));
        const options = { buckets: 1000003, seed: 1234567 };
        const expected = hostCross(host, options);
        expect(expected.ids.length, `${label}: the case has crossed ids`).toBeGreaterThan(0);

        const device = host.map((field) => toDevice(field, backend));
        const cross = await sp.hashedCross(device, options);
        expect(await readCross(cross), `${label} on ${backend}`).toEqual(expected);
      }
    }
  });

  test('host offsets path matches the host reference', async () => {
    for (const backend of await testBackends()) {
      for (const { label, bags, fields } of cases) {
        const host = fields.map(([maxLength, dtype], f) => randomField(bags, maxLength, dtype, 7 * f + bags));
        const options = { buckets: 4294967295, seed: 4294967295 };
        const device = host.map((field) => toDevice(field, backend));
        const cross = sp.hashedCrossSync(device, { ...options, hostOffsets: host.map((field) => field.offsets) });
        expect(await readCross(cross), `${label} on ${backend}`).toEqual(hostCross(host, options));
      }
    }
  });

  test('all bags empty give no ids', async () => {
    for (const backend of await testBackends()) {
      const a = toDevice({ ids: [], offsets: [0, 0, 0], dtype: 'i32' }, backend);
      const b = toDevice({ ids: [1, 2], offsets: [0, 1, 2], dtype: 'u32' }, backend);
      const cross = await sp.hashedCross([a, b], { buckets: 10 });
      expect(cross.ids.shape).toEqual([0]);
      expect(await readCross(cross)).toEqual({ ids: [], offsets: [0, 0, 0] });
    }
  });

  test('zero bags give offsets [0]', async () => {
    for (const backend of await testBackends()) {
      const empty = () => toDevice({ ids: [], offsets: [0], dtype: 'u32' }, backend);
      const cross = await sp.hashedCross([empty(), empty()], { buckets: 10 });
      expect(await readCross(cross)).toEqual({ ids: [], offsets: [0] });
    }
  });

  test('all pairs of four fields', async () => {
    expect(sp.allPairs(4)).toEqual([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
    expect(sp.allPairs(1)).toEqual([]);

    for (const backend of await testBackends()) {
      const host = [randomField(40, 3, 'i32', 1), randomField(40, 1, 'u32', 2), randomField(40, 2, 'u32', 3), randomField(40, 4, 'i32', 4)];
      const options = { buckets: 65536, seed: 77 };
      const device = host.map((field) => toDevice(field, backend));
      const viaDevice = await sp.hashedAllPairs(device, options);
      const viaHost = await sp.hashedAllPairs(device, { ...options, hostOffsets: host.map((field) => field.offsets) });
      expect(viaDevice.length).toBe(6);
      for (const [k, [i, j]] of sp.allPairs(4).entries()) {
        const expected = hostCross([host[i], host[j]], options);
        expect(await readCross(viaDevice[k]), `pair ${i},${j} on ${backend}`).toEqual(expected);
        expect(await readCross(viaHost[k]), `pair ${i},${j} on ${backend} with host offsets`).toEqual(expected);
      }
    }
  });

  test('bad offsets throw the same error on every backend', async () => {
    const good = { ids: [1, 2, 3], offsets: [0, 1, 3], dtype: 'i32' as const };
    const bad: [HostField, string][] = [
      [{ ids: [4, 5, 6], offsets: [2, 1, 3], dtype: 'u32' }, 'hashedCross: field 1 offsets[0] is 2; offsets must start at 0'],
      [{ ids: [4, 5, 6], offsets: [0, 3, 2], dtype: 'u32' }, 'hashedCross: field 1 offsets[2] is 2, less than offsets[1] = 3; offsets must not decrease'],
      [{ ids: [4, 5, 6, 7], offsets: [0, 1, 3], dtype: 'u32' }, 'hashedCross: field 1 offsets[2] is 3, but the field has 4 ids; the last offset must equal the number of ids'],
    ];
    for (const backend of await testBackends()) {
      for (const [field, message] of bad) {
        const device = [toDevice(good, backend), toDevice(field, backend)];
        await expect(sp.hashedCross(device, { buckets: 10 }), `${message} on ${backend}`).rejects.toThrow(message);
        const sync = () => sp.hashedCrossSync(device, { buckets: 10, hostOffsets: [good.offsets, field.offsets] });
        expect(sync).toThrow(message.replace('hashedCross:', 'hashedCrossSync:'));
      }
    }
  });

  test('bad fields and options throw', async () => {
    for (const backend of await testBackends()) {
      const a = toDevice({ ids: [1, 2], offsets: [0, 1, 2], dtype: 'i32' }, backend);
      const b = toDevice({ ids: [3, 4], offsets: [0, 1, 2], dtype: 'u32' }, backend);
      const threeBags = toDevice({ ids: [3, 4], offsets: [0, 1, 2, 2], dtype: 'u32' }, backend);

      await expect(sp.hashedCross([a, b], { buckets: 0 })).rejects.toThrow('hashedCross: buckets is 0; expected an integer from 1 to 2^32 - 1');
      await expect(sp.hashedCross([a, b], { buckets: 1.5 })).rejects.toThrow(RangeError);
      await expect(sp.hashedCross([a], { buckets: 10 })).rejects.toThrow('hashedCross: a cross needs at least 2 fields, got 1');
      await expect(sp.hashedCross([a, threeBags], { buckets: 10 })).rejects.toThrow(
        'crossOffsets: field 1 offsets [4] give 3 bags and field 0 offsets [3] give 2; every field needs the same batch size',
      );
      const floatIds = { ids: sp.tensor([1, 2], [2], { backend }), offsets: a.offsets };
      await expect(sp.hashedCross([floatIds, b], { buckets: 10 })).rejects.toThrow(sp.DTypeError);
      const signedOffsets = { ids: a.ids, offsets: sp.tensor(new Int32Array([0, 1, 2]), [3], { backend }) };
      await expect(sp.hashedCross([signedOffsets, b], { buckets: 10 })).rejects.toThrow(/crossOffsets: field 0 offsets i32\[3\] has dtype i32; expected u32/);

      expect(() => sp.hashedCrossSync([a, b], { buckets: 0, hostOffsets: [[0, 1, 2], [0, 1, 2]] })).toThrow('hashedCrossSync: buckets is 0');
      expect(() => sp.hashedCrossSync([a, b], { buckets: 10, hostOffsets: [[0, 1, 2]] })).toThrow('hashedCrossSync: 1 host offsets arrays for 2 fields');
      expect(() => sp.hashedCrossSync([a, b], { buckets: 10, hostOffsets: [[0, 1, 2], [0, 2]] })).toThrow(
        'hashedCrossSync: host offsets of field 1 have 2 entries, its offsets tensor 3; they must hold the same values',
      );
    }
  });

  test('crossed ids of bags past 2^32 total overflow', () => {
    // 65,536 x 65,536 combinations in one bag make 2^32 ids; the offsets scan saturates and rejects it.
    const big = { ids: { length: 65536 } as ArrayLike<number>, offsets: [0, 65536] };
    expect(() => sp.hashedCrossHost([big, big], { buckets: 10 })).toThrow('hashedCrossHost: the crossed bags would hold 2^32 - 1 or more ids');
  });

  test('more fields than the adapter has storage buffers for', async () => {
    // crossIds binds 2k + 2 storage buffers, so k = floor(limit / 2) fields are one too many
    // on WebGPU, while the CPU backend crosses them.
    for (const backend of await testBackends()) {
      const limit = backend === 'webgpu' ? sp.getWebGPUBackend()!.limits.maxStorageBuffersPerShaderStage : 16;
      const count = Math.floor(limit / 2);
      const host = Array.from({ length: count }, (_, f) => randomField(5, 2, f % 2 === 0 ? 'i32' : 'u32', f + 50));
      const device = host.map((field) => toDevice(field, backend));
      const options = { buckets: 1000, seed: 3 };
      if (backend === 'cpu') {
        expect(await readCross(await sp.hashedCross(device, options))).toEqual(hostCross(host, options));
      } else {
        await expect(sp.hashedCross(device, options)).rejects.toThrow(sp.UnsupportedError);
        await expect(sp.hashedCross(device, options)).rejects.toThrow(`crossIds: crossing ${count} fields needs ${2 * count + 2} storage buffers`);
      }
    }
  });
});
