// WGSL for table-batched embedding bags: pooled lookups over shards, and the keys and sums of their gradient.

import type { KernelPass, KernelProgram } from './pass.js';
import { segmentSumProgram, vectorChunk } from './segment.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms, type BindingDecl, type UniformField } from './wgsl.js';

export type Pooling = 'sum' | 'mean' | 'max';

/** Position marker of an empty max bag (no argmax). */
export const NO_POSITION = 0xffffffff;
const BAG_WORKGROUP = 64;
const KEY_WORKGROUP = 64;

export interface EmbeddingBagKernelOptions {
  pooling: Pooling;
  batchSize: number;
  fields: number;
  dim: number;
  shardCount: number;
  shardRows: number;
  hasWeights: boolean;
  /** Shards bound per pass; more shards take several passes. */
  shardsPerPass: number;
}

/**
 * Input order of the forward op, shared with its definition: shards 0..K-1, then ids,
 * offsets, field info and, when present, weights.
 */
export function forwardInputIndex(shardCount: number): { ids: number; offsets: number; fieldInfo: number; weights: number } {
  return { ids: shardCount, offsets: shardCount + 1, fieldInfo: shardCount + 2, weights: shardCount + 3 };
}

/**
 * WGSL that loads the field's first row, row count and padding id. Kernels skip an id
 * outside the field's rows or equal to its padding id, so no table read is out of bounds.
 * They compare the id with the field's row count before adding the first row, so the sum
 * never wraps.
 */
const FIELD_LOOKUP = `
  let row_start = field_info[field * 3u];
  let field_rows = field_info[field * 3u + 1u];
  let padding_id = field_info[field * 3u + 2u];`;

function forwardPass(options: EmbeddingBagKernelOptions, groupStart: number, groupEnd: number): KernelPass {
  const { pooling, hasWeights, shardCount } = options;
  const first = groupStart === 0;
  const last = groupEnd === shardCount;
  const index = forwardInputIndex(shardCount);
  const bound = groupEnd - groupStart;

  // With dim a multiple of 4, an invocation pools `chunk` groups of 4 adjacent columns with vec4
  // loads and stores, reading each id and its row's shard once for the whole chunk.
  const lanes = options.dim % 4 === 0 ? 4 : 1;
  const vec = lanes === 4;
  const chunk = vec ? vectorChunk(options.dim) : 1;
  const f32 = vec ? 'vec4<f32>' : 'f32';
  const u32 = vec ? 'vec4<u32>' : 'u32';
  const bindings: BindingDecl[] = [];
  for (let k = 0; k < bound; k++) bindings.push(input(groupStart + k, `shard${k}`, f32));
  bindings.push(input(index.ids, 'ids', 'u32'), input(index.offsets, 'offsets', 'u32'), input(index.fieldInfo, 'field_info', 'u32'));
  if (hasWeights) bindings.push(input(index.weights, 'weights', 'f32'));
  bindings.push(output(0, 'out', f32));
  if (pooling === 'max') bindings.push(output(1, 'argmax', u32));

  const uniforms: UniformField[] = [
    ['batch', 'u32', options.batchSize],
    ['fields', 'u32', options.fields],
    ['dim', 'u32', options.dim],
    ['shard_rows', 'u32', options.shardRows],
    ['group_start', 'u32', groupStart],
    ['group_end', 'u32', groupEnd],
  ];
  const cases = Array.from({ length: bound }, (_, k) => `    case ${k}u: { return shard${k}[element + k]; }`).join('\n');

  const zero = `${f32}(0.0)`;
  const none = `${u32}(${NO_POSITION}u)`;
  const slot = `(o / ${lanes}u + k)`;
  let init: string;
  let accumulate: string;
  let finish: string;
  if (pooling === 'max') {
    init = `var best = array<${f32}, CHUNK>();
  var best_position = array<${u32}, CHUNK>();
  for (var k = 0u; k < CHUNK; k++) {
    ${first ? `best[k] = ${zero};\n    best_position[k] = ${none};` : `best[k] = out[${slot}];\n    best_position[k] = argmax[${slot}];`}
  }`;
    // Positions increase within a pass; the tie rule keeps the first maximum across passes too.
    // Per column (component): take the value where the column has no maximum yet, or a larger one.
    // NaN is never taken; its bits are tested because WGSL lets compilers assume no NaN.
    accumulate = `let position = ${u32}(p);
      let is_number = (bitcast<${u32}>(value) & ${u32}(0x7fffffffu)) <= ${u32}(0x7f800000u);
      let take = is_number & ((best_position[k] == ${none}) | (value > best[k]) | ((value == best[k]) & (position < best_position[k])));
      best[k] = select(best[k], value, take);
      best_position[k] = select(best_position[k], position, take);`;
    finish = `for (var k = 0u; k < CHUNK; k++) {
    out[${slot}] = select(best[k], ${zero}, best_position[k] == ${none});
    argmax[${slot}] = best_position[k];
  }`;
  } else {
    init = `var total = array<${f32}, CHUNK>();${first ? '' : `\n  for (var k = 0u; k < CHUNK; k++) { total[k] = out[${slot}]; }`}`;
    accumulate = hasWeights ? 'total[k] = total[k] + weight * value;' : 'total[k] = total[k] + value;';
    const store = pooling === 'mean' && last ? `select(${zero}, total[k] / f32(count), count > 0u)` : 'total[k]';
    finish = `for (var k = 0u; k < CHUNK; k++) { out[${slot}] = ${store}; }`;
  }

  const wgsl = `${declareBindings(bindings, uniforms)}
const CHUNK: u32 = ${chunk}u;

// Group k of the chunk that starts at the given element of a bound shard.
fn load_row(shard: u32, element: u32, k: u32) -> ${f32} {
  switch shard {
${cases}
    default: { return ${zero}; }
  }
}

${computeEntry(BAG_WORKGROUP)} {
  let flat = ${flatWorkgroupIndex()} * ${BAG_WORKGROUP}u + lid;
  let chunks = u.dim / (${lanes}u * CHUNK);
  if (flat >= u.batch * u.fields * chunks) { return; }
  let bag = flat / chunks;
  let column = (flat % chunks) * ${lanes}u * CHUNK;
  let field = bag / u.batch;
  let example = bag % u.batch;
  let o = (example * u.fields + field) * u.dim + column;
${FIELD_LOOKUP}

  ${init}
  var count = 0u;
  let end = offsets[bag + 1u];
  for (var p = offsets[bag]; p < end; p++) {
    let id = ids[p];
    if (id >= field_rows || id == padding_id) { continue; }
    count = count + 1u;
    let row = row_start + id;
    let shard = row / u.shard_rows;
    if (shard < u.group_start || shard >= u.group_end) { continue; }
    let element = ((row - shard * u.shard_rows) * u.dim + column) / ${lanes}u;
${hasWeights && pooling !== 'max' ? '    let weight = weights[p];\n' : ''}    for (var k = 0u; k < CHUNK; k++) {
      let value = load_row(shard - u.group_start, element, k);
      ${accumulate}
    }
  }
  ${finish}
}
`;
  return {
    label: `embeddingBags ${pooling} forward shards ${groupStart}..${groupEnd - 1} [${options.batchSize},${options.fields},${options.dim}]`,
    wgsl,
    buffers: bindings.map((binding) => binding.ref),
    uniforms: packUniforms(uniforms),
    dispatch: grid1d(Math.ceil((options.batchSize * options.fields * (options.dim / lanes / chunk)) / BAG_WORKGROUP)),
  };
}

