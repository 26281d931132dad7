// Collects per-task predictions batch by batch and computes the same metrics as one call on all rows.

import { checkThreshold, metricsOfRows, ruleOf, type BinaryMetrics, type PredictionKind } from './binary.js';
import { gatherLabeledRows, type LabeledRows } from './inputs.js';
import type { TaskMetricsOptions, TaskPredictions } from './tasks.js';

/**
 * Streaming evaluation: `add` one batch of every task at a time, then `compute` once. The
 * result equals `taskMetrics` on the concatenated batches bit for bit, because the rows are
 * kept in order and the same code computes them.
 *
 * Each batch is checked when it is added, so an error names the batch and the row in it.
 * Every batch must carry the same task names. Exact AUC needs every score, so the accumulator
 * keeps the rows with a label: 16 bytes per row and task, 24 with weights.
 */
export class MetricsAccumulator {
  private readonly kind: PredictionKind;
  private readonly threshold: number;
  private readonly chunks = new Map<string, LabeledRows[]>();
  private batches = 0;

  constructor(options: TaskMetricsOptions = {}) {
    this.kind = options.kind ?? 'probability';
    ruleOf(this.kind);
    this.threshold = checkThreshold(options.threshold);
  }

  /** Number of batches added since construction or the last `reset`. */
  get batchCount(): number {
    return this.batches;
  }

  /** Checks one batch of every task and keeps its rows that have a label. */
  add(tasks: Record<string, TaskPredictions>): void {
    const names = Object.keys(tasks);
    if (this.batches > 0) this.checkTaskNames(names);

    const selected = new Map<string, LabeledRows>();
    for (const name of names) {
      const task = tasks[name];
      const where = `MetricsAccumulator.add (batch ${this.batches}, task ${name})`;
      selected.set(name, gatherLabeledRows(where, task.predictions, task.labels, { predictions: ruleOf(this.kind), labels: 'binary' }, task));
    }

    // Store only after every task passed its checks, so a rejected batch leaves no trace.
    for (const [name, rows] of selected) {
      const list = this.chunks.get(name) ?? [];
      list.push(rows);
      this.chunks.set(name, list);
    }
    this.batches++;
  }

  /** Computes every task's metrics over all batches added so far. */
  compute(): Record<string, BinaryMetrics> {
    const results: Record<string, BinaryMetrics> = {};
    for (const [name, list] of this.chunks) results[name] = metricsOfRows(concatRows(list), this.kind, this.threshold);
    return results;
  }

  /** Drops every stored batch, for the next evaluation. */
  reset(): void {
    this.chunks.clear();
    this.batches = 0;
  }

  private checkTaskNames(names: string[]): void {
    const known = [...this.chunks.keys()];
    const missing = known.filter((name) => !names.includes(name));
    const extra = names.filter((name) => !this.chunks.has(name));
    if (missing.length > 0 || extra.length > 0) {
      throw new RangeError(
        `MetricsAccumulator.add: batch ${this.batches} has tasks [${names.join(', ')}] but earlier batches had [${known.join(', ')}]; pass every task in every batch (mask out missing labels)`,
      );
    }
  }
}

/** Concatenates checked rows in order; batches without weights count with weight 1 when others have weights. */
function concatRows(list: LabeledRows[]): LabeledRows {
  const total = list.reduce((sum, rows) => sum + rows.labels.length, 0);
  const weighted = list.some((rows) => rows.weights !== null);
  const result: LabeledRows = {
    predictions: new Float64Array(total),
    labels: new Float64Array(total),
    weights: weighted ? new Float64Array(total) : null,
  };

  let offset = 0;
  for (const rows of list) {
    result.predictions.set(rows.predictions, offset);
    result.labels.set(rows.labels, offset);
    if (result.weights !== null) {
      if (rows.weights !== null) result.weights.set(rows.weights, offset);
      else result.weights.fill(1, offset, offset + rows.labels.length);
    }
    offset += rows.labels.length;
  }
  return result;
}
