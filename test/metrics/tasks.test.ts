// Per-task metrics with label masks, and the streaming accumulator against one call on all rows.

import { describe, expect, test } from 'vitest';

import { MetricsAccumulator, binaryMetrics, taskMetrics, type TaskPredictions } from '../../src/metrics/index.js';
import { randomRows, seededRandom } from './random.js';

/** Two tasks over the same rows: click with weights, like with a mask and NaN for missing labels. */
function twoTasks(seed: number, n: number): Record<string, TaskPredictions> {
  const click = randomRows(seed, n, 7);
  const like = randomRows(seed + 1, n, 50);
  return {
    click: { predictions: click.scores, labels: click.labels, weights: click.weights },
    like: { predictions: like.scores, labels: like.labels.map((label, i) => (like.mask[i] === 1 ? label : NaN)), mask: like.mask },
  };
}

function sliceTask(task: TaskPredictions, start: number, end: number): TaskPredictions {
  const slice = (values: ArrayLike<number> | undefined) => (values === undefined ? undefined : Array.from(values).slice(start, end));
  return { predictions: slice(task.predictions)!, labels: slice(task.labels)!, weights: slice(task.weights), mask: slice(task.mask) };
}

describe('taskMetrics', () => {
  test('each task as binaryMetrics', () => {
    const tasks = twoTasks(5, 300);
    const result = taskMetrics(tasks, { threshold: 0.4 });

    expect(Object.keys(result)).toEqual(['click', 'like']);
    expect(result.click).toEqual(binaryMetrics(tasks.click.predictions, tasks.click.labels, { weights: tasks.click.weights, threshold: 0.4 }));
    expect(result.like).toEqual(binaryMetrics(tasks.like.predictions, tasks.like.labels, { mask: tasks.like.mask, threshold: 0.4 }));
  });

  test('masked rows are not counted', () => {
    const result = taskMetrics({ like: { predictions: [0.9, 0.1, 0.8, 0.3], labels: [1, NaN, 0, NaN], mask: [1, 0, 1, 0] } });
    expect(result.like.rows).toBe(2);
    expect(result.like.auc).toBe(1);
  });

  test('error names the task', () => {
    expect(() => taskMetrics({ click: { predictions: [0.5], labels: [2] } })).toThrow('taskMetrics (task click): labels[0] is 2; expected 0 or 1');
  });
});

describe('MetricsAccumulator', () => {
  test('equals one call on all rows', () => {
    const n = 1000;
    const tasks = twoTasks(9, n);
    const accumulator = new MetricsAccumulator({ threshold: 0.45 });

    // Batches of random sizes, one of them empty.
    const random = seededRandom(21);
    const bounds = [0, 0];
    while (bounds[bounds.length - 1] < n) bounds.push(Math.min(n, bounds[bounds.length - 1] + 1 + Math.floor(random() * 150)));
    for (let b = 0; b + 1 < bounds.length; b++) {
      accumulator.add({ click: sliceTask(tasks.click, bounds[b], bounds[b + 1]), like: sliceTask(tasks.like, bounds[b], bounds[b + 1]) });
    }

    expect(accumulator.batchCount).toBe(bounds.length - 1);
    expect(accumulator.compute()).toEqual(taskMetrics(tasks, { threshold: 0.45 }));
  });

  test('logits', () => {
    const logits = [-2, 0.5, 1.5, -0.3, 3];
    const labels = [0, 1, 1, 0, 0];
    const accumulator = new MetricsAccumulator({ kind: 'logit' });
    accumulator.add({ label: { predictions: logits.slice(0, 2), labels: labels.slice(0, 2) } });
    accumulator.add({ label: { predictions: logits.slice(2), labels: labels.slice(2) } });

    expect(accumulator.compute()).toEqual(taskMetrics({ label: { predictions: logits, labels } }, { kind: 'logit' }));
  });

  test('weights in some batches only', () => {
    const accumulator = new MetricsAccumulator();
    accumulator.add({ label: { predictions: [0.2, 0.7], labels: [0, 1] } });
    accumulator.add({ label: { predictions: [0.6, 0.4], labels: [0, 1], weights: [2, 3] } });

    const oneCall = binaryMetrics([0.2, 0.7, 0.6, 0.4], [0, 1, 0, 1], { weights: [1, 1, 2, 3] });
    expect(accumulator.compute().label).toEqual(oneCall);
  });

  test('task names must match', () => {
    const accumulator = new MetricsAccumulator();
    accumulator.add({ click: { predictions: [0.5], labels: [1] } });
    expect(() => accumulator.add({ like: { predictions: [0.5], labels: [1] } })).toThrow(
      'MetricsAccumulator.add: batch 1 has tasks [like] but earlier batches had [click]',
    );
  });

  test('rejected batch leaves no trace', () => {
    const accumulator = new MetricsAccumulator();
    accumulator.add({ click: { predictions: [0.3, 0.6], labels: [0, 1] }, like: { predictions: [0.3, 0.6], labels: [1, 0] } });
    const before = accumulator.compute();

    expect(() => accumulator.add({ click: { predictions: [0.9], labels: [1] }, like: { predictions: [0.9], labels: [3] } })).toThrow(
      'MetricsAccumulator.add (batch 1, task like): labels[0] is 3; expected 0 or 1',
    );
    expect(accumulator.batchCount).toBe(1);
    expect(accumulator.compute()).toEqual(before);
  });

  test('reset starts over', () => {
    const accumulator = new MetricsAccumulator();
    accumulator.add({ click: { predictions: [0.3, 0.6], labels: [0, 1] } });
    accumulator.reset();
    expect(accumulator.compute()).toEqual({});

    accumulator.add({ like: { predictions: [0.6, 0.3], labels: [0, 1] } });
    expect(accumulator.compute().like.auc).toBe(0);
  });
});
