// The serving score: the sum and product formulas on hand-computed values, weight parsing, precedence and ranking.

import { describe, expect, test } from 'vitest';

import {
  computeScores, defaultScore, parseScoreWeights, rankByGroup, resolveScore, ScoreError,
} from '../src/models/score.js';

const TASKS = ['click', 'like', 'watch_time'];

describe('computeScores', () => {
  test('sum on known values', () => {
    const predictions = { click: [0.5, 0.2], like: [0.1, 0.4] };
    const scores = computeScores({ kind: 'sum', weights: { click: 1, like: 2 } }, predictions);
    // 1 x 0.5 + 2 x 0.1 = 0.7 and 1 x 0.2 + 2 x 0.4 = 1.0.
    expect(scores[0]).toBeCloseTo(0.7, 12);
    expect(scores[1]).toBeCloseTo(1.0, 12);
  });

  test('sum with a negative weight and an unweighted task', () => {
    const predictions = { click: [0.5], like: [0.25], dismiss: [0.75] };
    const scores = computeScores({ kind: 'sum', weights: { click: 2, dismiss: -1 } }, predictions);
    // 2 x 0.5 - 1 x 0.75 = 0.25; like has no weight and adds nothing.
    expect(scores[0]).toBeCloseTo(0.25, 12);
  });

  test('product on known values', () => {
    const predictions = { click: [0.5, 0.25], like: [0.5, 0.8] };
    const scores = computeScores({ kind: 'product', weights: { click: 1, like: 2 } }, predictions);
    // 0.5^1 x 0.5^2 = 0.125 and 0.25^1 x 0.8^2 = 0.16.
    expect(scores[0]).toBeCloseTo(0.125, 12);
    expect(scores[1]).toBeCloseTo(0.16, 12);
  });

  test('product with fractional weights on a numeric task', () => {
    const predictions = { click: [0.64], watch_time: [100] };
    const scores = computeScores({ kind: 'product', weights: { click: 0.5, watch_time: 0.5 } }, predictions);
    // sqrt(0.64) x sqrt(100) = 0.8 x 10 = 8.
    expect(scores[0]).toBeCloseTo(8, 10);
  });

  test('product ignores tasks of weight 0, even at values <= 0', () => {
    const scores = computeScores({ kind: 'product', weights: { click: 2, like: 0 } }, { click: [0.5], like: [0] });
    expect(scores[0]).toBeCloseTo(0.25, 12);
  });

  test('product rejects a value <= 0', () => {
    const score = { kind: 'product' as const, weights: { click: 1, watch_time: 1 } };
    expect(() => computeScores(score, { click: [0.5, 0.5], watch_time: [3, -2] })).toThrow(ScoreError);
    expect(() => computeScores(score, { click: [0.5, 0.5], watch_time: [3, -2] })).toThrow(/task "watch_time" \(weight 1\) predicts -2 for row 2/);
    expect(() => computeScores(score, { click: [0], watch_time: [3] })).toThrow(/predicts 0 for row 1/);
  });

  test('default score sums every task with weight 1', () => {
    expect(defaultScore(TASKS)).toEqual({ kind: 'sum', weights: { click: 1, like: 1, watch_time: 1 } });
    const scores = computeScores(defaultScore(['click', 'like']), { click: [0.25], like: [0.5] });
    expect(scores[0]).toBeCloseTo(0.75, 12);
  });

  test('weights of a task without predictions are rejected', () => {
    expect(() => computeScores({ kind: 'sum', weights: { rating: 1 } }, { click: [0.5] })).toThrow(/no predictions for task rating/);
  });
});

describe('parseScoreWeights', () => {
  test('parses task=weight pairs', () => {
    expect(parseScoreWeights('click=1,like=2', TASKS)).toEqual({ click: 1, like: 2 });
    expect(parseScoreWeights(' click = 0.5 , watch_time=-1e-3 ', TASKS)).toEqual({ click: 0.5, watch_time: -0.001 });
  });

  test('lists unknown task names', () => {
    expect(() => parseScoreWeights('click=1,share=2,rating=1', TASKS)).toThrow(ScoreError);
    expect(() => parseScoreWeights('click=1,share=2,rating=1', TASKS)).toThrow(/unknown tasks "share", "rating"; the model's tasks are click, like, watch_time/);
  });

  test('rejects non-numeric weights', () => {
    for (const text of ['click=abc', 'click=', 'click=1x', 'click=Infinity', 'click=NaN', 'click=0x10']) {
      expect(() => parseScoreWeights(text, TASKS), text).toThrow(/the weight of "click" is .* not a number/);
    }
  });

  test('rejects malformed lists', () => {
    expect(() => parseScoreWeights('', TASKS)).toThrow(/expected task=weight pairs/);
    expect(() => parseScoreWeights('click=1,,like=2', TASKS)).toThrow(/expected task=weight pairs/);
    expect(() => parseScoreWeights('click', TASKS)).toThrow(/entry "click" has no "="/);
    expect(() => parseScoreWeights('click=1,click=2', TASKS)).toThrow(/task "click" is given twice/);
  });
});

describe('resolveScore', () => {
  const saved = { kind: 'product', weights: { click: 1, like: 3 } };

  test('command line overrides the saved score', () => {
    expect(resolveScore({ tasks: TASKS, weights: 'like=2', kind: 'sum', saved })).toEqual({ score: { kind: 'sum', weights: { like: 2 } }, source: 'command line' });
  });

  test('kind alone keeps the saved weights', () => {
    expect(resolveScore({ tasks: TASKS, kind: 'sum', saved })).toEqual({ score: { kind: 'sum', weights: { click: 1, like: 3 } }, source: 'command line' });
  });

  test('saved score applies without options', () => {
    expect(resolveScore({ tasks: TASKS, saved })).toEqual({ score: saved, source: 'model' });
  });

  test('default without options or saved score', () => {
    expect(resolveScore({ tasks: TASKS })).toEqual({ score: defaultScore(TASKS), source: 'default' });
  });

  test('invalid saved score or kind is rejected', () => {
    expect(() => resolveScore({ tasks: TASKS, saved: { kind: 'max', weights: {} } })).toThrow(/model config score.kind: invalid value "max"/);
    expect(() => resolveScore({ tasks: TASKS, saved: { kind: 'sum', weights: { share: 1 } } })).toThrow(/unknown task "share"/);
    expect(() => resolveScore({ tasks: TASKS, saved: { kind: 'sum', weights: { click: '1' } } })).toThrow(/weights.click: invalid value "1"/);
    expect(() => resolveScore({ tasks: TASKS, kind: 'mean' })).toThrow(/score kind: invalid value "mean"/);
  });
});

describe('rankByGroup', () => {
  test('orders each group by descending score', () => {
    const keys = ['q1', 'q2', 'q1', 'q1', 'q2'];
    const scores = [0.2, 0.5, 0.9, 0.4, 0.7];
    expect(rankByGroup(keys, scores)).toEqual([
      { key: 'q1', rows: [2, 3, 0] },
      { key: 'q2', rows: [4, 1] },
    ]);
  });

  test('ties keep row order and NaN ranks last', () => {
    const keys = ['a', 'a', 'a', 'a'];
    expect(rankByGroup(keys, [NaN, 0.5, 0.5, 0.9])).toEqual([{ key: 'a', rows: [3, 1, 2, 0] }]);
  });
});
