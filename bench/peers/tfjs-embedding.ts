// TensorFlow.js 4.22 embedding training-step runner: per-field gather, segment-sum pooling and tf.train.adam.

import * as tf from '@tensorflow/tfjs';

import { checkFirstAdamStep, findProbeRow, type EmbeddingInputs } from '../embedding.js';
import type { BenchRunner } from '../harness.js';
import { useTfjsBackend, type TfjsImpl } from './tfjs.js';

const BACKEND_NAME: Record<TfjsImpl, string> = {
  'tfjs-webgpu': 'webgpu',
  'tfjs-wasm': 'wasm',
  'tfjs-cpu': 'cpu',
};

/**
 * How a step pools and differentiates, by TF.js backend:
 * - `gather` (webgpu): `tf.gather` of the bag's rows, then `tf.unsortedSegmentSum` over bags. TF.js
 *   differentiates the gather with UnsortedSegmentSum into a dense tensor of the table's shape
 *   (tfjs-core's GatherV2 gradient).
 * - `sparse-segment` (wasm, cpu): `tf.sparse.sparseSegmentSum` gathers and pools in one op, and a
 *   `tf.customGrad` gives its gradient as `tf.scatterND` of each id's bag gradient into a dense
 *   tensor of the table's shape (ScatterNd sums duplicate ids). TF.js 4.22's wasm backend has no
 *   UnsortedSegmentSum kernel, so it cannot run `gather`, and its cpu UnsortedSegmentSum
 *   (tfjs-backend-cpu, kernels/UnsortedSegmentSum.js) compares every id with every segment.
 *   Both formulations compute the same dense gradient.
 */
type Formulation = 'gather' | 'sparse-segment';

const FORMULATION: Record<TfjsImpl, Formulation> = {
  'tfjs-webgpu': 'gather',
  'tfjs-wasm': 'sparse-segment',
  'tfjs-cpu': 'sparse-segment',
};

/** Kernels that one step of each formulation needs besides elementwise ones and Adam's. */
const REQUIRED_KERNELS: Record<Formulation, string[]> = {
  gather: ['GatherV2', 'UnsortedSegmentSum'],
  'sparse-segment': ['SparseSegmentSum', 'ScatterNd', 'GatherV2'],
};

/**
 * Returns why TF.js cannot run the step on the backend of `impl`, or undefined when it can.
 * TF.js does not fall back to another backend for a missing kernel: the step would throw.
 */
export function tfjsEmbeddingSkipReason(impl: TfjsImpl): string | undefined {
  const backend = BACKEND_NAME[impl];
  const missing = REQUIRED_KERNELS[FORMULATION[impl]].filter((kernel) => tf.getKernel(kernel, backend) === undefined);
  if (missing.length === 0) return undefined;
  return `TF.js ${tf.version.tfjs} registers no ${missing.join(' or ')} kernel for its ${backend} backend`;
}

/**
 * Creates a runner for one training step on the TF.js backend of `impl`, written the way a TF.js
 * model embeds categorical fields. Each field has its own `tf.variable` table, because TF.js has no
 * table-batched op. A step pools each field's bags by sum (see `Formulation`), takes the loss
 * sum(pooled * lossWeights) over all fields, and calls `optimizer.minimize` of `tf.train.adam`.
 * The ids and bag indices are uploaded in every step, as Sparrow uploads its batch. Their
 * conversion to Int32Array is done once, untimed.
 *
 * TF.js computes the gradient of the lookup as a dense tensor of the table's shape and Adam
 * updates every row of every table, so a step costs O(vocabulary x dim).
 *
 * Sync: the cpu and wasm backends finish the work before `minimize` returns. On webgpu, `run()`
 * reads back one element of the last table, which the queue orders after the last Adam update.
 */