/**
 * Generates the forward: one invocation per (bag, column) walks the bag's ids in order. When
 * the dimension is a multiple of 4, one invocation takes a bag and a chunk of up to 16 vec4
 * column groups instead (see `vectorChunk`).
 * With more shards than one pass can bind, pass g adds the ids whose rows lie in its
 * shards to what the previous passes wrote.
 */
export function embeddingBagForwardProgram(options: EmbeddingBagKernelOptions): KernelProgram {
  if (options.batchSize * options.fields * options.dim === 0) return { passes: [] };
  const passes: KernelPass[] = [];
  for (let start = 0; start < options.shardCount; start += options.shardsPerPass) {
    passes.push(forwardPass(options, start, Math.min(options.shardCount, start + options.shardsPerPass)));
  }
  return { passes };
}

export interface EmbeddingKeysKernelOptions {
  pooling: Pooling;
  batchSize: number;
  fields: number;
  count: number;
  totalRows: number;
  hasWeights: boolean;
}

/**
 * Generates the gradient's key pass: one invocation per bag writes, for each of its ids,
 * the combined row (or `totalRows` for a skipped id, which the segmented sum drops), the
 * bag index, and the id's scale (its weight for `sum`, 1 / count for `mean`, 1 for `max`).
 * Inputs: ids, offsets, field info, weights. Outputs: keys, bags, scales.
 */
