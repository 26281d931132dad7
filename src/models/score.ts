// The serving score of a ranking model: task predictions combined with weights that people set, not learned.

/** Combination of the task predictions: `sum` is Σ w_k p_k, `product` is Π p_k^w_k. */
export type ScoreKind = 'sum' | 'product';

export const SCORE_KINDS: readonly ScoreKind[] = ['sum', 'product'];

/**
 * A serving score. p_k is the model's prediction for task k: a probability for a binary task
 * and the raw value for a numeric task. A task without a weight has weight 0, so it adds 0 to
 * a sum and a factor 1 to a product. Weights may be negative (for example to push down
 * predicted dismissals).
 */
export interface ScoreConfig {
  kind: ScoreKind;
  weights: Record<string, number>;
}

/** Origin of the score in force. */
export type ScoreSource = 'command line' | 'model' | 'default';

/** An invalid score: an unknown kind or task, a weight that is not a number, a product over values <= 0. */
export class ScoreError extends Error {
  override name = 'ScoreError';
}

// A strict decimal number: no empty text, hex, Infinity or NaN, which Number() would accept.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Returns the score of a model that stores none: the sum of all task predictions, weight 1 each. */
export function defaultScore(tasks: readonly string[]): ScoreConfig {
  return { kind: 'sum', weights: Object.fromEntries(tasks.map((task) => [task, 1])) };
}

/** Checks a score kind given as text, such as the value of `--score-kind`. */
export function parseScoreKind(text: string): ScoreKind {
  if (!(SCORE_KINDS as readonly string[]).includes(text)) throw new ScoreError(`score kind: invalid value "${text}"; expected one of ${SCORE_KINDS.join(', ')}`);
  return text as ScoreKind;
}

/**
 * Parses weights written as "click=1,like=2" (spaces around names and numbers are allowed).
 * Throws a ScoreError for an entry without "=", a task the model does not have (listing the
 * model's tasks), a weight that is not a finite decimal number, or a task named twice.
 */
export function parseScoreWeights(text: string, tasks: readonly string[]): Record<string, number> {
  const entries = text.split(',').map((entry) => entry.trim());
  if (text.trim() === '' || entries.some((entry) => entry === '')) {
    throw new ScoreError(`score weights: invalid value "${text}"; expected task=weight pairs separated by commas, such as ${tasks.map((task) => `${task}=1`).join(',')}`);
  }

  const weights: Record<string, number> = {};
  const unknown: string[] = [];
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    if (equals < 0) throw new ScoreError(`score weights: entry "${entry}" has no "="; expected task=weight, such as ${tasks[0] ?? 'click'}=1`);
    const task = entry.slice(0, equals).trim();
    const value = entry.slice(equals + 1).trim();
    if (!tasks.includes(task)) {
      unknown.push(task);
      continue;
    }
    if (Object.hasOwn(weights, task)) throw new ScoreError(`score weights: task "${task}" is given twice`);
    if (!NUMBER.test(value)) throw new ScoreError(`score weights: the weight of "${task}" is "${value}", which is not a number`);
    weights[task] = Number(value);
  }
  if (unknown.length > 0) {
    throw new ScoreError(`score weights: unknown task${unknown.length > 1 ? 's' : ''} ${unknown.map((task) => `"${task}"`).join(', ')}; the model's tasks are ${tasks.join(', ')}`);
  }
  return weights;
}

/**
 * Checks a score against the model's tasks (for example one read from a model's config.json)
 * and returns it. `origin` names where it came from, for the message.
 */
export function checkScore(score: unknown, tasks: readonly string[], origin = 'score'): ScoreConfig {
  const candidate = score as Partial<ScoreConfig> | null;
  if (typeof candidate !== 'object' || candidate === null) throw new ScoreError(`${origin}: expected an object { kind, weights }`);
  if (!(SCORE_KINDS as readonly unknown[]).includes(candidate.kind)) {
    throw new ScoreError(`${origin}.kind: invalid value ${JSON.stringify(candidate.kind)}; expected one of ${SCORE_KINDS.join(', ')}`);
  }
  const weights = candidate.weights;
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) throw new ScoreError(`${origin}.weights: expected an object of task weights`);

  const unknown = Object.keys(weights).filter((task) => !tasks.includes(task));
  if (unknown.length > 0) throw new ScoreError(`${origin}.weights: unknown task${unknown.length > 1 ? 's' : ''} ${unknown.map((task) => `"${task}"`).join(', ')}; the model's tasks are ${tasks.join(', ')}`);
  for (const [task, weight] of Object.entries(weights)) {
    if (typeof weight !== 'number' || !Number.isFinite(weight)) throw new ScoreError(`${origin}.weights.${task}: invalid value ${JSON.stringify(weight)}; expected a finite number`);
  }
  return { kind: candidate.kind!, weights: { ...weights } };
}

