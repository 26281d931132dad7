// Exact ROC AUC: the Mann-Whitney U statistic with midranks for ties, optionally weighted.

import { defined, gatherLabeledRows, undefinedBecause, weightAt, type MetricValue, type RowOptions, type LabeledRows } from './inputs.js';

/**
 * Computes the exact area under the ROC curve in O(n log n): the probability that a random
 * positive row scores above a random negative row, where a tie counts one half. With
 * weights, each (positive, negative) pair counts with the product of their weights.
 *
 * Scores may be probabilities, logits or any other ranking score (no NaN); labels must be
 * exactly 0 or 1. The value is undefined (null, with the reason) when the counted rows hold
 * only one class, or when all rows of a class have weight 0.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, options: RowOptions = {}): MetricValue {
  const rows = gatherLabeledRows('rocAuc', scores, labels, { predictions: 'score', labels: 'binary' }, options);
  return aucOfRows(rows);
}

/** ROC AUC of rows that `gatherLabeledRows` has already checked. */
export function aucOfRows(rows: LabeledRows): MetricValue {
  const undefinedReason = classReason(rows);
  if (undefinedReason !== null) return undefinedBecause(undefinedReason);

  const scores = rows.predictions;
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // NaN was rejected, so the comparison is a total order; -0 and 0 compare equal and tie.
  order.sort((a, b) => compareScores(scores[a], scores[b]));

  // Walk the scores in ascending order, one group of tied scores at a time. Each positive
  // in a group beats every negative below the group and ties with the negatives inside it.
  let negativeBelow = 0;
  let positiveTotal = 0;
  let area = 0;
  let start = 0;
  while (start < order.length) {
    let end = start;
    let positiveInGroup = 0;
    let negativeInGroup = 0;
    while (end < order.length && scores[order[end]] === scores[order[start]]) {
      const row = order[end];
      if (rows.labels[row] === 1) positiveInGroup += weightAt(rows, row);
      else negativeInGroup += weightAt(rows, row);
      end++;
    }

    area += positiveInGroup * (negativeBelow + 0.5 * negativeInGroup);
    negativeBelow += negativeInGroup;
    positiveTotal += positiveInGroup;
    start = end;
  }

  return defined(area / (positiveTotal * negativeBelow));
}

function compareScores(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

/** Returns the reason the AUC is undefined on these rows, or null when both classes have weight. */
function classReason(rows: LabeledRows): string | null {
  const n = rows.labels.length;
  if (n === 0) return 'no rows with a label';

  let positives = 0;
  let positiveWeight = 0;
  let negativeWeight = 0;
  for (let i = 0; i < n; i++) {
    if (rows.labels[i] === 1) {
      positives++;
      positiveWeight += weightAt(rows, i);
    } else {
      negativeWeight += weightAt(rows, i);
    }
  }

  if (positives === n) return `all ${n} labels are 1`;
  if (positives === 0) return `all ${n} labels are 0`;
  if (positiveWeight === 0) return `all ${positives} rows with label 1 have weight 0`;
  if (negativeWeight === 0) return `all ${n - positives} rows with label 0 have weight 0`;
  return null;
}
