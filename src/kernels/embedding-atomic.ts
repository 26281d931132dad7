// WGSL for the atomic (non-deterministic) embedding-bag gradient: a hash table of rows and float atomics.

import { embeddingValueFunction, type EmbeddingGradKernelOptions, type Pooling } from './embedding-bag.js';
import type { BufferRef, KernelPass, KernelProgram } from './pass.js';
import { computeEntry, flatWorkgroupIndex, grid1d, packUniforms, type UniformField } from './wgsl.js';

const WORKGROUP = 256;
const EMPTY = 0xffffffff;

/** The atomic path takes the same options as the sorted gradient program. */
export type EmbeddingAtomicKernelOptions = EmbeddingGradKernelOptions;

/** Slots of the open-addressing hash table: a power of two of at least twice the ids. */
export function hashSlots(count: number): number {
  return 2 ** Math.max(1, Math.ceil(Math.log2(Math.max(2, 2 * count))));
}

interface Binding {
  name: string;
  type: string;
  ref: BufferRef;
}

const KEYS: Binding = { name: 'keys', type: 'array<u32>', ref: { kind: 'input', index: 0, access: 'read' } };
const BAG_OF: Binding = { name: 'bag_of', type: 'array<u32>', ref: { kind: 'input', index: 1, access: 'read' } };
const SCALE: Binding = { name: 'scale', type: 'array<f32>', ref: { kind: 'input', index: 2, access: 'read' } };
const GRAD: Binding = { name: 'grad', type: 'array<f32>', ref: { kind: 'input', index: 3, access: 'read' } };
const ARGMAX: Binding = { name: 'argmax', type: 'array<u32>', ref: { kind: 'input', index: 4, access: 'read' } };
const SLOT_KEYS: Binding = { name: 'slot_keys', type: 'array<atomic<u32>>', ref: { kind: 'temp', index: 0, access: 'read_write' } };
const SLOT_OF: Binding = { name: 'slot_of', type: 'array<u32>', ref: { kind: 'temp', index: 1, access: 'read_write' } };
const SLOT_INDEX: Binding = { name: 'slot_index', type: 'array<u32>', ref: { kind: 'temp', index: 2, access: 'read_write' } };
const COUNTERS: Binding = { name: 'counters', type: 'array<atomic<u32>>', ref: { kind: 'temp', index: 3, access: 'read_write' } };

function partRows(k: number): Binding {
  return { name: 'rows', type: 'array<u32>', ref: { kind: 'output', index: 2 * k, access: 'read_write' } };
}

/** Returns the binding of a shard's sums: f32, or u32 bits for the compare-exchange loop because WGSL atomics are integer only. */
function partValues(k: number, atomic: boolean): Binding {
  return { name: 'values', type: atomic ? 'array<atomic<u32>>' : 'array<f32>', ref: { kind: 'output', index: 2 * k + 1, access: 'read_write' } };
}

function declare(bindings: Binding[], uniforms: UniformField[]): string {
  const lines = bindings.map((binding, i) => {
    const access = binding.ref.access === 'read' ? 'read' : 'read_write';
    return `@group(0) @binding(${i}) var<storage, ${access}> ${binding.name}: ${binding.type};`;
  });
  lines.push(`struct U {\n${uniforms.map(([name, type]) => `  ${name}: ${type},`).join('\n')}\n};`);
  lines.push(`@group(0) @binding(${bindings.length}) var<uniform> u: U;`);
  return lines.join('\n');
}

/**
 * Generates the atomic gradient: clear a hash table of `hashSlots(count)` slots; insert
 * each kept id's row by compare-exchange with linear probing; number each used slot
 * within its shard by an atomic counter; then per shard, clear the outputs, write each
 * used slot's row at its number, and add each id's value into its row's entry with a
 * compare-exchange loop on the float's bits. Inputs: keys, bag_of, scale, grad and for
 * `max` argmax. The numbering and the order of the float additions depend on thread
 * timing, so results are not deterministic and rows are not sorted.
 *
 * NOTE: each shard's passes visit every id and every slot, so with K shards the work is
 * K times that of one shard; the sorted path does not have this cost.
 */
