// Batched matrix multiply C = act(op(A) op(B) + bias) as register-tiled WGSL kernels.

import type { KernelProgram } from './pass.js';
import { computeEntry, declareBindings, flatWorkgroupIndex, grid1d, input, output, packUniforms } from './wgsl.js';
import type { BindingDecl, UniformField } from './wgsl.js';

export type MatmulActivation = 'none' | 'relu' | 'sigmoid' | 'tanh' | 'leakyRelu';

export interface MatmulParams {
  /** Output batch count (>= 1). */
  batch: number;
  /** 1 (A is broadcast over the batch) or `batch`. */
  batchA: number;
  /** 1 (B is broadcast over the batch) or `batch`. */
  batchB: number;
  m: number;
  n: number;
  k: number;
  /** A is stored as [batchA, k, m] instead of [batchA, m, k]. */
  transposeA: boolean;
  /** B is stored as [batchB, n, k] instead of [batchB, k, n]. */
  transposeB: boolean;
  /** Input 2 is a bias vector of length n added to every output row. */
  bias: boolean;
  activation: MatmulActivation;
  /** Slope for negative inputs of `leakyRelu`, 0.2 when absent. */
  leakyAlpha?: number;
}

export interface MatmulLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
}

/**
 * Split of the output over workgroups and invocations. One invocation computes a block of
 * `rowsPerThread` x `colsPerThread` outputs, so one workgroup computes
 * (`workgroupY` * `rowsPerThread`) x (`workgroupX` * `colsPerThread`) outputs.
 */
export interface MatmulTiling {
  /** Output rows per invocation. */
  rowsPerThread: number;
  /** Output columns per invocation, a multiple of 4 because they are held as vec4 accumulators. */
  colsPerThread: number;
  /** Invocations along n. */
  workgroupX: number;
  /** Invocations along m. */
  workgroupY: number;
  /**
   * Depth along k of the A and B tiles staged in workgroup memory, a multiple of 4, or 0 to read
   * A and B straight from storage buffers.
   */
  sharedK: number;
}

const DEFAULT_LEAKY_ALPHA = 0.2;

/** Invocations per workgroup of every tiling that `chooseMatmulTiling` returns. */
const WORKGROUP_INVOCATIONS = 64;

/**
 * Cost of loading one element from a storage buffer relative to one multiply-add, a rough fit to
 * the llvmpipe measurements in the doc comment of `generateKernel`.
 */
const LOAD_COST = 4;

/**
 * Workgroups below which a dispatch is assumed not to fill the adapter, so that smaller tiles
 * with more workgroups win. NOTE: an estimate. llvmpipe on 2 threads needs only 2, while a
 * discrete GPU needs hundreds, which this kernel family does not try to reach.
 */
const MIN_PARALLEL_WORKGROUPS = 8;

/**
 * Chooses the tiling for `p` on an adapter with `limits`: 64 invocations, split between rows and
 * columns, with the register block (rows up to 16, columns 4 or 8) that minimizes the estimated
 * time. The estimate counts the multiply-adds of the padded output, weights each by the loads it
 * needs (fewer for bigger blocks), and divides by the workgroups that can run at once.
 */
export function chooseMatmulTiling(p: MatmulParams, limits: MatmulLimits): MatmulTiling {
  let best: MatmulTiling | undefined;
  let bestCost = Infinity;

  // On ties the first candidate wins, so the square workgroup comes first: with 8 invocations along
  // n, the 8 SIMD lanes that llvmpipe runs together read the same rows of A.
  for (const workgroupX of [8, 16, 4, 32, 2, 64, 1]) {
    const workgroupY = WORKGROUP_INVOCATIONS / workgroupX;
    for (const rowsPerThread of [16, 8, 4, 2, 1]) {
      for (const colsPerThread of [8, 4]) {
        const tileRows = workgroupY * rowsPerThread;
        const tileCols = workgroupX * colsPerThread;
        const tiles = Math.ceil(p.m / tileRows) * Math.ceil(p.n / tileCols) * p.batch;
        const paddedWork = tiles * tileRows * tileCols;
        const loadsPerMultiplyAdd = (rowsPerThread + colsPerThread) / (rowsPerThread * colsPerThread);
        const cost = (paddedWork * (1 + LOAD_COST * loadsPerMultiplyAdd)) / Math.min(tiles, MIN_PARALLEL_WORKGROUPS);
        if (cost < bestCost * (1 - 1e-9)) {
          bestCost = cost;
          best = { rowsPerThread, colsPerThread, workgroupX, workgroupY, sharedK: 0 };
        }
      }
    }
  }
  return fitTilingToLimits(best!, limits);
}

/** Halves the workgroup until it fits the adapter's limits. Every WebGPU adapter allows 64 invocations. */
function fitTilingToLimits(tiling: MatmulTiling, limits: MatmulLimits): MatmulTiling {
  const fitted = { ...tiling };
  while (fitted.workgroupX * fitted.workgroupY > maxInvocations(limits)) {
    if (fitted.workgroupY >= fitted.workgroupX) fitted.workgroupY /= 2;
    else fitted.workgroupX /= 2;
  }
  return fitted;
}

