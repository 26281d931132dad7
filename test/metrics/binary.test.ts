// Log loss, accuracy, calibration and binaryMetrics on hand-computed cases.

import { describe, expect, test } from 'vitest';

import { LOG_LOSS_EPSILON, accuracy, binaryMetrics, calibration, logLoss, rocAuc } from '../../src/metrics/index.js';
import { randomRows } from './random.js';

describe('logLoss by hand', () => {
  test('probabilities', () => {
    // Row 0: -ln 0.9; row 1 (label 0): -ln(1 - 0.2).
    expect(logLoss([0.9, 0.2], [1, 0]).value).toBeCloseTo((-Math.log(0.9) - Math.log(0.8)) / 2, 15);
  });

  test('clamped at the epsilon', () => {
    expect(LOG_LOSS_EPSILON).toBe(1e-7);
    expect(logLoss([0], [1]).value).toBeCloseTo(-Math.log(1e-7), 12);
    // The upper clamp 1 - 1e-7 rounds in float64, so 1 - p is 1e-7 only to about 9 digits.
    expect(logLoss([1], [0]).value).toBe(-Math.log(1 - (1 - 1e-7)));
    expect(logLoss([1], [0]).value).toBeCloseTo(-Math.log(1e-7), 8);
    expect(logLoss([1], [1]).value).toBeCloseTo(-Math.log(1 - 1e-7), 18);
  });

  test('soft labels', () => {
    // y = 0.25, p = 0.5: -(0.25 ln 0.5 + 0.75 ln 0.5) = ln 2.
    expect(logLoss([0.5], [0.25]).value).toBeCloseTo(Math.LN2, 15);
  });

  test('weighted mean', () => {
    // (3 * -ln 0.9 + 1 * -ln 0.8) / 4.
    expect(logLoss([0.9, 0.2], [1, 0], { weights: [3, 1] }).value).toBeCloseTo((-3 * Math.log(0.9) - Math.log(0.8)) / 4, 15);
  });

  test('logits', () => {
    // z = 2, y = 1: ln(1 + e^-2). z = -1, y = 0: ln(1 + e^-1). z = 0: ln 2 for either label.
    const expected = (Math.log1p(Math.exp(-2)) + Math.log1p(Math.exp(-1)) + Math.LN2) / 3;
    expect(logLoss([2, -1, 0], [1, 0, 1], { kind: 'logit' }).value).toBeCloseTo(expected, 15);
  });

  test('large logits neither overflow nor clamp', () => {
    // A confidently wrong logit of 1000 costs 1000; a confidently right one costs e^-1000, which is 0 in float64.
    expect(logLoss([1000], [0], { kind: 'logit' }).value).toBe(1000);
    expect(logLoss([-1000], [0], { kind: 'logit' }).value).toBe(0);
    expect(logLoss([-40], [1], { kind: 'logit' }).value).toBeCloseTo(40, 12);
  });

  test('logits agree with probabilities', () => {
    const logits = [-3.5, -0.2, 0.7, 2.25, 4];
    const labels = [0, 1, 1, 0, 1];
    const probabilities = logits.map((z) => 1 / (1 + Math.exp(-z)));
    expect(logLoss(logits, labels, { kind: 'logit' }).value).toBeCloseTo(logLoss(probabilities, labels).value!, 14);
  });

  test('no weight is undefined', () => {
    expect(logLoss([], [])).toEqual({ value: null, reason: 'undefined: no rows with a label' });
    expect(logLoss([0.5, 0.5], [1, 0], { weights: [0, 0] })).toEqual({ value: null, reason: 'undefined: all 2 rows have weight 0' });
  });

  test('probability out of range', () => {
    expect(() => logLoss([0.5, 1.5], [1, 0])).toThrow("logLoss: predictions[1] is 1.5; expected a probability in [0, 1] (for logits pass kind: 'logit')");
  });

  test('infinite logit', () => {
    expect(() => logLoss([Infinity], [1], { kind: 'logit' })).toThrow('logLoss: predictions[0] is Infinity; expected a finite logit');
  });

  test('label out of range', () => {
    expect(() => logLoss([0.5], [-0.5])).toThrow('logLoss: labels[0] is -0.5; expected a value in [0, 1]');
  });
});

