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
 * Kernels that one step needs besides elementwise ones: the forward gather and segment sum, and
 * the gradient of `tf.gather`, which TF.js computes with UnsortedSegmentSum into a dense tensor of
 * the table's shape (tfjs-core's GatherV2 gradient).
 */
const REQUIRED_KERNELS = ['GatherV2', 'UnsortedSegmentSum'];

/**
 * Returns why TF.js cannot run the step on the backend of `impl`, or undefined when it can.
 * TF.js does not fall back to another backend for a missing kernel: the step would throw.
 */
export function tfjsEmbeddingSkipReason(impl: TfjsImpl): string | undefined {
  // TF.js 4.22's cpu UnsortedSegmentSum (tfjs-backend-cpu, kernels/UnsortedSegmentSum.js) loops
  // over the segments and compares every id with each, O(segments x ids x dim). Measured on the
  // 2-core benchmark machine, the first step at 10^4 rows and dim 16 did not finish in 2 minutes.
  if (impl === 'tfjs-cpu') {
    return (
      `TF.js ${tf.version.tfjs}'s cpu UnsortedSegmentSum compares every id with every segment, ` +
      `so one step takes minutes even at 10^4 rows`
    );
  }

  const backend = BACKEND_NAME[impl];
  const missing = REQUIRED_KERNELS.filter((kernel) => tf.getKernel(kernel, backend) === undefined);
  if (missing.length === 0) return undefined;
  return (
    `TF.js ${tf.version.tfjs} registers no ${missing.join(' or ')} kernel for its ${backend} backend, ` +
    `and the gradient of tf.gather needs UnsortedSegmentSum`
  );
}

/**
 * Creates a runner for one training step on the TF.js backend of `impl`, written the way a TF.js
 * model embeds categorical fields. Each field has its own `tf.variable` table, because TF.js has no
 * table-batched op. A step gathers the batch's ids with `tf.gather`, pools each bag by sum with
 * `tf.unsortedSegmentSum`, takes the loss sum(pooled * lossWeights) over all fields, and calls
 * `optimizer.minimize` of `tf.train.adam`. The ids and bag indices are uploaded in every step, as
 * Sparrow uploads its batch. Their conversion to Int32Array is done once, untimed.
 *
 * TF.js computes the gradient of a gather as a dense tensor of the table's shape and Adam updates
 * every row of every table, so a step costs O(vocabulary x dim).
 *
 * Sync: the cpu and wasm backends finish the work before `minimize` returns. On webgpu, `run()`
 * reads back one element of the last table, which the queue orders after the last Adam update.
 */
export async function createTfjsEmbeddingRunner(impl: TfjsImpl, inputs: EmbeddingInputs): Promise<BenchRunner> {
  await useTfjsBackend(impl);

  const { shape, fieldRows, batches, lossWeights, learningRate } = inputs;
  const { batch: batchSize, fields, dim } = shape;

  const tables = fieldRows.map((rows, f) => tf.variable(tf.randomUniform([rows, dim], -0.05, 0.05, 'float32', 1 + f)));
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
            const rows = tf.gather(tables[f], ids[f]);
            const pooled = tf.unsortedSegmentSum(rows, bags[f], batchSize);
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