/** Returns the max invocations per workgroup. Both limits apply because the kernels declare a 1-D workgroup. */
function maxInvocations(limits: MatmulLimits): number {
  return Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
}

/**
 * Builds the single-pass program for C[b] = act(op(A[b]) op(B[b]) + bias), where op transposes
 * when `transposeA` or `transposeB` is set, and an operand with batch count 1 is used for every b.
 *
 * Bindings: A, B, the bias (only when `p.bias`), C as f32 [batch, m, n] row-major, then the uniform
 * block. Sizes and batch strides are uniforms, while the tiling, the transposes, the bias, the
 * activation and whether m, n and k are multiples of 4 are part of the WGSL source, and so of the
 * pipeline cache key. Each output is summed by one invocation in increasing k, so results are
 * deterministic. A product with one output column (n = 1, a matrix-vector product) runs the
 * kernel of `matvecProgram` unless `tiling` is given. `tiling` overrides `chooseMatmulTiling`, so
 * that tests and benchmarks can run every variant.
 */
export function matmulProgram(p: MatmulParams, limits: MatmulLimits, tiling?: MatmulTiling): KernelProgram {
  validateParams(p);
  if (tiling === undefined && p.n === 1) return matvecProgram(p);
  tiling ??= chooseMatmulTiling(p, limits);
  validateTiling(tiling, limits);

  const layout = chooseLayout(p, tiling);
  const tileRows = tiling.workgroupY * tiling.rowsPerThread;
  const tileCols = tiling.workgroupX * tiling.colsPerThread;
  const tilesX = Math.ceil(p.n / tileCols);
  const tilesY = Math.ceil(p.m / tileRows);
  const tiles = tilesX * tilesY * p.batch;

  const uniforms: UniformField[] = [
    ['M', 'u32', p.m],
    ['N', 'u32', p.n],
    ['K', 'u32', p.k],
    ['strideA', 'u32', p.batchA === 1 ? 0 : p.m * p.k],
    ['strideB', 'u32', p.batchB === 1 ? 0 : p.k * p.n],
    ['tilesX', 'u32', tilesX],
    ['tilesY', 'u32', tilesY],
    ['tiles', 'u32', tiles],
  ];
  if (p.activation === 'leakyRelu') uniforms.push(['alpha', 'f32', p.leakyAlpha ?? DEFAULT_LEAKY_ALPHA]);

  const bindings: BindingDecl[] = [
    input(0, 'A', layout.aVec ? 'vec4<f32>' : 'f32'),
    input(1, 'B', layout.bVec ? 'vec4<f32>' : 'f32'),
  ];
  if (p.bias) bindings.push(input(2, 'bias', 'f32'));
  bindings.push(output(0, 'C', layout.cVec ? 'vec4<f32>' : 'f32'));

  const wgsl = [
    declareBindings(bindings, uniforms),
    tiling.sharedK > 0 ? generateSharedKernel(p, tiling, layout) : generateKernel(p, tiling, layout),
  ].join('\n\n');

  const label = `matmul ${p.batch}x${p.m}x${p.k}x${p.n}`
    + `${p.transposeA ? ' transposeA' : ''}${p.transposeB ? ' transposeB' : ''}`
    + `${p.bias ? ' bias' : ''}${p.activation === 'none' ? '' : ` ${p.activation}`}`;
  return {
    passes: [{
      label,
      wgsl,
      buffers: bindings.map((binding) => binding.ref),
      uniforms: packUniforms(uniforms),
      dispatch: grid1d(tiles),
    }],
  };
}

/** Output rows per invocation of the matrix-vector kernel. */
const MATVEC_ROWS = 4;

/**
 * Builds the program for n = 1: C[b] = act(op(A[b]) v[b] + bias), where v is B's single column
 * (B stored as [k, 1] or, transposed, as [1, k]: the same memory). The register-tiled kernel
 * pads n to a vec4 block of columns and runs a handful of workgroups, each walking all of k.
 * On llvmpipe that took 0.4 to 0.8 ms for the last layer of the Adult model (256 x 128), mostly
 * in loads of padding. Here each invocation owns MATVEC_ROWS consecutive rows: every load of v is
 * the same address across a workgroup's invocations (when the rows share a batch entry), and
 * rows of A are read as vec4 along k (A stored [m, k], k % 4 == 0) or as vec4 across the rows
 * (A stored [k, m], m % 4 == 0), with scalar loads otherwise. Each output is one invocation's
 * sum in increasing k, so results are deterministic.
 */
