// The training loss of a multi-task model: masked per-task means, binary tasks by BCE, numeric by squared error.

import type { BackendName } from '../backend/backend.js';
import type { SparseBatch } from '../data/batch.js';
import { tensor } from '../ops/creation.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { binaryCrossEntropyWithLogits } from '../ops/losses.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';
import { labelMatrix } from '../models/inputs.js';

/**
 * Sum over tasks of `taskWeights[t]` times the mean loss of task t over the rows whose label
 * is present: binary cross-entropy on the logit for binary tasks, squared error for numeric
 * ones. A task without labels in the batch adds nothing.
 */
export function multiTaskLoss(outputs: Tensor, batch: SparseBatch, backend: BackendName, taskWeights?: number[]): Tensor {
  const tasks = batch.layout.tasks;
  const { labels, present } = labelMatrix(batch, backend);
  const binaryWeights = new Float32Array(batch.size * tasks.length);
  const numericWeights = new Float32Array(batch.size * tasks.length);
  tasks.forEach((task, t) => {
    if (present[t] === 0) return;
    const scale = (taskWeights?.[t] ?? 1) / present[t];
    const target = task.type === 'binary' ? binaryWeights : numericWeights;
    const mask = batch.labelMasks[task.name];
    for (let row = 0; row < batch.size; row++) target[row * tasks.length + t] = mask[row] !== 0 ? scale : 0;
  });

  const shape = [batch.size, tasks.length];
  let loss: Tensor | null = null;
  if (tasks.some((task) => task.type === 'binary')) {
    const weights = tensor(binaryWeights, shape, { backend });
    loss = binaryCrossEntropyWithLogits(outputs, labels, { weights, reduction: 'sum' });
  }
  if (tasks.some((task) => task.type === 'numeric')) {
    const error = sub(outputs, labels);
    const squared = sum(mul(mul(error, error), tensor(numericWeights, shape, { backend })));
    loss = loss ? add(loss, squared) : squared;
  }
  return loss!;
}