export interface ResolveScoreOptions {
  /** The model's tasks, in output order. */
  tasks: readonly string[];
  /** Weights given on the command line, as "click=1,like=2". */
  weights?: string;
  /** Kind given on the command line. */
  kind?: string;
  /** The score saved in the model's config, if any. */
  saved?: unknown;
}

/**
 * Picks the score in force. Precedence: weights and kind given on the command line override
 * the model's saved score, each on its own, so `--score-kind product` alone keeps the saved
 * weights. Without a saved score, the default is the sum of all tasks with weight 1 each.
 */
export function resolveScore(options: ResolveScoreOptions): { score: ScoreConfig; source: ScoreSource } {
  const saved = options.saved === undefined || options.saved === null ? undefined : checkScore(options.saved, options.tasks, 'model config score');
  const base = saved ?? defaultScore(options.tasks);
  if (options.weights === undefined && options.kind === undefined) return { score: base, source: saved ? 'model' : 'default' };

  return {
    score: {
      kind: options.kind === undefined ? base.kind : parseScoreKind(options.kind),
      weights: options.weights === undefined ? base.weights : parseScoreWeights(options.weights, options.tasks),
    },
    source: 'command line',
  };
}

/**
 * Computes the score of every row from per-task predictions (all of one length), in float64.
 * A product needs every prediction with a non-zero weight to be > 0, because a power of a
 * value <= 0 is 0, infinite or undefined. A binary probability that underflowed to 0 in
 * float32 fails this check too. Throws a ScoreError naming the task, row and value.
 */
export function computeScores(score: ScoreConfig, predictions: Record<string, ArrayLike<number>>): Float64Array {
  const tasks = Object.keys(predictions);
  const missing = Object.keys(score.weights).filter((task) => !Object.hasOwn(predictions, task));
  if (missing.length > 0) throw new ScoreError(`score: no predictions for task${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; predicted tasks are ${tasks.join(', ')}`);
  const rows = tasks.length > 0 ? predictions[tasks[0]].length : 0;
  for (const task of tasks) {
    if (predictions[task].length !== rows) throw new ScoreError(`score: task "${task}" has ${predictions[task].length} predictions, but "${tasks[0]}" has ${rows}`);
  }

  const weighted = Object.entries(score.weights).filter(([, weight]) => weight !== 0);
  const scores = new Float64Array(rows);
  if (score.kind === 'sum') {
    for (let row = 0; row < rows; row++) {
      let total = 0;
      for (const [task, weight] of weighted) total += weight * predictions[task][row];
      scores[row] = total;
    }
    return scores;
  }

  for (const [task, weight] of weighted) {
    const values = predictions[task];
    for (let row = 0; row < rows; row++) {
      if (!(values[row] > 0)) {
        throw new ScoreError(`score: a product score needs predictions > 0, but task "${task}" (weight ${weight}) predicts ${values[row]} for row ${row + 1}; use --score-kind sum, or give "${task}" weight 0`);
      }
    }
  }
  for (let row = 0; row < rows; row++) {
    let product = 1;
    for (const [task, weight] of weighted) product *= predictions[task][row] ** weight;
    scores[row] = product;
  }
  return scores;
}

/** Candidates of one group, as 0-based row indices ranked by descending score. */
export interface RankedGroup {
  key: string;
  rows: number[];
}

/**
 * Groups rows by `keys` (groups in order of first appearance) and ranks the rows of each group
 * by descending score. Ties keep row order, and a NaN score ranks last.
 */
export function rankByGroup(keys: readonly string[], scores: ArrayLike<number>): RankedGroup[] {
  if (keys.length !== scores.length) throw new RangeError(`rankByGroup: ${keys.length} group keys for ${scores.length} scores`);
  const groups = new Map<string, number[]>();
  keys.forEach((key, row) => {
    const rows = groups.get(key);
    if (rows) rows.push(row);
    else groups.set(key, [row]);
  });

  const descending = (a: number, b: number): number => {
    const left = scores[a];
    const right = scores[b];
    if (Number.isNaN(left) || Number.isNaN(right)) return Number(Number.isNaN(left)) - Number(Number.isNaN(right));
    return right - left;
  };
  // Array.prototype.sort is stable, so tied rows keep their order.
  return [...groups].map(([key, rows]) => ({ key, rows: rows.sort(descending) }));
}

/** Formats a score as text, such as "sum: 1 x click + 2 x like". */
export function describeScore(score: ScoreConfig): string {
  const terms = Object.entries(score.weights).filter(([, weight]) => weight !== 0);
  if (terms.length === 0) return `${score.kind}: every weight is 0`;
  if (score.kind === 'sum') return `sum: ${terms.map(([task, weight]) => `${weight} x ${task}`).join(' + ')}`;
  return `product: ${terms.map(([task, weight]) => `${task}^${weight}`).join(' x ')}`;
}