function matvecProgram(p: MatmulParams): KernelProgram {
  const rowGroups = Math.ceil(p.m / MATVEC_ROWS);
  const invocations = p.batch * rowGroups;
  const uniforms: UniformField[] = [
    ['M', 'u32', p.m],
    ['K', 'u32', p.k],
    ['strideA', 'u32', p.batchA === 1 ? 0 : p.m * p.k],
    ['strideB', 'u32', p.batchB === 1 ? 0 : p.k],
    ['rowGroups', 'u32', rowGroups],
    ['invocations', 'u32', invocations],
  ];
  if (p.activation === 'leakyRelu') uniforms.push(['alpha', 'f32', p.leakyAlpha ?? DEFAULT_LEAKY_ALPHA]);

  // vec4 loads need every offset to be a multiple of 4; the batch strides are m * k and k.
  const alongK = !p.transposeA && p.k % 4 === 0;
  const acrossRows = p.transposeA && p.m % 4 === 0;
  const bindings: BindingDecl[] = [
    input(0, 'A', alongK || acrossRows ? 'vec4<f32>' : 'f32'),
    input(1, 'B', alongK ? 'vec4<f32>' : 'f32'),
  ];
  if (p.bias) bindings.push(input(2, 'bias', 'f32'));
  bindings.push(output(0, 'C', 'f32'));

  const rows = Array.from({ length: MATVEC_ROWS }, (_, r) => r);
  let body: string;
  if (alongK) {
    body = [
      ...rows.map((r) => `  let a${r} = (aOff + min(row0 + ${r}u, u.M - 1u) * u.K) / 4u;`),
      '  for (var k4 = 0u; k4 < u.K / 4u; k4++) {',
      '    let v = B[bOff / 4u + k4];',
      ...rows.map((r) => `    acc[${r}] = acc[${r}] + dot(A[a${r} + k4], v);`),
      '  }',
    ].join('\n');
  } else if (acrossRows) {
    body = [
      '  for (var k = 0u; k < u.K; k++) {',
      '    acc = acc + A[(aOff + k * u.M + row0) / 4u] * B[bOff + k];',
      '  }',
    ].join('\n');
  } else {
    const index = (r: number) => (p.transposeA ? `aOff + k * u.M + min(row0 + ${r}u, u.M - 1u)` : `aOff + min(row0 + ${r}u, u.M - 1u) * u.K + k`);
    body = [
      '  for (var k = 0u; k < u.K; k++) {',
      '    let v = B[bOff + k];',
      ...rows.map((r) => `    acc[${r}] = acc[${r}] + A[${index(r)}] * v;`),
      '  }',
    ].join('\n');
  }

  const wgsl = `${declareBindings(bindings, uniforms)}

${activationFunction(p.activation)}

${computeEntry(WORKGROUP_INVOCATIONS)} {
  let flat = ${flatWorkgroupIndex()} * ${WORKGROUP_INVOCATIONS}u + lid;
  if (flat >= u.invocations) { return; }
  let batch = flat / u.rowGroups;
  let row0 = (flat % u.rowGroups) * ${MATVEC_ROWS}u;
  let aOff = batch * u.strideA;
  let bOff = batch * u.strideB;
  var acc = vec4<f32>(0.0);
${body}
  let result = activate(acc${p.bias ? ' + vec4<f32>(bias[0])' : ''});
  let cOff = batch * u.M + row0;
${rows.map((r) => `  if (row0 + ${r}u < u.M) { C[cOff + ${r}u] = result[${r}]; }`).join('\n')}
}
`;
  const label = `matvec ${p.batch}x${p.m}x${p.k}${p.transposeA ? ' transposeA' : ''}${p.bias ? ' bias' : ''}${p.activation === 'none' ? '' : ` ${p.activation}`}`;
  return {
    passes: [{ label, wgsl, buffers: bindings.map((binding) => binding.ref), uniforms: packUniforms(uniforms), dispatch: grid1d(Math.ceil(invocations / WORKGROUP_INVOCATIONS)) }],
  };
}

function validateParams(p: MatmulParams): void {
  for (const name of ['batch', 'm', 'n', 'k'] as const) {
    const value = p[name];
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`matmul: ${name} must be a positive integer, got ${value}`);
  }
  if (p.batchA !== 1 && p.batchA !== p.batch) throw new RangeError(`matmul: batchA must be 1 or batch (${p.batch}), got ${p.batchA}`);
  if (p.batchB !== 1 && p.batchB !== p.batch) throw new RangeError(`matmul: batchB must be 1 or batch (${p.batch}), got ${p.batchB}`);

  const largest = Math.max(p.batch * p.m * p.n, p.batchA * p.m * p.k, p.batchB * p.k * p.n);
  if (largest >= 2 ** 32) throw new RangeError(`matmul: ${largest} elements in one operand exceed the u32 index range`);
}

