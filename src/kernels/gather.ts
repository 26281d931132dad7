// WGSL for id-indexed ops: gather of table rows, deterministic dense scatter-add, one-hot.

import type { DType } from '../tensor/dtype.js';
import type { KernelProgram } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms, type UniformField } from './wgsl.js';

const GATHER_WORKGROUP = 256;
/** Columns per scatter-add workgroup, and ids staged in workgroup memory per step. */
const SCATTER_TILE = 64;

export interface IdKernelOptions {
  /** Number of ids (positions in the ids tensor). */
  count: number;
  /** Elements per row: the product of the row shape. */
  rowSize: number;
  /** Rows of the table (gather), of the output (scatter-add) or classes (one-hot). */
  rows: number;
  idsDType: DType;
}

/**
 * Generates the WGSL that reads id `position` as a u32. An i32 id is reinterpreted bit for
 * bit, so a negative id becomes at least 2^31. That is more than `rows` for every table that
 * fits a storage binding, so one unsigned comparison against `rows` rejects both ends.
 */
function loadId(position: string): string {
  return `bitcast<u32>(ids[${position}])`;
}

/**
 * Generates the gather kernel, one invocation per output element: out[p, c] = table[ids[p], c],
 * or 0 for an out-of-range id.
 */
export function gatherProgram({ count, rowSize, rows, idsDType }: IdKernelOptions): KernelProgram {
  const size = count * rowSize;
  const bindings = [input(0, 'table', 'f32'), input(1, 'ids', idsDType), output(0, 'out', 'f32')];
  const uniforms: UniformField[] = [
    ['size', 'u32', size],
    ['rows', 'u32', rows],
    ['row_size', 'u32', rowSize],
  ];

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(GATHER_WORKGROUP)} {
  let i = ${flatWorkgroupIndex()} * ${GATHER_WORKGROUP}u + lid;
  if (i >= u.size) { return; }
  let position = i / u.row_size;
  let column = i % u.row_size;
  let id = ${loadId('position')};
  // NOTE: a shader cannot throw, so an out-of-range id gives a zero row here, where the CPU
  // reference raises a RangeError. The guard keeps the table read in bounds.
  if (id >= u.rows) {
    out[i] = 0.0;
    return;
  }
  out[i] = table[id * u.row_size + column];
}
`;
  return {
    passes: [
      {
        label: `gather table [${rows},${rowSize}] ids ${idsDType}[${count}]`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: size === 0 ? [0, 1, 1] : grid1d(Math.ceil(size / GATHER_WORKGROUP)),
      },
    ],
  };
}

/**
 * Generates the dense scatter-add kernel: out[v, c] = sum of values[p, c] over the positions
 * p with ids[p] == v, added in increasing p (the CPU reference's order) and without float
 * atomics, so results are deterministic.
 *
 * Thread mapping: one workgroup per (output row v, block of 64 columns), one invocation per
 * column. The workgroup walks all ids in tiles of 64 staged in workgroup memory. After each
 * tile, every invocation adds the values of the matching positions in its column. Every workgroup
 * reads every id, so the cost is about rows x ceil(rowSize / 64) x count id reads plus
 * count x rowSize value reads: a dense reference for modest sizes, not the sparse
 * sort-and-segment path that embedding gradients need.
 */
export function scatterAddProgram({ count, rowSize, rows, idsDType }: IdKernelOptions): KernelProgram {
  const chunks = Math.ceil(rowSize / SCATTER_TILE);
  const groups = rows * chunks;
  const bindings = [input(0, 'ids', idsDType), input(1, 'values', 'f32'), output(0, 'out', 'f32')];
  const uniforms: UniformField[] = [
    ['count', 'u32', count],
    ['rows', 'u32', rows],
    ['row_size', 'u32', rowSize],
    ['chunks', 'u32', chunks],
  ];

  // The early return depends on the workgroup only, and the tile loop bound is a uniform,
  // so every invocation of a workgroup reaches the same barriers.
  const wgsl = `${declareBindings(bindings, uniforms)}
var<workgroup> tile_ids: array<u32, ${SCATTER_TILE}>;
${computeEntry(SCATTER_TILE)} {
  let group = ${flatWorkgroupIndex()};
  if (group >= u.rows * u.chunks) { return; }
  let row = group / u.chunks;
  let column = (group % u.chunks) * ${SCATTER_TILE}u + lid;

  var total = 0.0;
  for (var start = 0u; start < u.count; start += ${SCATTER_TILE}u) {
    // Out-of-range ids, negative i32 ids included, never equal a row below u.rows, so they
    // add nothing. NOTE: the CPU reference raises a RangeError for them instead.
    var id = 0xffffffffu;
    if (start + lid < u.count) { id = ${loadId('start + lid')}; }
    tile_ids[lid] = id;
    workgroupBarrier();

    let tile_count = min(${SCATTER_TILE}u, u.count - start);
    if (column < u.row_size) {
      for (var k = 0u; k < tile_count; k++) {
        if (tile_ids[k] == row) { total += values[(start + k) * u.row_size + column]; }
      }
    }
    workgroupBarrier();
  }

  if (column < u.row_size) { out[row * u.row_size + column] = total; }
}
`;
  return {
    passes: [
      {
        label: `scatterAdd ids ${idsDType}[${count}] into [${rows},${rowSize}]`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: groups === 0 ? [0, 1, 1] : grid1d(groups),
      },
    ],
  };
}

/** Generates the one-hot kernel, one invocation per output element: out[p, c] = 1 where ids[p] == c, else 0. */
export function oneHotProgram({ count, rows: depth, idsDType }: Omit<IdKernelOptions, 'rowSize'>): KernelProgram {
  const size = count * depth;
  const bindings = [input(0, 'ids', idsDType), output(0, 'out', 'f32')];
  const uniforms: UniformField[] = [
    ['size', 'u32', size],
    ['depth', 'u32', depth],
  ];

  const wgsl = `${declareBindings(bindings, uniforms)}
${computeEntry(GATHER_WORKGROUP)} {
  let i = ${flatWorkgroupIndex()} * ${GATHER_WORKGROUP}u + lid;
  if (i >= u.size) { return; }
  let position = i / u.depth;
  let column = i % u.depth;
  // NOTE: a shader cannot throw. An out-of-range id equals no column below u.depth, so its
  // row is all zeros here, where the CPU reference raises a RangeError.
  out[i] = select(0.0, 1.0, ${loadId('position')} == column);
}
`;
  return {
    passes: [
      {
        label: `oneHot ids ${idsDType}[${count}] depth ${depth}`,
        wgsl,
        buffers: bindings.map((binding) => binding.ref),
        uniforms: packUniforms(uniforms),
        dispatch: size === 0 ? [0, 1, 1] : grid1d(Math.ceil(size / GATHER_WORKGROUP)),
      },
    ],
  };
}
