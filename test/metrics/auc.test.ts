// ROC AUC against the pairwise definition, hand-computed cases, undefined cases and input checks.

import { describe, expect, test } from 'vitest';

import { rocAuc } from '../../src/metrics/index.js';
import { pairwiseAuc, randomRows, seededRandom } from './random.js';

describe('rocAuc against pairwise count', () => {
  // Sizes: tiny, prime, and large enough that one sort order bug would show.
  const cases = [
    { n: 2, levels: 2 },
    { n: 7, levels: 3 },
    { n: 61, levels: 4 },
    { n: 500, levels: 10 },
    { n: 1009, levels: 1000 },
  ];

  for (const { n, levels } of cases) {
    test(`unweighted, n ${n}, ${levels} score levels`, () => {
      for (let seed = 1; seed <= 5; seed++) {
        const rows = randomRows(seed * 100 + n, n, levels);
        const hasBothClasses = rows.labels.includes(0) && rows.labels.includes(1);
        if (!hasBothClasses) continue;

        // Both sums are exact multiples of 0.5 below 2^53 and divide the same pair count.
        expect(rocAuc(rows.scores, rows.labels).value, `seed ${seed}`).toBe(pairwiseAuc(rows.scores, rows.labels));
      }
    });

    test(`weighted, n ${n}, ${levels} score levels`, () => {
      for (let seed = 1; seed <= 5; seed++) {
        const rows = randomRows(seed * 100 + n, n, levels);
        const expected = pairwiseAuc(rows.scores, rows.labels, rows.weights);
        if (!Number.isFinite(expected)) continue;

        // Weights are multiples of 1/8, so the sums are exact; only the summation order differs.
        expect(rocAuc(rows.scores, rows.labels, { weights: rows.weights }).value, `seed ${seed}`).toBeCloseTo(expected, 12);
      }
    });
  }

  test('masked rows left out', () => {
    const rows = randomRows(7, 300, 6);
    const scores = rows.scores.filter((_, i) => rows.mask[i] === 1);
    const labels = rows.labels.filter((_, i) => rows.mask[i] === 1);
    const masked = rows.labels.map((label, i) => (rows.mask[i] === 1 ? label : NaN));

    expect(rocAuc(rows.scores, masked, { mask: rows.mask }).value).toBe(pairwiseAuc(scores, labels));
  });
});

describe('rocAuc by hand', () => {
  test('no ties', () => {
    // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats 0.1, 0.8 beats both: 3 / 4.
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]).value).toBe(0.75);
  });

  test('one tie counts one half', () => {
    // Positives 0.5 and 0.9, negatives 0.5 and 0.2: 0.5 ties 0.5 (1/2), the other three pairs win: 3.5 / 4.
    expect(rocAuc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]).value).toBe(0.875);
  });

  test('all scores tied', () => {
    expect(rocAuc([3, 3, 3, 3, 3], [1, 0, 0, 1, 0]).value).toBe(0.5);
  });

  test('perfect and reversed ranking', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]).value).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]).value).toBe(0);
  });

  test('negative zero ties zero', () => {
    expect(rocAuc([-0, 0], [1, 0]).value).toBe(0.5);
  });

  test('infinite scores rank at the ends', () => {
    expect(rocAuc([-Infinity, Infinity, 0], [0, 1, 0]).value).toBe(1);
  });

  test('float32 input', () => {
    expect(rocAuc(new Float32Array([0.1, 0.4, 0.35, 0.8]), new Float32Array([0, 0, 1, 1])).value).toBe(0.75);
  });

  test('weighted pairs', () => {
    // Positive 0.35 (weight 3) beats negative 0.1 (weight 1): 3. Positive 0.8 (weight 1) beats
    // 0.1 (weight 1) and 0.4 (weight 2): 1 + 2. Total 6 out of (3 + 1) * (1 + 2) = 12.
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], { weights: [1, 2, 3, 1] }).value).toBe(0.5);
  });

  test('integer weights equal repeated rows', () => {
    const random = seededRandom(11);
    const scores: number[] = [];
    const labels: number[] = [];
    const weights: number[] = [];
    const repeatedScores: number[] = [];
    const repeatedLabels: number[] = [];
    for (let i = 0; i < 80; i++) {
      const score = Math.floor(random() * 5);
      const label = random() < 0.4 ? 1 : 0;
      const weight = Math.floor(random() * 4);
      scores.push(score);
      labels.push(label);
      weights.push(weight);
      for (let k = 0; k < weight; k++) {
        repeatedScores.push(score);
        repeatedLabels.push(label);
      }
    }

    expect(rocAuc(scores, labels, { weights }).value).toBe(rocAuc(repeatedScores, repeatedLabels).value);
  });
});

describe('rocAuc undefined', () => {
  test('all labels 1', () => {
    expect(rocAuc([0.2, 0.7, 0.9], [1, 1, 1])).toEqual({ value: null, reason: 'undefined: all 3 labels are 1' });
  });

  test('all labels 0', () => {
    expect(rocAuc([0.2, 0.7], [0, 0])).toEqual({ value: null, reason: 'undefined: all 2 labels are 0' });
  });

  test('no rows', () => {
    expect(rocAuc([], [])).toEqual({ value: null, reason: 'undefined: no rows with a label' });
  });

  test('mask leaves one class', () => {
    expect(rocAuc([0.2, 0.7, 0.9], [1, NaN, 1], { mask: [1, 0, 1] })).toEqual({ value: null, reason: 'undefined: all 2 labels are 1' });
  });

  test('positives all weight 0', () => {
    expect(rocAuc([0.2, 0.7, 0.9], [1, 0, 1], { weights: [0, 1, 0] })).toEqual({ value: null, reason: 'undefined: all 2 rows with label 1 have weight 0' });
  });

  test('negatives all weight 0', () => {
    expect(rocAuc([0.2, 0.7, 0.9], [1, 0, 1], { weights: [1, 0, 2] })).toEqual({ value: null, reason: 'undefined: all 1 rows with label 0 have weight 0' });
  });
});

describe('rocAuc input checks', () => {
  test('length mismatch', () => {
    expect(() => rocAuc([0.1, 0.2], [1])).toThrow('rocAuc: labels has 1 rows but predictions has 2');
  });

  test('label not 0 or 1', () => {
    expect(() => rocAuc([0.1, 0.2], [1, 2])).toThrow('rocAuc: labels[1] is 2; expected 0 or 1');
  });

  test('unmasked NaN label', () => {
    expect(() => rocAuc([0.1, 0.2], [NaN, 1])).toThrow('rocAuc: labels[0] is NaN; expected 0 or 1; mask out a missing label with mask[row] = 0');
  });

  test('NaN score', () => {
    expect(() => rocAuc([0.1, NaN], [0, 1])).toThrow('rocAuc: predictions[1] is NaN');
  });

  test('negative weight', () => {
    expect(() => rocAuc([0.1, 0.2], [0, 1], { weights: [1, -1] })).toThrow('rocAuc: weights[1] is -1; expected a finite number >= 0');
  });

  test('mask value not 0 or 1', () => {
    expect(() => rocAuc([0.1, 0.2], [0, 1], { mask: [1, 0.5] })).toThrow('rocAuc: mask[1] is 0.5; expected 1 (label present) or 0 (label missing)');
  });
});