function validateTiling(t: MatmulTiling, limits: MatmulLimits): void {
  for (const name of ['rowsPerThread', 'colsPerThread', 'workgroupX', 'workgroupY'] as const) {
    const value = t[name];
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`matmul: tiling ${name} must be a positive integer, got ${value}`);
  }
  if (t.colsPerThread % 4 !== 0) throw new RangeError(`matmul: tiling colsPerThread must be a multiple of 4, got ${t.colsPerThread}`);
  if (!Number.isInteger(t.sharedK) || t.sharedK < 0 || t.sharedK % 4 !== 0) {
    throw new RangeError(`matmul: tiling sharedK must be 0 or a positive multiple of 4, got ${t.sharedK}`);
  }

  const invocations = t.workgroupX * t.workgroupY;
  if (invocations > maxInvocations(limits)) {
    throw new RangeError(`matmul: workgroup of ${t.workgroupX}x${t.workgroupY} invocations exceeds the adapter's limit of ${maxInvocations(limits)}; `
      + 'use a smaller workgroupX or workgroupY');
  }
  if (t.sharedK === 0) return;

  if (t.rowsPerThread % 4 !== 0) throw new RangeError(`matmul: tiling rowsPerThread must be a multiple of 4 when sharedK > 0, got ${t.rowsPerThread}`);
  const sharedBytes = (t.workgroupY * t.rowsPerThread + t.workgroupX * t.colsPerThread) * t.sharedK * 4;
  if (sharedBytes > limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`matmul: tiling needs ${sharedBytes} bytes of workgroup memory, more than the adapter's limit of `
      + `${limits.maxComputeWorkgroupStorageSize}; use a smaller sharedK`);
  }
}

/** Operands read and written as vec4, chosen from the stored layout and the sizes. */
interface MatmulLayout {
  /** A is read as vec4 along its contiguous dimension (k, or m when transposed). */
  aVec: boolean;
  bVec: boolean;
  /** C is written as vec4 rows, which needs n % 4 == 0. */
  cVec: boolean;
}

function chooseLayout(p: MatmulParams, t: MatmulTiling): MatmulLayout {
  const rowsInVec4 = t.sharedK > 0 || t.rowsPerThread % 4 === 0;
  return {
    aVec: p.transposeA ? p.m % 4 === 0 && rowsInVec4 : p.k % 4 === 0,
    bVec: p.transposeB ? p.k % 4 === 0 : p.n % 4 === 0,
    cVec: p.n % 4 === 0,
  };
}

/**
 * Generates the direct kernel, which reads A and B from storage buffers without workgroup memory.
 *
 * Thread mapping: the flat workgroup index (spread over x and y by `grid1d`, so that any batch
 * stays under 65,535 workgroups per dimension) selects a batch entry and an output tile of
 * (workgroupY * rowsPerThread) x (workgroupX * colsPerThread). Invocation `lid` owns rows
 * row0 .. row0 + rowsPerThread - 1, with row0 = tile row + (lid / workgroupX) * rowsPerThread, and
 * the vec4 column groups col0 + 4 * workgroupX * j, with col0 = tile column + 4 * (lid % workgroupX),
 * so that neighbouring invocations read neighbouring vec4s of B and write neighbouring vec4s of C.
 * Each step of the k loop loads 4 values of k for every row and column of the block, as vec4 where
 * the stored layout and the sizes allow, then does 4 * rowsPerThread * colsPerThread multiply-adds.
 *
 * Bounds: loads use row and column indices clamped to m - 1 and n - 1, so every load is in bounds
 * and the loop has no branches. Only the stores check bounds. A tail loop handles k % 4 when
 * neither operand is read as vec4 along k; otherwise k % 4 == 0.
 *
 * Why no workgroup memory and why big register blocks: llvmpipe runs a workgroup on one CPU thread
 * with invocations in SIMD lanes. Mesa's gallivm (lp_bld_nir_soa.c, emit_load_mem) turns a load
 * whose address differs between lanes into a loop over the lanes, with a bounds check for each
 * component. Loads therefore cost far more than multiply-adds, and speed follows the loads per
 * multiply-add of the block, (rows + columns) / (rows * columns), until the accumulators spill.
 * Measured on Mesa 22.3.6 llvmpipe (2 cores of an AMD EPYC, through Dawn's OpenGL ES backend in
 * npm webgpu 0.6.2), 1024 x 1024 x 1024 in GFLOP/s: blocks of 4x4 7 to 9.5, 8x8 18.5, 16x8
 * 20.5, 16x12 23, 16x16 17.5. Blocks of 8x8 and 8x16 staged through workgroup memory reached 10
 * to 11.5. Blocks stop at 16x8 in `chooseMatmulTiling` because 16x12 keeps 192 accumulators per
 * invocation, which would spill registers on GPUs.
 *
 * Assumptions: f32 operands stored as `MatmulParams` describes, fewer than 2^32 elements per
 * operand (checked by `matmulProgram`), and an output buffer that no input aliases.
 */