describe('accuracy by hand', () => {
  // Probabilities 0.7, 0.5, 0.2, 0.6 against labels 1, 1, 0, 0.
  const probabilities = [0.7, 0.5, 0.2, 0.6];
  const labels = [1, 1, 0, 0];

  test('default threshold is strict', () => {
    // Predicted 1, 0 (0.5 is not above 0.5), 0, 1: rows 0 and 2 correct.
    expect(accuracy(probabilities, labels).value).toBe(0.5);
  });

  test('lower threshold', () => {
    // Predicted 1, 1, 0, 1: rows 0, 1 and 2 correct.
    expect(accuracy(probabilities, labels, { threshold: 0.4 }).value).toBe(0.75);
  });

  test('weighted', () => {
    // Correct rows 0 and 2 carry 1 + 4 of the total weight 1 + 2 + 4 + 3 = 10.
    expect(accuracy(probabilities, labels, { weights: [1, 2, 4, 3] }).value).toBe(0.5);
  });

  test('logits', () => {
    // At threshold 0.5 the cut is logit 0, strict: predicted 1, 0, 0, 1.
    expect(accuracy([0.8, 0, -1, 2], labels, { kind: 'logit' }).value).toBe(0.5);
    // At threshold 0.8 the cut is ln 4 = 1.386: predicted 0, 0, 0, 1.
    expect(accuracy([0.8, 0, -1, 2], labels, { kind: 'logit', threshold: 0.8 }).value).toBe(0.25);
  });

  test('threshold out of range', () => {
    expect(() => accuracy(probabilities, labels, { threshold: 1.2 })).toThrow('accuracy: threshold is 1.2; expected a probability in [0, 1]');
  });

  test('soft label rejected', () => {
    expect(() => accuracy([0.5], [0.3])).toThrow('accuracy: labels[0] is 0.3; expected 0 or 1');
  });
});

describe('calibration by hand', () => {
  test('mean prediction over mean label', () => {
    // Mean prediction 0.3, mean label 0.5.
    expect(calibration([0.2, 0.4], [0, 1]).value).toBeCloseTo(0.6, 15);
  });

  test('weighted', () => {
    // Mean prediction (0.2 + 3 * 0.4) / 4 = 0.35, mean label 3 / 4.
    expect(calibration([0.2, 0.4], [0, 1], { weights: [1, 3] }).value).toBeCloseTo(0.35 / 0.75, 15);
  });

  test('logits', () => {
    // sigmoid(0) = 0.5 and sigmoid(ln 3) = 0.75: mean prediction 0.625 over mean label 0.5.
    expect(calibration([0, Math.log(3)], [1, 0], { kind: 'logit' }).value).toBeCloseTo(1.25, 15);
  });

  test('mean label 0 is undefined', () => {
    expect(calibration([0.2, 0.4], [0, 0])).toEqual({
      value: null,
      reason: 'undefined: mean label is 0 (no positive label among 2 rows), so mean prediction / mean label has no value',
    });
  });
});

describe('binaryMetrics', () => {
  test('matches the single metrics', () => {
    const rows = randomRows(3, 400, 20);
    const options = { weights: rows.weights, mask: rows.mask, threshold: 0.3 };
    const labels = rows.labels.map((label, i) => (rows.mask[i] === 1 ? label : NaN));
    const result = binaryMetrics(rows.scores, labels, options);

    expect(result.auc).toBe(rocAuc(rows.scores, labels, options).value);
    expect(result.logLoss).toBe(logLoss(rows.scores, labels, options).value);
    expect(result.accuracy).toBe(accuracy(rows.scores, labels, options).value);
    expect(result.calibration).toBe(calibration(rows.scores, labels, options).value);
    expect(result.rows).toBe(rows.mask.reduce((sum, flag) => sum + flag, 0));
    expect(result.undefinedReasons).toEqual({});
  });

  test('means and weight by hand', () => {
    const result = binaryMetrics([0.2, 0.4, 0.9], [0, 1, 1], { weights: [2, 1, 1] });
    expect(result.rows).toBe(3);
    expect(result.weight).toBe(4);
    expect(result.meanPrediction).toBeCloseTo((0.4 + 0.4 + 0.9) / 4, 15);
    expect(result.meanLabel).toBe(0.5);
  });

  test('one class reports reasons', () => {
    const result = binaryMetrics([0.2, 0.4], [0, 0]);
    expect(result.auc).toBeNull();
    expect(result.calibration).toBeNull();
    expect(result.undefinedReasons).toEqual({
      auc: 'undefined: all 2 labels are 0',
      calibration: 'undefined: mean label is 0 (no positive label among 2 rows), so mean prediction / mean label has no value',
    });
    expect(result.logLoss).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 15);
    expect(result.accuracy).toBe(1);
  });

  test('no rows', () => {
    const result = binaryMetrics([0.2], [NaN], { mask: [0] });
    expect(result.rows).toBe(0);
    expect(result.meanPrediction).toBeNull();
    expect(result.meanLabel).toBeNull();
    expect(result.undefinedReasons.logLoss).toBe('undefined: no rows with a label');
  });
});