export function embeddingAtomicProgram(options: EmbeddingAtomicKernelOptions): KernelProgram {
  const { count, dim, pooling, capacities } = options;
  const parts = capacities.length;
  const slots = hashSlots(count);
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['row_size', 'u32', dim],
    ['slots', 'u32', slots],
    ['slot_bits', 'u32', Math.log2(slots)],
    ['total_rows', 'u32', options.totalRows],
    ['batch', 'u32', options.batchSize],
    ['fields', 'u32', options.fields],
    ['shard_rows', 'u32', options.shardRows],
    ['parts', 'u32', parts],
    ['part', 'u32', 0],
    ['capacity', 'u32', 0],
  ];
  const make = (stage: string, bindings: Binding[], body: string, invocations: number, part = 0, helpers = ''): KernelPass => {
    const values = uniforms.map(([name, type, value]): UniformField => {
      if (name === 'part') return [name, type, part];
      if (name === 'capacity') return [name, type, capacities[part] ?? 0];
      return [name, type, value];
    });
    return {
      label: `embeddingBags ${pooling} atomic gradient ${stage} [${count},${dim}]`,
      wgsl: `${declare(bindings, uniforms)}
${helpers}
fn part_of(key: u32) -> u32 { return min(key / u.shard_rows, u.parts - 1u); }
${computeEntry(WORKGROUP)} {
  let i = ${flatWorkgroupIndex()} * ${WORKGROUP}u + lid;
${body}
}
`,
      buffers: bindings.map((binding) => binding.ref),
      uniforms: packUniforms(values),
      dispatch: invocations === 0 ? [0, 1, 1] : grid1d(Math.ceil(invocations / WORKGROUP)),
    };
  };

  const clear = make(
    'clear',
    [SLOT_KEYS, COUNTERS],
    `  if (i >= u.slots) { return; }
  atomicStore(&slot_keys[i], ${EMPTY}u);
  if (i < u.parts) { atomicStore(&counters[i], 0u); }`,
    count === 0 ? 0 : slots,
  );

  // Multiplicative hashing by 2^32 / golden ratio; the top slot_bits bits pick the slot.
  const insert = make(
    'insert',
    [KEYS, SLOT_KEYS, SLOT_OF],
    `  if (i >= u.count) { return; }
  let key = keys[i];
  if (key >= u.total_rows) { return; }
  var slot = (key * 2654435761u) >> (32u - u.slot_bits);
  loop {
    let result = atomicCompareExchangeWeak(&slot_keys[slot], ${EMPTY}u, key);
    if (result.exchanged || result.old_value == key) { break; }
    // A weak exchange may fail spuriously on an empty slot; then the same slot is tried again.
    if (result.old_value != ${EMPTY}u) { slot = (slot + 1u) & (u.slots - 1u); }
  }
  slot_of[i] = slot;`,
    count,
  );

  const number = make(
    'number',
    [SLOT_KEYS, SLOT_INDEX, COUNTERS],
    `  if (i >= u.slots) { return; }
  let key = atomicLoad(&slot_keys[i]);
  if (key == ${EMPTY}u) { return; }
  slot_index[i] = atomicAdd(&counters[part_of(key)], 1u);`,
    count === 0 ? 0 : slots,
  );

  const passes: KernelPass[] = [clear, insert, number];
  capacities.forEach((capacity, k) => {
    passes.push(
      make(
        `init part ${k}`,
        [COUNTERS, partRows(k), partValues(k, false)],
        `  if (i >= u.capacity * u.row_size) { return; }
  values[i] = 0.0;
  let entry = i / u.row_size;
  if (i % u.row_size == 0u && (u.count == 0u || entry >= atomicLoad(&counters[u.part]))) { rows[entry] = ${EMPTY}u; }`,
        capacity * dim,
        k,
      ),
    );
    if (count === 0) return;
    passes.push(
      make(
        `rows part ${k}`,
        [SLOT_KEYS, SLOT_INDEX, partRows(k)],
        `  if (i >= u.slots) { return; }
  let key = atomicLoad(&slot_keys[i]);
  if (key == ${EMPTY}u || part_of(key) != u.part || slot_index[i] >= u.capacity) { return; }
  rows[slot_index[i]] = key;`,
        slots,
        k,
      ),
    );
    const valueBindings = [KEYS, BAG_OF, SCALE, GRAD, ...(pooling === 'max' ? [ARGMAX] : []), SLOT_OF, SLOT_INDEX, partValues(k, true)];
    passes.push(
      make(
        `add part ${k}`,
        valueBindings,
        `  if (i >= u.count * u.row_size) { return; }
  let position = i / u.row_size;
  let column = i % u.row_size;
  let key = keys[position];
  if (key >= u.total_rows || part_of(key) != u.part) { return; }
  let entry = slot_index[slot_of[position]];
  if (entry >= u.capacity) { return; }
  let value = segment_value(position, column);
  if (value == 0.0) { return; }
  let cell = entry * u.row_size + column;
  var old = atomicLoad(&values[cell]);
  loop {
    let result = atomicCompareExchangeWeak(&values[cell], old, bitcast<u32>(bitcast<f32>(old) + value));
    if (result.exchanged) { break; }
    old = result.old_value;
  }`,
        count * dim,
        k,
        embeddingValueFunction(pooling, false),
      ),
    );
  });

  return {
    temps: [
      { dtype: 'u32', size: slots },
      { dtype: 'u32', size: Math.max(1, count) },
      { dtype: 'u32', size: slots },
      { dtype: 'u32', size: Math.max(1, parts) },
    ],
    passes,
  };
}
