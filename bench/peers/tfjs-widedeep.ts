// Sparrow's Wide & Deep model written in TensorFlow.js 4.22 layers, trained on encoded Sparrow batches.

import * as tf from '@tensorflow/tfjs';

import { epochBatches } from '../../src/data/batches.js';
import { selectRows, type BatchLayout, type FieldLayout, type SparseBatch } from '../../src/data/batch.js';
import type { EpochRun, TrainRunner, TrainRunnerOptions } from '../train-adult.js';
import { useTfjsBackend, type TfjsImpl } from './tfjs.js';

/** Fields and numeric columns of one model part, with each field's first row in the part's combined table. */
interface PartColumns {
  fields: FieldLayout[];
  /** `firstRow[f]` is added to field f's ids, so that all fields of the part share one table. */
  firstRow: number[];
  tableRows: number;
}

function partColumns(fields: FieldLayout[]): PartColumns {
  const firstRow: number[] = [];
  let tableRows = 0;
  for (const field of fields) {
    firstRow.push(tableRows);
    tableRows += field.vocabularySize;
  }
  return { fields, firstRow, tableRows };
}

/** Returns the columns of each part, as Sparrow's `WideAndDeep` reads them from the layout. */
function modelColumns(layout: BatchLayout): { wide: PartColumns; deep: PartColumns; deepDim: number; numeric: number[] } {
  const feedsWide = (feeds: string) => feeds === 'wide' || feeds === 'both';
  const feedsDeep = (feeds: string) => feeds === 'deep' || feeds === 'both';

  const wideNumeric = layout.numeric.filter((column) => feedsWide(column.feeds));
  if (wideNumeric.length > 0) {
    throw new Error(`tfjs wide & deep: wide numeric columns are not supported, but the layout has ${wideNumeric.map((c) => c.name).join(', ')}`);
  }
  if (layout.tasks.length !== 1 || layout.tasks[0].type !== 'binary') {
    throw new Error(`tfjs wide & deep: expected one binary task, but the layout has ${layout.tasks.map((t) => `${t.name} (${t.type})`).join(', ')}`);
  }

  const deepFields = layout.fields.filter((field) => feedsDeep(field.feeds));
  const dims = new Set(deepFields.map((field) => field.embeddingDim));
  if (dims.size !== 1 || deepFields[0].embeddingDim === undefined) {
    throw new Error(`tfjs wide & deep: the deep fields must share one embedding dimension, but they have ${[...dims].join(', ')}`);
  }

  return {
    wide: partColumns(layout.fields.filter((field) => feedsWide(field.feeds))),
    deep: partColumns(deepFields),
    deepDim: deepFields[0].embeddingDim,
    numeric: layout.numeric.flatMap((column, i) => (feedsDeep(column.feeds) ? [i] : [])),
  };
}

/**
 * Writes the ids of a part's fields as a row-major [B, fields] int32 matrix, each id shifted by
 * its field's first row. Throws unless every bag contains exactly one id, which is true of Adult's
 * categorical, bucketized and cross fields.
 */
function idMatrix(batch: SparseBatch, part: PartColumns): Int32Array {
  const width = part.fields.length;
  const ids = new Int32Array(batch.size * width);
  part.fields.forEach((field, f) => {
    const data = batch.fields[field.name];
    if (data.ids.length !== batch.size || data.offsets[batch.size] !== batch.size) {
      throw new Error(`tfjs wide & deep: field "${field.name}" must contain one id per row, but it has ${data.ids.length} ids for ${batch.size} rows`);
    }
    for (let row = 0; row < batch.size; row++) ids[row * width + f] = part.firstRow[f] + data.ids[row];
  });
  return ids;
}

function numericMatrix(batch: SparseBatch, columns: number[]): Float32Array {
  const width = batch.layout.numeric.length;
  const values = new Float32Array(batch.size * columns.length);
  for (let row = 0; row < batch.size; row++) {
    columns.forEach((column, j) => (values[row * columns.length + j] = batch.dense[row * width + column]));
  }
  return values;
}

/**
 * Creates a runner that trains Sparrow's Wide & Deep model, written with TF.js layers, on the
 * backend of `impl`.
 *
 * The model matches `WideAndDeep` with `kind: 'wide-deep'` on the same layout:
 * - wide: one `tf.layers.embedding` of dimension 1 over all wide fields (crosses included),
 *   summed over the fields, plus a bias; its table starts at zero;
 * - deep: one `tf.layers.embedding` of the fields' dimension over all deep fields, uniform in
 *   +-0.05, flattened and concatenated with the deep numeric columns, then Dense `hidden` with
 *   ReLU and a Dense output of 1;
 * - the two logits summed, sigmoid cross-entropy averaged over the batch, Adam (beta1 0.9, beta2
 *   0.999, epsilon 1e-8) on every variable with one constant learning rate.
 *
 * Each part's fields share one table with per-field row ranges, as Sparrow groups them. That
 * gives TF.js one gather and one gather gradient per part in place of one per field, so fewer
 * kernel launches than per-field embedding layers would need. TF.js's Adam updates whole tables
 * every step, because the gradient of a gather is a dense `UnsortedSegmentSum` over the table.
 *
 * Each step takes a batch from `epochBatches` (the trainer's shuffle and row selection), builds
 * the id and numeric matrices on the host and uploads them with `tf.tensor`, as Sparrow's trainer
 * uploads each batch. The loss is read back every `lossEvery` steps and after the last step,
 * which waits for the device on tfjs-webgpu.
 */