function generateKernel(p: MatmulParams, t: MatmulTiling, layout: MatmulLayout): string {
  const tm = t.rowsPerThread;
  const groups = t.colsPerThread / 4;
  const tileRows = t.workgroupY * tm;
  const tileCols = t.workgroupX * t.colsPerThread;
  const aStepsK = !p.transposeA && layout.aVec;
  const bStepsK = p.transposeB && layout.bVec;
  const needsTail = !aStepsK && !bStepsK;

  const lines: string[] = [];
  const emit = (line: string) => lines.push(`  ${line}`);

  emit(`let flat = ${flatWorkgroupIndex()};`);
  emit('if (flat >= u.tiles) { return; }');
  emit('let tileX = flat % u.tilesX;');
  emit('let tileY = (flat / u.tilesX) % u.tilesY;');
  emit('let batch = flat / (u.tilesX * u.tilesY);');
  emit(`let row0 = tileY * ${tileRows}u + (lid / ${t.workgroupX}u) * ${tm}u;`);
  emit(`let col0 = tileX * ${tileCols}u + (lid % ${t.workgroupX}u) * 4u;`);
  emit('let aOff = batch * u.strideA;');
  emit('let bOff = batch * u.strideB;');
  emit('let M4 = u.M / 4u;');
  emit('let N4 = u.N / 4u;');
  emit('');

  lines.push(...aSetup(p, layout, tm).map((line) => `  ${line}`));
  lines.push(...bSetup(p, layout, groups, t.workgroupX).map((line) => `  ${line}`));

  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < groups; j++) emit(`var acc${i}_${j} = vec4<f32>(0.0);`);
  }
  emit('');

  const loop = needsTail ? 'for (; k + 3u < u.K; k += 4u)' : 'for (; k < u.K; k += 4u)';
  emit('var k = 0u;');
  emit(`${loop} {`);
  lines.push(...kStep(p, layout, tm, groups, 4).map((line) => `    ${line}`));
  emit('}');
  if (needsTail) {
    emit('for (; k < u.K; k += 1u) {');
    lines.push(...kStep(p, layout, tm, groups, 1).map((line) => `    ${line}`));
    emit('}');
  }
  emit('');

  lines.push(...epilogue(p, layout, tm, groups, t.workgroupX).map((line) => `  ${line}`));

  return [
    activationFunction(p.activation),
    `${computeEntry([t.workgroupX * t.workgroupY, 1, 1])} {`,
    ...lines,
    '}',
  ].join('\n');
}

/** Row indices of A, clamped into range so that the rows past m of an edge tile read valid memory. */
function aSetup(p: MatmulParams, layout: MatmulLayout, tm: number): string[] {
  const lines: string[] = [];
  if (p.transposeA && layout.aVec) {
    for (let g = 0; g < tm / 4; g++) lines.push(`let aCol${g} = (aOff + min(row0 + ${4 * g}u, u.M - 4u)) / 4u;`);
    return lines;
  }
  for (let i = 0; i < tm; i++) {
    const row = `min(row0 + ${i}u, u.M - 1u)`;
    if (p.transposeA) lines.push(`let aCol${i} = aOff + ${row};`);
    else if (layout.aVec) lines.push(`let aRow${i} = (aOff + ${row} * u.K) / 4u;`);
    else lines.push(`let aRow${i} = aOff + ${row} * u.K;`);
  }
  return lines;
}

/** Column indices of B, clamped like the rows of A. */
function bSetup(p: MatmulParams, layout: MatmulLayout, groups: number, workgroupX: number): string[] {
  const lines: string[] = [];
  for (let j = 0; j < groups; j++) {
    const col = `col0 + ${j * workgroupX * 4}u`;
    if (!p.transposeB && layout.bVec) {
      lines.push(`let bCol${j} = bOff / 4u + min(${col}, u.N - 4u) / 4u;`);
      continue;
    }
    for (let c = 0; c < 4; c++) {
      const clamped = `min(${col} + ${c}u, u.N - 1u)`;
      if (p.transposeB && layout.bVec) lines.push(`let bRow${j}_${c} = (bOff + ${clamped} * u.K) / 4u;`);
      else if (p.transposeB) lines.push(`let bRow${j}_${c} = bOff + ${clamped} * u.K;`);
      else lines.push(`let bCol${j}_${c} = bOff + ${clamped};`);
    }
  }
  return lines;
}

