// Evaluation metrics on host arrays: exact ROC AUC, log loss, accuracy, calibration, per task and streaming.

export { rocAuc } from './auc.js';
export {
  LOG_LOSS_EPSILON,
  accuracy,
  binaryMetrics,
  calibration,
  logLoss,
  type AccuracyOptions,
  type BinaryMetrics,
  type BinaryOptions,
  type PredictionKind,
} from './binary.js';
export { taskMetrics, type TaskMetricsOptions, type TaskPredictions } from './tasks.js';
export { MetricsAccumulator } from './accumulator.js';
export type { MetricValue, RowOptions } from './inputs.js';
