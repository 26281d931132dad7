// Checks the arrays that the metric functions take, and the result type of a metric that can be undefined.

/**
 * A metric's value, or null with the reason it is undefined on this input (for example
 * "undefined: all 40 labels are 1" for ROC AUC). A metric never returns a stand-in number
 * such as 0.5 for an undefined value.
 */
export type MetricValue = { value: number; reason?: undefined } | { value: null; reason: string };

/** Per-row inputs shared by the metric functions. */
export interface RowOptions {
  /** Non-negative finite weight per row. A row of weight 0 adds nothing to any metric. Default: 1 for every row. */
  weights?: ArrayLike<number>;
  /** Per row: 1 where the label is present, 0 where it is missing (the row is then skipped). Default: every label present. */
  mask?: ArrayLike<number>;
}

/** The rows that a metric counts: predictions, labels and weights with masked-out rows removed. */
export interface LabeledRows {
  predictions: Float64Array;
  labels: Float64Array;
  /** Null when no weights were given, so that unweighted sums stay exact integer counts. */
  weights: Float64Array | null;
}

/** Rule for labels: exactly 0 or 1 (AUC, accuracy), or any value in [0, 1] (log loss, calibration). */
export type LabelRule = 'binary' | 'probability';

/** Rule for predictions: a score that is not NaN, a probability in [0, 1], or a finite logit. */
export type PredictionRule = 'score' | 'probability' | 'logit';

/** Returns a defined metric value. */
export function defined(value: number): MetricValue {
  return { value };
}

/** Returns an undefined metric value with its reason. */
export function undefinedBecause(reason: string): MetricValue {
  return { value: null, reason: `undefined: ${reason}` };
}

/**
 * Checks lengths, predictions, labels, weights and mask, and copies the rows whose mask is 1
 * into float64 arrays. Throws a RangeError naming the metric, the array and the row. Masked-out
 * rows are not checked, so their labels may be NaN, as the data layer stores missing labels.
 */
export function gatherLabeledRows(
  metric: string,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  rules: { predictions: PredictionRule; labels: LabelRule },
  options: RowOptions = {},
): LabeledRows {
  const n = predictions.length;
  checkLength(metric, 'labels', labels, n);
  if (options.weights !== undefined) checkLength(metric, 'weights', options.weights, n);
  if (options.mask !== undefined) checkLength(metric, 'mask', options.mask, n);

  let presentRows = n;
  if (options.mask !== undefined) {
    presentRows = 0;
    for (let i = 0; i < n; i++) {
      const flag = options.mask[i];
      if (flag !== 0 && flag !== 1) throw new RangeError(`${metric}: mask[${i}] is ${flag}; expected 1 (label present) or 0 (label missing)`);
      presentRows += flag;
    }
  }

  const selected: LabeledRows = {
    predictions: new Float64Array(presentRows),
    labels: new Float64Array(presentRows),
    weights: options.weights === undefined ? null : new Float64Array(presentRows),
  };
  let row = 0;
  for (let i = 0; i < n; i++) {
    if (options.mask !== undefined && options.mask[i] === 0) continue;

    checkPrediction(metric, i, predictions[i], rules.predictions);
    checkLabel(metric, i, labels[i], rules.labels);
    selected.predictions[row] = predictions[i];
    selected.labels[row] = labels[i];

    if (options.weights !== undefined) {
      const weight = options.weights[i];
      if (!(weight >= 0) || weight === Infinity) throw new RangeError(`${metric}: weights[${i}] is ${weight}; expected a finite number >= 0`);
      selected.weights![row] = weight;
    }
    row++;
  }
  return selected;
}

function checkLength(metric: string, name: string, values: ArrayLike<number>, expected: number): void {
  if (values.length !== expected) {
    throw new RangeError(`${metric}: ${name} has ${values.length} rows but predictions has ${expected}; pass one value per prediction`);
  }
}

function checkPrediction(metric: string, row: number, value: number, rule: PredictionRule): void {
  if (rule === 'score' && Number.isNaN(value)) {
    throw new RangeError(`${metric}: predictions[${row}] is NaN; a NaN score has no rank, so the model output must be fixed first`);
  }
  if (rule === 'probability' && !(value >= 0 && value <= 1)) {
    throw new RangeError(`${metric}: predictions[${row}] is ${value}; expected a probability in [0, 1] (for logits pass kind: 'logit')`);
  }
  if (rule === 'logit' && !Number.isFinite(value)) {
    throw new RangeError(`${metric}: predictions[${row}] is ${value}; expected a finite logit (an overflow in the model output, or diverged training)`);
  }
}

function checkLabel(metric: string, row: number, label: number, rule: LabelRule): void {
  const hint = Number.isNaN(label) ? '; mask out a missing label with mask[row] = 0' : '';
  if (rule === 'binary' && label !== 0 && label !== 1) {
    throw new RangeError(`${metric}: labels[${row}] is ${label}; expected 0 or 1${hint}`);
  }
  if (rule === 'probability' && !(label >= 0 && label <= 1)) {
    throw new RangeError(`${metric}: labels[${row}] is ${label}; expected a value in [0, 1]${hint}`);
  }
}

/** Sum of the weights, or the row count without weights. */
export function totalWeight(rows: LabeledRows): number {
  if (rows.weights === null) return rows.labels.length;
  let sum = 0;
  for (let i = 0; i < rows.weights.length; i++) sum += rows.weights[i];
  return sum;
}

/** Weight of row i (1 without weights). */
export function weightAt(rows: LabeledRows, i: number): number {
  return rows.weights === null ? 1 : rows.weights[i];
}