/** Loads `steps` (4 or 1) values of k for every row and column of the thread's block, then accumulates. */
function kStep(p: MatmulParams, layout: MatmulLayout, tm: number, groups: number, steps: number): string[] {
  const lines: string[] = [];
  const kIndex = (kk: number) => (kk === 0 ? 'k' : `k + ${kk}u`);

  // aValue(i, kk) is the scalar A[row0 + i, k + kk].
  let aValue: (i: number, kk: number) => string;
  if (p.transposeA && layout.aVec) {
    for (let kk = 0; kk < steps; kk++) {
      for (let g = 0; g < tm / 4; g++) lines.push(`let a${g}_${kk} = A[aCol${g} + (${kIndex(kk)}) * M4];`);
    }
    aValue = (i, kk) => `a${Math.floor(i / 4)}_${kk}[${i % 4}]`;
  } else if (p.transposeA) {
    for (let kk = 0; kk < steps; kk++) {
      lines.push(`let aK${kk} = (${kIndex(kk)}) * u.M;`);
      for (let i = 0; i < tm; i++) lines.push(`let a${i}_${kk} = A[aCol${i} + aK${kk}];`);
    }
    aValue = (i, kk) => `a${i}_${kk}`;
  } else if (layout.aVec) {
    for (let i = 0; i < tm; i++) lines.push(`let a${i} = A[aRow${i} + k / 4u];`);
    aValue = (i, kk) => `a${i}[${kk}]`;
  } else {
    for (let i = 0; i < tm; i++) {
      for (let kk = 0; kk < steps; kk++) lines.push(`let a${i}_${kk} = A[aRow${i} + ${kIndex(kk)}];`);
    }
    aValue = (i, kk) => `a${i}_${kk}`;
  }

  // bValue(kk, j) is the vec4 B[k + kk, col0 + 4 * workgroupX * j .. + 3].
  let bValue: (kk: number, j: number) => string;
  if (p.transposeB && layout.bVec) {
    for (let j = 0; j < groups; j++) {
      for (let c = 0; c < 4; c++) lines.push(`let b${j}_${c} = B[bRow${j}_${c} + k / 4u];`);
    }
    bValue = (kk, j) => `vec4<f32>(b${j}_0[${kk}], b${j}_1[${kk}], b${j}_2[${kk}], b${j}_3[${kk}])`;
  } else if (p.transposeB) {
    for (let kk = 0; kk < steps; kk++) {
      for (let j = 0; j < groups; j++) {
        const parts = [0, 1, 2, 3].map((c) => `B[bRow${j}_${c} + ${kIndex(kk)}]`);
        lines.push(`let b${kk}_${j} = vec4<f32>(${parts.join(', ')});`);
      }
    }
    bValue = (kk, j) => `b${kk}_${j}`;
  } else if (layout.bVec) {
    for (let kk = 0; kk < steps; kk++) {
      lines.push(`let bK${kk} = (${kIndex(kk)}) * N4;`);
      for (let j = 0; j < groups; j++) lines.push(`let b${kk}_${j} = B[bCol${j} + bK${kk}];`);
    }
    bValue = (kk, j) => `b${kk}_${j}`;
  } else {
    for (let kk = 0; kk < steps; kk++) {
      lines.push(`let bK${kk} = (${kIndex(kk)}) * u.N;`);
      for (let j = 0; j < groups; j++) {
        const parts = [0, 1, 2, 3].map((c) => `B[bCol${j}_${c} + bK${kk}]`);
        lines.push(`let b${kk}_${j} = vec4<f32>(${parts.join(', ')});`);
      }
    }
    bValue = (kk, j) => `b${kk}_${j}`;
  }

  for (let kk = 0; kk < steps; kk++) {
    for (let j = 0; j < groups; j++) {
      lines.push(`let bv${kk}_${j} = ${bValue(kk, j)};`);
      for (let i = 0; i < tm; i++) lines.push(`acc${i}_${j} = fma(vec4<f32>(${aValue(i, kk)}), bv${kk}_${j}, acc${i}_${j});`);
    }
  }
  return lines;
}

/**
 * Generates the kernel that stages A and B tiles of depth `sharedK` in workgroup memory, the
 * classic layout for GPUs with fast shared memory. The thread mapping and the stores are those of
 * the direct kernel. The tiles are zero-padded past m, n and k, so the inner loop has no bounds.
 * NOTE: `chooseMatmulTiling` never returns it, because it ran at half the speed of the direct
 * kernel on llvmpipe. Its speed on a hardware GPU has not been measured.
 */
