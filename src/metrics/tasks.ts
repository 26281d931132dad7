// Metrics of several tasks at once, each with its own labels and label mask.

import { checkThreshold, metricsOfRows, ruleOf, type BinaryMetrics, type PredictionKind } from './binary.js';
import { gatherLabeledRows } from './inputs.js';

/** One task's predictions and labels for the rows of an evaluation set or batch. */
export interface TaskPredictions {
  predictions: ArrayLike<number>;
  /** 0 or 1 per row; a missing label may be anything (NaN in a data batch) when its mask is 0. */
  labels: ArrayLike<number>;
  /** Per row: 1 where the label is present, 0 where it is missing; the same convention as a batch's `labelMasks`. */
  mask?: ArrayLike<number>;
  /** Non-negative finite weight per row. */
  weights?: ArrayLike<number>;
}

export interface TaskMetricsOptions {
  /** Form of every task's predictions. Default 'probability'. */
  kind?: PredictionKind;
  /** Accuracy threshold on the probability, for every task. Default 0.5. */
  threshold?: number;
}

/** Computes `binaryMetrics` for each task, keyed by task name, skipping each task's rows whose label is missing. */
export function taskMetrics(tasks: Record<string, TaskPredictions>, options: TaskMetricsOptions = {}): Record<string, BinaryMetrics> {
  const kind = options.kind ?? 'probability';
  const rule = ruleOf(kind);
  const threshold = checkThreshold(options.threshold);

  const results: Record<string, BinaryMetrics> = {};
  for (const [name, task] of Object.entries(tasks)) {
    const rows = gatherLabeledRows(`taskMetrics (task ${name})`, task.predictions, task.labels, { predictions: rule, labels: 'binary' }, task);
    results[name] = metricsOfRows(rows, kind, threshold);
  }
  return results;
}
