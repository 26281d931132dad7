// Log loss, accuracy at a threshold and calibration of binary predictions, and all metrics at once.

import { aucOfRows } from './auc.js';
import { defined, gatherLabeledRows, totalWeight, undefinedBecause, weightAt, type MetricValue, type PredictionRule, type RowOptions, type LabeledRows } from './inputs.js';

/**
 * Probabilities are clamped to [LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON] (in float64) before
 * the logarithm, so a confidently wrong row costs at most -ln(1e-7), about 16.12, instead of
 * infinity. 1e-7 is also the epsilon of Keras's binary cross-entropy.
 */
export const LOG_LOSS_EPSILON = 1e-7;

/** Form of the predictions: probabilities in [0, 1], or logits (the input of the sigmoid). */
export type PredictionKind = 'probability' | 'logit';

export interface BinaryOptions extends RowOptions {
  /** Default 'probability'. */
  kind?: PredictionKind;
}

export interface AccuracyOptions extends BinaryOptions {
  /** A row is predicted positive when its probability is strictly above the threshold. Default 0.5. */
  threshold?: number;
}

/** All binary metrics of one task. A metric is null when it is undefined, with its reason in `undefinedReasons`. */
export interface BinaryMetrics {
  /** Rows counted: those whose label is present. */
  rows: number;
  /** Sum of the weights of the counted rows (equal to `rows` without weights). */
  weight: number;
  auc: number | null;
  logLoss: number | null;
  accuracy: number | null;
  calibration: number | null;
  /** Weighted mean predicted probability; null when no counted row has weight. */
  meanPrediction: number | null;
  /** Weighted mean label; null when no counted row has weight. */
  meanLabel: number | null;
  /** Why each null metric is undefined, such as "undefined: all 12 labels are 1". */
  undefinedReasons: { auc?: string; logLoss?: string; accuracy?: string; calibration?: string };
}

/**
 * Computes the weighted mean binary cross-entropy. With kind 'probability', each probability
 * is first clamped to [LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON]. With kind 'logit', the loss is
 * computed from the logit z without clamping, as max(z, 0) - z * y + log1p(exp(-|z|)), which
 * neither overflows nor rounds a confident prediction to a probability of exactly 0 or 1.
 * Labels may be any value in [0, 1].
 */
export function logLoss(predictions: ArrayLike<number>, labels: ArrayLike<number>, options: BinaryOptions = {}): MetricValue {
  const kind = options.kind ?? 'probability';
  const rows = gatherLabeledRows('logLoss', predictions, labels, { predictions: ruleOf(kind), labels: 'probability' }, options);
  return logLossOfRows(rows, kind);
}

/**
 * Computes the weighted fraction of rows whose predicted class matches the label. The
 * predicted class is 1 when the probability is strictly above `threshold`. For logits, it is 1
 * when the logit is above ln(t / (1 - t)), which is 0 at the default threshold 0.5. Labels must
 * be 0 or 1.
 */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>, options: AccuracyOptions = {}): MetricValue {
  const kind = options.kind ?? 'probability';
  const threshold = checkThreshold(options.threshold);
  const rows = gatherLabeledRows('accuracy', predictions, labels, { predictions: ruleOf(kind), labels: 'binary' }, options);
  return accuracyOfRows(rows, kind, threshold);
}

/**
 * Computes the calibration ratio: weighted mean predicted probability divided by weighted mean
 * label. 1 is calibrated, above 1 over-predicts. Undefined when the mean label is 0. Logits
 * are turned into probabilities with the sigmoid in float64. Labels may be any value in [0, 1].
 */
export function calibration(predictions: ArrayLike<number>, labels: ArrayLike<number>, options: BinaryOptions = {}): MetricValue {
  const kind = options.kind ?? 'probability';
  const rows = gatherLabeledRows('calibration', predictions, labels, { predictions: ruleOf(kind), labels: 'probability' }, options);
  return calibrationOfRows(rows, kind);
}

/**
 * Computes ROC AUC, log loss, accuracy and calibration of one binary task in one pass over
 * checked inputs. AUC is computed on the predictions as given; for logits that avoids the
 * false ties of probabilities that round to 1 in float32. Labels must be 0 or 1.
 */
export function binaryMetrics(predictions: ArrayLike<number>, labels: ArrayLike<number>, options: AccuracyOptions = {}): BinaryMetrics {
  const kind = options.kind ?? 'probability';
  const threshold = checkThreshold(options.threshold);
  const rows = gatherLabeledRows('binaryMetrics', predictions, labels, { predictions: ruleOf(kind), labels: 'binary' }, options);
  return metricsOfRows(rows, kind, threshold);
}