export async function createTfjsEmbeddingRunner(impl: TfjsImpl, inputs: EmbeddingInputs): Promise<BenchRunner> {
  await useTfjsBackend(impl);

  const { shape, fieldRows, batches, lossWeights, learningRate } = inputs;
  const { batch: batchSize, fields, dim } = shape;

  // A TF.js variable shares its initial tensor's data, so the initial tensor is disposed here.
  // Otherwise one table per case would stay allocated after the variable is disposed.
  const tables = fieldRows.map((rows, f) => {
    const initial = tf.randomUniform([rows, dim], -0.05, 0.05, 'float32', 1 + f);
    const table = tf.variable(initial);
    initial.dispose();
    return table;
  });
  const weights = fieldRows.map((_, f) => {
    const values = new Float32Array(batchSize * dim);
    for (let b = 0; b < batchSize; b++) {
      values.set(lossWeights.subarray((b * fields + f) * dim, (b * fields + f + 1) * dim), b * dim);
    }
    return tf.tensor2d(values, [batchSize, dim]);
  });
  const hostIds = batches.map((batch) => batch.fields.map((field) => Int32Array.from(field.ids)));
  const optimizer = tf.train.adam(learningRate);

  const probe = findProbeRow(inputs);
  const readProbe = async (): Promise<Float32Array> => {
    const row = tf.slice(tables[probe.field], [probe.id, 0], [1, dim]);
    const values = (await row.data()) as Float32Array;
    row.dispose();
    return values;
  };
  const initial = await readProbe();

  const isGpu = impl === 'tfjs-webgpu';
  const formulation = FORMULATION[impl];
  let step = 0;

  const run = async (): Promise<void> => {
    if (tf.getBackend() !== BACKEND_NAME[impl]) {
      throw new Error(`${impl}: the active TF.js backend changed to "${tf.getBackend()}" during the benchmark`);
    }
    const index = step % batches.length;
    step++;

    tf.tidy(() => {
      const ids = hostIds[index].map((values) => tf.tensor1d(values, 'int32'));
      const bags = batches[index].fields.map((field) => tf.tensor1d(field.bagOfId, 'int32'));
      optimizer.minimize(
        () => {
          let loss: tf.Scalar | null = null;
          for (let f = 0; f < fields; f++) {
            const pooled =
              formulation === 'gather'
                ? tf.unsortedSegmentSum(tf.gather(tables[f], ids[f]), bags[f], batchSize)
                : sparseSegmentPool(tables[f], ids[f], bags[f]);
            const term = tf.sum(tf.mul(pooled, weights[f])) as tf.Scalar;
            loss = loss === null ? term : tf.add(loss, term);
          }
          return loss!;
        },
        false,
        tables,
      );
    });

    if (isGpu) {
      const last = tf.slice(tables[fields - 1], [0, 0], [1, 1]);
      await last.data();
      last.dispose();
    }
  };

  return {
    run,
    verify: async () => checkFirstAdamStep(impl, inputs, probe, initial, await readProbe()),
    dispose(): void {
      optimizer.dispose();
      tables.forEach((table) => table.dispose());
      weights.forEach((tensor) => tensor.dispose());
    },
  };
}

/**
 * Pools the bags of one field by sum with `tf.sparse.sparseSegmentSum` (bags sorted, as the batch
 * lists them), differentiable in the table. The gradient of row r is the sum of the bag
 * gradients of the ids equal to r, scattered into a dense tensor of the table's shape. The
 * output has max(bag) + 1 rows, one per bag here, because every bag of this grid has an id.
 */
function sparseSegmentPool(table: tf.Variable, ids: tf.Tensor1D, bags: tf.Tensor1D): tf.Tensor {
  const pool = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const rows = inputs[0] as tf.Tensor2D;
    return {
      value: tf.sparse.sparseSegmentSum(rows, ids, bags),
      gradFunc: (dy: tf.Tensor) => tf.scatterND(tf.expandDims(ids, 1), tf.gather(dy, bags), rows.shape),
    };
  });
  return pool(table);
}
