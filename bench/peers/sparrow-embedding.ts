// Sparrow's embedding training-step runner: table-batched embedding bags, a row-sparse gradient and a lazy Adam step.

import * as sp from '../../src/index.js';

import { checkFirstAdamStep, findProbeRow, type EmbeddingInputs } from '../embedding.js';
import type { BenchRunner } from '../harness.js';

export type SparrowImpl = 'sparrow-webgpu' | 'sparrow-cpu';

/**
 * Device memory of one case, filled in by the runner's `dispose()` on WebGPU. The backend's peak
 * counters cannot be reset, so the runner empties the buffer pool first, reads the allocation as a
 * baseline, and subtracts it from the peak at the end.
 */
export interface SparrowEmbeddingMemory {
  /** Peak bytes of device buffers (tensors plus the pool's free buffers) above the baseline. */
  peakAllocatedBytes?: number;
  /** Peak bytes held by live tensors above the baseline. */
  peakTensorBytes?: number;
  /**
   * True when the case did not raise the backend's all-time peak: the peaks above then come from
   * an earlier case and only bound this one from above.
   */
  isUpperBound?: boolean;
}

export interface SparrowEmbeddingOptions {
  /** Compute the table's gradient with float atomics instead of the sorted, deterministic path. */
  atomicGrad: boolean;
  memory: SparrowEmbeddingMemory;
}

const BACKEND: Record<SparrowImpl, 'webgpu' | 'cpu'> = {
  'sparrow-webgpu': 'webgpu',
  'sparrow-cpu': 'cpu',
};

/**
 * Creates a runner for one training step on Sparrow's backend of `impl`. A step builds its
 * EmbeddingBatch from the next host batch, so host validation and upload are timed but id
 * generation is not. It pools every field by sum with `embeddingBags` in one op and takes the loss
 * `sum(pooled * lossWeights)`. Then `backward()` gives each shard a row-sparse gradient, and one
 * lazy Adam update changes the touched rows only.
 *
 * The table is a ShardedTable, so a table larger than the adapter's maxStorageBufferBindingSize is
 * split into shards of the largest size that fits one binding.
 *
 * Sync: on WebGPU `run()` awaits `sp.sync('webgpu')`, which waits for the submitted work without
 * reading anything back. On the CPU every op has finished when it returns.
 */
export async function createSparrowEmbeddingRunner(
  impl: SparrowImpl,
  inputs: EmbeddingInputs,
  options: SparrowEmbeddingOptions,
): Promise<BenchRunner> {
  const backend = BACKEND[impl];
  const device = sp.getBackend(backend);
  const webgpu = backend === 'webgpu' ? sp.getWebGPUBackend() : null;

  // Free the buffers that earlier cases left in the pool, so the baseline is what this case finds.
  webgpu?.emptyCache();
  const before = device.memory();

  const { shape, fieldRows, batches, lossWeights, learningRate } = inputs;
  const layout = new sp.TableLayout(fieldRows.map((rows, f) => ({ name: `field${f}`, rows })));
  const table = sp.ShardedTable.create(shape.vocab, shape.dim, { backend, requiresGrad: true, seed: 1 });
  const weights = sp.keep(sp.tensor(lossWeights, [shape.batch, shape.fields, shape.dim], { backend }));
  const optimizer = new sp.Optimizer([{ params: table.shards, optimizer: { kind: 'adam' }, lr: learningRate }]);

  const probe = findProbeRow(inputs);
  const probeRow = layout.rowStarts[probe.field] + probe.id;
  const initial = await readRow(table, probeRow);
  let step = 0;

  const run = async (): Promise<void> => {
    const hostBatch = batches[step % batches.length];
    step++;
    const batch = sp.embeddingBatch(layout, hostBatch.fields, { backend });

    sp.tidy(() => {
      const pooled = sp.embeddingBags(table, batch, { pooling: 'sum', atomicGrad: options.atomicGrad });
      const loss = sp.sum(sp.mul(pooled, weights));
      loss.backward();
      optimizer.step();
    });
    optimizer.zeroGrad();
    batch.dispose();

    if (backend === 'webgpu') await sp.sync('webgpu');
  };

  return {
    run,
    verify: async () => checkFirstAdamStep(impl, inputs, probe, initial, await readRow(table, probeRow)),
    dispose(): void {
      if (webgpu !== null) {
        const after = device.memory();
        options.memory.peakAllocatedBytes = after.peakAllocatedBytes - before.allocatedBytes;
        options.memory.peakTensorBytes = after.peakTensorBytes - before.tensorBytes;
        options.memory.isUpperBound = after.peakAllocatedBytes <= before.peakAllocatedBytes;
      }
      optimizer.dispose();
      weights.dispose();
      table.dispose();
      layout.dispose();
    },
  };
}

/** Reads the probe row of the combined table, [dim] values, from the shard that contains it. */
async function readRow(table: sp.ShardedTable, row: number): Promise<Float32Array> {
  const shard = Math.floor(row / table.shardRows);
  const values = sp.slice(table.shards[shard], [row - shard * table.shardRows, 0], [1, table.dim]);
  const data = (await values.data()) as Float32Array;
  values.dispose();
  return data;
}