/** Computes all metrics of rows that `gatherLabeledRows` has already checked with binary labels. */
export function metricsOfRows(rows: LabeledRows, kind: PredictionKind, threshold: number): BinaryMetrics {
  const weight = totalWeight(rows);
  const auc = aucOfRows(rows);
  const loss = logLossOfRows(rows, kind);
  const hits = accuracyOfRows(rows, kind, threshold);
  const ratio = calibrationOfRows(rows, kind);
  const means = weight > 0 ? weightedMeans(rows, kind) : null;

  const undefinedReasons: BinaryMetrics['undefinedReasons'] = {};
  if (auc.reason !== undefined) undefinedReasons.auc = auc.reason;
  if (loss.reason !== undefined) undefinedReasons.logLoss = loss.reason;
  if (hits.reason !== undefined) undefinedReasons.accuracy = hits.reason;
  if (ratio.reason !== undefined) undefinedReasons.calibration = ratio.reason;

  return {
    rows: rows.labels.length,
    weight,
    auc: auc.value,
    logLoss: loss.value,
    accuracy: hits.value,
    calibration: ratio.value,
    meanPrediction: means?.prediction ?? null,
    meanLabel: means?.label ?? null,
    undefinedReasons,
  };
}

/** Checks a threshold in [0, 1] and applies the default 0.5. */
export function checkThreshold(threshold: number | undefined): number {
  if (threshold === undefined) return 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`accuracy: threshold is ${threshold}; expected a probability in [0, 1]`);
  return threshold;
}

export function ruleOf(kind: PredictionKind): PredictionRule {
  if (kind !== 'probability' && kind !== 'logit') throw new RangeError(`metrics: kind is ${String(kind)}; expected 'probability' or 'logit'`);
  return kind;
}

function logLossOfRows(rows: LabeledRows, kind: PredictionKind): MetricValue {
  const weight = totalWeight(rows);
  if (weight === 0) return undefinedBecause(noWeightReason(rows));

  let sum = 0;
  for (let i = 0; i < rows.labels.length; i++) {
    const y = rows.labels[i];
    let loss: number;
    if (kind === 'logit') {
      const z = rows.predictions[i];
      loss = Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    } else {
      const p = Math.min(Math.max(rows.predictions[i], LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
      loss = -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
    }
    sum += weightAt(rows, i) * loss;
  }
  return defined(sum / weight);
}

function accuracyOfRows(rows: LabeledRows, kind: PredictionKind, threshold: number): MetricValue {
  const weight = totalWeight(rows);
  if (weight === 0) return undefinedBecause(noWeightReason(rows));

  // sigmoid(z) > t exactly when z > ln(t / (1 - t)); the ends give -Infinity and Infinity.
  const cut = kind === 'logit' ? Math.log(threshold / (1 - threshold)) : threshold;
  let correct = 0;
  for (let i = 0; i < rows.labels.length; i++) {
    const predicted = rows.predictions[i] > cut ? 1 : 0;
    if (predicted === rows.labels[i]) correct += weightAt(rows, i);
  }
  return defined(correct / weight);
}

function calibrationOfRows(rows: LabeledRows, kind: PredictionKind): MetricValue {
  if (totalWeight(rows) === 0) return undefinedBecause(noWeightReason(rows));

  const means = weightedMeans(rows, kind);
  if (means.label === 0) return undefinedBecause(`mean label is 0 (no positive label among ${rows.labels.length} rows), so mean prediction / mean label has no value`);
  return defined(means.prediction / means.label);
}

function weightedMeans(rows: LabeledRows, kind: PredictionKind): { prediction: number; label: number } {
  const weight = totalWeight(rows);
  let predictionSum = 0;
  let labelSum = 0;
  for (let i = 0; i < rows.labels.length; i++) {
    const p = kind === 'logit' ? sigmoid(rows.predictions[i]) : rows.predictions[i];
    predictionSum += weightAt(rows, i) * p;
    labelSum += weightAt(rows, i) * rows.labels[i];
  }
  return { prediction: predictionSum / weight, label: labelSum / weight };
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

function noWeightReason(rows: LabeledRows): string {
  return rows.labels.length === 0 ? 'no rows with a label' : `all ${rows.labels.length} rows have weight 0`;
}