function generateSharedKernel(p: MatmulParams, t: MatmulTiling, layout: MatmulLayout): string {
  const tm = t.rowsPerThread;
  const groups = t.colsPerThread / 4;
  const invocations = t.workgroupX * t.workgroupY;
  const tileRows = t.workgroupY * tm;
  const tileCols = t.workgroupX * t.colsPerThread;
  const tk = t.sharedK;

  const lines: string[] = [];
  const emit = (line: string, indent = 1) => lines.push(`${'  '.repeat(indent)}${line}`);

  emit(`let flat = ${flatWorkgroupIndex()};`);
  emit('if (flat >= u.tiles) { return; }');
  emit('let tileX = flat % u.tilesX;');
  emit('let tileY = (flat / u.tilesX) % u.tilesY;');
  emit('let batch = flat / (u.tilesX * u.tilesY);');
  emit(`let tileRow0 = tileY * ${tileRows}u;`);
  emit(`let tileCol0 = tileX * ${tileCols}u;`);
  emit(`let localRow0 = (lid / ${t.workgroupX}u) * ${tm}u;`);
  emit(`let localColVec = lid % ${t.workgroupX}u;`);
  emit('let row0 = tileRow0 + localRow0;');
  emit('let col0 = tileCol0 + localColVec * 4u;');
  emit('let aOff = batch * u.strideA;');
  emit('let bOff = batch * u.strideB;');
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < groups; j++) emit(`var acc${i}_${j} = vec4<f32>(0.0);`);
  }
  emit('');
  emit(`for (var k0 = 0u; k0 < u.K; k0 += ${tk}u) {`);
  for (const line of stageA(p, layout, tileRows, tk, invocations)) emit(line, 2);
  for (const line of stageB(p, layout, tileCols, tk, invocations)) emit(line, 2);
  emit('workgroupBarrier();', 2);
  emit('');
  emit(`for (var kq = 0u; kq < ${tk / 4}u; kq += 1u) {`, 2);
  if (p.transposeA) {
    for (let kk = 0; kk < 4; kk++) {
      for (let g = 0; g < tm / 4; g++) emit(`let a${g}_${kk} = As[(kq * 4u + ${kk}u) * ${tileRows / 4}u + localRow0 / 4u + ${g}u];`, 3);
    }
  } else {
    for (let i = 0; i < tm; i++) emit(`let a${i} = As[(localRow0 + ${i}u) * ${tk / 4}u + kq];`, 3);
  }
  const aValue = p.transposeA
    ? (i: number, kk: number) => `a${Math.floor(i / 4)}_${kk}[${i % 4}]`
    : (i: number, kk: number) => `a${i}[${kk}]`;
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < groups; j++) {
      emit(`let b${kk}_${j} = Bs[(kq * 4u + ${kk}u) * ${tileCols / 4}u + localColVec + ${j * t.workgroupX}u];`, 3);
      for (let i = 0; i < tm; i++) emit(`acc${i}_${j} = fma(vec4<f32>(${aValue(i, kk)}), b${kk}_${j}, acc${i}_${j});`, 3);
    }
  }
  emit('}', 2);
  emit('workgroupBarrier();', 2);
  emit('}');
  emit('');
  for (const line of epilogue(p, layout, tm, groups, t.workgroupX)) emit(line);

  return [
    activationFunction(p.activation),
    `var<workgroup> As: array<vec4<f32>, ${(tileRows * tk) / 4}>;`,
    `var<workgroup> Bs: array<vec4<f32>, ${(tileCols * tk) / 4}>;`,
    `${computeEntry([invocations, 1, 1])} {`,
    ...lines,
    '}',
  ].join('\n');
}

/**
 * Copies the A tile of rows tileRow0.. and depths k0.. into workgroup memory, as [row][k] vec4
 * along k, or [k][row] vec4 along rows when A is transposed. Entries past m or k are stored as 0,
 * so the inner loop needs no bounds checks.
 */
function stageA(p: MatmulParams, layout: MatmulLayout, tileRows: number, tk: number, invocations: number): string[] {
  const vectors = (tileRows * tk) / 4;
  const lines: string[] = [];
  for (let first = 0; first < vectors; first += invocations) {
    const guarded = first + invocations > vectors;
    const body: string[] = [`let i = lid + ${first}u;`];
    if (p.transposeA) {
      body.push(`let k = k0 + i / ${tileRows / 4}u;`, `let row = tileRow0 + (i % ${tileRows / 4}u) * 4u;`);
      body.push('let kClamped = min(k, u.K - 1u);');
      if (layout.aVec) {
        body.push('let v = A[(aOff + kClamped * u.M) / 4u + min(row, u.M - 4u) / 4u];');
        body.push('As[i] = select(vec4<f32>(0.0), v, k < u.K && row < u.M);');
      } else {
        const parts = [0, 1, 2, 3].map((c) => `select(0.0, A[aOff + kClamped * u.M + min(row + ${c}u, u.M - 1u)], row + ${c}u < u.M)`);
        body.push(`As[i] = select(vec4<f32>(0.0), vec4<f32>(${parts.join(', ')}), k < u.K);`);
      }
    } else {
      body.push(`let row = tileRow0 + i / ${tk / 4}u;`, `let k = k0 + (i % ${tk / 4}u) * 4u;`);
      body.push('let rowStart = aOff + min(row, u.M - 1u) * u.K;');
      if (layout.aVec) {
        body.push('let v = A[rowStart / 4u + min(k, u.K - 4u) / 4u];');
        body.push('As[i] = select(vec4<f32>(0.0), v, k < u.K && row < u.M);');
      } else {
        const parts = [0, 1, 2, 3].map((c) => `select(0.0, A[rowStart + min(k + ${c}u, u.K - 1u)], k + ${c}u < u.K)`);
        body.push(`As[i] = select(vec4<f32>(0.0), vec4<f32>(${parts.join(', ')}), row < u.M);`);
      }
    }
    lines.push(guarded ? `if (lid + ${first}u < ${vectors}u) {` : '{', ...body.map((line) => `  ${line}`), '}');
  }
  return lines;
}