export async function createTfjsWideDeepRunner(impl: TfjsImpl, data: SparseBatch, options: TrainRunnerOptions): Promise<TrainRunner> {
  await useTfjsBackend(impl);
  const columns = modelColumns(data.layout);
  const { batchSize, seed, hidden, learningRate, lossEvery } = options;
  const labelName = data.layout.tasks[0].name;

  const wideTable = tf.layers.embedding({ inputDim: columns.wide.tableRows, outputDim: 1, embeddingsInitializer: 'zeros' });
  const deepTable = tf.layers.embedding({
    inputDim: columns.deep.tableRows,
    outputDim: columns.deepDim,
    embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
  });
  const denseLayers = [...hidden, 1].map((units, i) =>
    tf.layers.dense({
      units,
      activation: i < hidden.length ? 'relu' : 'linear',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
    }),
  );
  const wideBias = tf.variable(tf.zeros([1]), true, 'wide_bias');
  const layers = [wideTable, deepTable, ...denseLayers];

  const forward = (wideIds: tf.Tensor, deepIds: tf.Tensor, numeric: tf.Tensor): tf.Tensor2D => {
    const wideWeights = wideTable.apply(wideIds) as tf.Tensor3D;
    const wide = tf.add(tf.sum(wideWeights, 1), wideBias);

    const embedded = deepTable.apply(deepIds) as tf.Tensor3D;
    let deep: tf.Tensor = tf.concat([tf.reshape(embedded, [-1, columns.deep.fields.length * columns.deepDim]), numeric], 1);
    for (const layer of denseLayers) deep = layer.apply(deep) as tf.Tensor;
    return tf.add(wide, deep) as tf.Tensor2D;
  };

  // Builds the layers, so that their weights exist before the optimizer's variable list is taken.
  tf.tidy(() => {
    const probe = selectRows(data, [0]);
    forward(
      tf.tensor2d(idMatrix(probe, columns.wide), [1, columns.wide.fields.length], 'int32'),
      tf.tensor2d(idMatrix(probe, columns.deep), [1, columns.deep.fields.length], 'int32'),
      tf.tensor2d(numericMatrix(probe, columns.numeric), [1, columns.numeric.length]),
    );
  });
  const variables = [wideBias, ...layers.flatMap((layer) => layer.trainableWeights.map((weight) => weight.read() as tf.Variable))];
  const optimizer = tf.train.adam(learningRate, 0.9, 0.999, 1e-8);

  const step = (batch: SparseBatch): tf.Scalar =>
    tf.tidy(() => {
      const wideIds = tf.tensor2d(idMatrix(batch, columns.wide), [batch.size, columns.wide.fields.length], 'int32');
      const deepIds = tf.tensor2d(idMatrix(batch, columns.deep), [batch.size, columns.deep.fields.length], 'int32');
      const numeric = tf.tensor2d(numericMatrix(batch, columns.numeric), [batch.size, columns.numeric.length]);
      const labels = tf.tensor2d(batch.labels[labelName], [batch.size, 1]);
      return optimizer.minimize(() => tf.losses.sigmoidCrossEntropy(labels, forward(wideIds, deepIds, numeric)) as tf.Scalar, true, variables)!;
    });

  const runEpoch = async (epoch: number, maxSteps?: number): Promise<EpochRun> => {
    const stepsPerEpoch = Math.ceil(data.size / batchSize);
    const steps = Math.min(maxSteps ?? stepsPerEpoch, stepsPerEpoch);
    let examples = 0;
    let lossSum = 0;
    let lossCount = 0;
    let done = 0;
    for (const batch of epochBatches(data, { batchSize, seed, epoch })) {
      const cost = step(batch);
      done++;
      examples += batch.size;
      if (done % lossEvery === 0 || done === steps) {
        lossSum += (await cost.data())[0];
        lossCount++;
      }
      cost.dispose();
      if (done === steps) break;
    }
    return { examples, steps: done, loss: lossSum / lossCount };
  };

  return {
    runEpoch,
    dispose(): void {
      optimizer.dispose();
      wideBias.dispose();
      for (const layer of layers) layer.dispose();
    },
  };
}