export function embeddingKeysProgram(options: EmbeddingKeysKernelOptions): KernelProgram {
  const bags = options.batchSize * options.fields;
  if (options.count === 0 || bags === 0) return { passes: [] };
  const bindings: BindingDecl[] = [input(0, 'ids', 'u32'), input(1, 'offsets', 'u32'), input(2, 'field_info', 'u32')];
  if (options.hasWeights) bindings.push(input(3, 'weights', 'f32'));
  bindings.push(output(0, 'keys', 'u32'), output(1, 'bag_of', 'u32'), output(2, 'scale', 'f32'));
  const uniforms: UniformField[] = [
    ['batch', 'u32', options.batchSize],
    ['bags', 'u32', bags],
    ['total_rows', 'u32', options.totalRows],
  ];
  let scale = '1.0';
  if (options.pooling === 'mean') scale = '1.0 / f32(max(count, 1u))';
  if (options.pooling === 'sum' && options.hasWeights) scale = 'weights[p]';

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(KEY_WORKGROUP)} {
  let bag = ${flatWorkgroupIndex()} * ${KEY_WORKGROUP}u + lid;
  if (bag >= u.bags) { return; }
  let field = bag / u.batch;
${FIELD_LOOKUP}
  let start = offsets[bag];
  let end = offsets[bag + 1u];

  var count = 0u;
  for (var p = start; p < end; p++) {
    let id = ids[p];
    if (id < field_rows && id != padding_id) { count = count + 1u; }
  }
  for (var p = start; p < end; p++) {
    let id = ids[p];
    let counted = id < field_rows && id != padding_id;
    keys[p] = select(u.total_rows, row_start + id, counted);
    bag_of[p] = bag;
    scale[p] = ${scale};
  }
}
`;
  return {
    passes: [
      {
        label: `embeddingBags ${options.pooling} gradient keys [${options.count}]`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: grid1d(Math.ceil(bags / KEY_WORKGROUP)),
      },
    ],
  };
}

export interface EmbeddingGradKernelOptions {
  pooling: Pooling;
  batchSize: number;
  fields: number;
  dim: number;
  count: number;
  totalRows: number;
  /** Rows per shard: shard k's gradient goes to outputs 2k (rows) and 2k + 1 (values). */
  shardRows: number;
  /** Entries of each shard's gradient. */
  capacities: number[];
  /** Whether the ids carry weights; `sum` pooling without them scales every id by 1 and skips the scale loads. */
  hasWeights: boolean;
}

/** Tells whether every id's scale is 1 (`sum` pooling without weights), so the kernels need not read it. */
function hasUnitScale(options: { pooling: Pooling; hasWeights: boolean }): boolean {
  return options.pooling === 'sum' && !options.hasWeights;
}

/**
 * Generates the gradient's segmented sum, one output pair per shard: sorted keys and
 * positions (inputs 0, 1), bag and scale per id (inputs 2, 3), the output gradient
 * [B, F, D] (input 4) and, for `max`, the argmax (input 5). The value of id p in column c
 * is scale[p] * grad[bag(p), c], or for `max` the gradient where p is the column's argmax
 * and 0 elsewhere.
 *
 * NOTE: a shard's sum pass binds 9 storage buffers (10 for `max`), more than the 8 that
 * WebGPU guarantees. An adapter that grants fewer fails with a KernelError.
 */
export function embeddingGradProgram(options: EmbeddingGradKernelOptions): KernelProgram {
  const unitScale = hasUnitScale(options);
  const bindingsOf = (width: 1 | 4): BindingDecl[] => {
    const vector = width === 4;
    const bindings = [input(2, 'bag_of', 'u32')];
    if (!unitScale) bindings.push(input(3, 'scale', 'f32'));
    bindings.push(input(4, 'grad', vector ? 'vec4<f32>' : 'f32'));
    if (options.pooling === 'max') bindings.push(input(5, 'argmax', vector ? 'vec4<u32>' : 'u32'));
    return bindings;
  };
  return segmentSumProgram({
    label: `embeddingBags ${options.pooling} gradient`,
    count: options.count,
    rowSize: options.dim,
    keyLimit: options.totalRows,
    partRows: options.shardRows,
    capacities: options.capacities,
    extraBindings: bindingsOf(1),
    extraUniforms: [
      ['batch', 'u32', options.batchSize],
      ['fields', 'u32', options.fields],
    ],
    valueFunction: embeddingValueFunction(options.pooling, unitScale),
    vector: { extraBindings: bindingsOf(4), valueFunction: embeddingValueFunction4(options.pooling, unitScale) },
  });
}

/**
 * Generates the vec4 form of `embeddingValueFunction`: `segment_add4` adds the gradient of
 * id `position` to SEGMENT_CHUNK vec4 groups of columns from `column` (a multiple of 4),
 * reading the id's bag and scale once.
 */
function embeddingValueFunction4(pooling: Pooling, unitScale: boolean): string {
  const value = unitScale ? 'grad[base + k]' : 'scale_value * grad[base + k]';
  const masked = pooling === 'max' ? `select(vec4<f32>(0.0), ${value}, argmax[base + k] == vec4<u32>(position))` : value;
  return `fn segment_add4(position: u32, column: u32, total: ptr<function, array<vec4<f32>, SEGMENT_CHUNK>>) {
  let bag = bag_of[position];
  let base = (((bag % u.batch) * u.fields + bag / u.batch) * u.row_size + column) / 4u;
${unitScale ? '' : '  let scale_value = scale[position];\n'}  for (var k = 0u; k < SEGMENT_CHUNK; k++) {
    (*total)[k] = (*total)[k] + ${masked};
  }
}`;
}

/**
 * WGSL `fn segment_value(position, column) -> f32`: the gradient that id `position` adds to
 * `column` of its row. It reads `bag_of`, `scale` (unless every scale is 1), `grad`, for
 * `max` also `argmax`, and the uniforms `batch`, `fields` and `row_size` (the dimension).
 */
export function embeddingValueFunction(pooling: Pooling, unitScale: boolean): string {
  const mask = pooling === 'max' ? `  if (argmax[o] != position) { return 0.0; }\n` : '';
  return `fn segment_value(position: u32, column: u32) -> f32 {
  let bag = bag_of[position];
  let o = ((bag % u.batch) * u.fields + bag / u.batch) * u.row_size + column;
${mask}  return ${unitScale ? 'grad[o]' : 'scale[position] * grad[o]'};
}`;
}