/**
 * Copies the B tile of depths k0.. and columns tileCol0.. into workgroup memory as [k][column]
 * vec4 along columns, with 0 past k or n. A transposed B is read as vec4 along k and scattered.
 */
function stageB(p: MatmulParams, layout: MatmulLayout, tileCols: number, tk: number, invocations: number): string[] {
  const vectors = (tileCols * tk) / 4;
  const lines: string[] = [];
  for (let first = 0; first < vectors; first += invocations) {
    const guarded = first + invocations > vectors;
    const body: string[] = [`let i = lid + ${first}u;`];
    if (p.transposeB) {
      body.push(`let col = i / ${tk / 4}u;`, `let kq = i % ${tk / 4}u;`);
      body.push('let k = k0 + kq * 4u;', 'let colStart = bOff + min(tileCol0 + col, u.N - 1u) * u.K;');
      if (layout.bVec) {
        body.push('let v = select(vec4<f32>(0.0), B[colStart / 4u + min(k, u.K - 4u) / 4u], k < u.K && tileCol0 + col < u.N);');
      } else {
        const parts = [0, 1, 2, 3].map((c) => `select(0.0, B[colStart + min(k + ${c}u, u.K - 1u)], k + ${c}u < u.K)`);
        body.push(`let v = select(vec4<f32>(0.0), vec4<f32>(${parts.join(', ')}), tileCol0 + col < u.N);`);
      }
      for (let c = 0; c < 4; c++) body.push(`Bs[(kq * 4u + ${c}u) * ${tileCols / 4}u + col / 4u][col % 4u] = v[${c}];`);
    } else {
      body.push(`let k = k0 + i / ${tileCols / 4}u;`, `let col = tileCol0 + (i % ${tileCols / 4}u) * 4u;`);
      body.push('let rowStart = bOff + min(k, u.K - 1u) * u.N;');
      if (layout.bVec) {
        body.push('Bs[i] = select(vec4<f32>(0.0), B[rowStart / 4u + min(col, u.N - 4u) / 4u], k < u.K && col < u.N);');
      } else {
        const parts = [0, 1, 2, 3].map((c) => `select(0.0, B[rowStart + min(col + ${c}u, u.N - 1u)], col + ${c}u < u.N)`);
        body.push(`Bs[i] = select(vec4<f32>(0.0), vec4<f32>(${parts.join(', ')}), k < u.K);`);
      }
    }
    lines.push(guarded ? `if (lid + ${first}u < ${vectors}u) {` : '{', ...body.map((line) => `  ${line}`), '}');
  }
  return lines;
}

/** Adds the bias, applies the activation and stores the rows and columns that lie inside C. */
function epilogue(p: MatmulParams, layout: MatmulLayout, tm: number, groups: number, workgroupX: number): string[] {
  const out: string[] = ['let cOff = batch * u.M * u.N;'];
  for (let i = 0; i < tm; i++) {
    out.push(`if (row0 + ${i}u < u.M) {`);
    out.push(`  let cRow = cOff + (row0 + ${i}u) * u.N;`);
    for (let j = 0; j < groups; j++) {
      out.push(`  {`);
      out.push(`    let col = col0 + ${j * workgroupX * 4}u;`);
      if (layout.cVec) {
        const bias = p.bias ? ' + vec4<f32>(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u])' : '';
        out.push(`    if (col < u.N) { C[(cRow + col) / 4u] = activate(acc${i}_${j}${bias}); }`);
      } else {
        const bias = p.bias
          ? ' + vec4<f32>(bias[min(col, u.N - 1u)], bias[min(col + 1u, u.N - 1u)], bias[min(col + 2u, u.N - 1u)], bias[min(col + 3u, u.N - 1u)])'
          : '';
        out.push(`    let v = activate(acc${i}_${j}${bias});`);
        for (let c = 0; c < 4; c++) out.push(`    if (col + ${c}u < u.N) { C[cRow + col + ${c}u] = v[${c}]; }`);
      }
      out.push(`  }`);
    }
    out.push('}');
  }
  return out;
}

function activationFunction(activation: MatmulActivation): string {
  const body: Record<MatmulActivation, string> = {
    none: 'return x;',
    relu: 'return max(x, vec4<f32>(0.0));',
    sigmoid: 'return 1.0 / (1.0 + exp(-x));',
    // tanh(15) rounds to 1 in f32, and the clamp keeps exp-based tanh implementations from inf / inf.
    tanh: 'return tanh(clamp(x, vec4<f32>(-15.0), vec4<f32>(15.0)));',
    leakyRelu: 'return select(u.alpha * x, x, x > vec4<f32>(0.0));',
  };
  return `fn activate(x: vec4<f32>) -> vec4<f32> {\n  ${body[activation]}\n}`;
}
