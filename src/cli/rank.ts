// The `sparrow rank` command: scores candidate rows with a saved model and ranks them per group by the serving score.

import { Option, type Command } from 'commander';

import type { BackendName } from '../backend/backend.js';
import { computeScores, describeScore, rankByGroup, resolveScore, SCORE_KINDS, type ScoreConfig, type ScoreSource } from '../models/score.js';
import { predict } from '../train/trainer.js';
import { loadForServing } from './candidates.js';
import { addBackendOptions, parseInteger, printJson, type BackendOptions } from './common.js';

interface RankCliOptions extends BackendOptions {
  model: string;
  data: string;
  groupBy: string;
  score?: string;
  scoreKind?: string;
  top?: string;
  batchSize: string;
  skipBadRows?: boolean;
  json?: boolean;
}

/** One ranked candidate. `row` is its 1-based index among the rows scored, in file order, as in the output of `sparrow predict`. */
export interface RankedCandidate {
  row: number;
  line: number;
  score: number;
  predictions: Record<string, number>;
}

/** Adds `sparrow rank`. */
export function registerRank(program: Command): void {
  const command = program
    .command('rank')
    .description('score candidate rows with a saved model and print, per group (such as a query), the candidates ranked by the serving score')
    .requiredOption('--model <dir>', 'checkpoint directory written by sparrow train --out')
    .requiredOption('--data <csv>', 'candidate rows in the format the model was trained on; label columns may be absent')
    .requiredOption('--group-by <column>', 'column whose raw value groups the candidates, such as the query; groups print in order of first appearance')
    .option('--score <weights>', 'task weights such as click=1,like=2 (tasks not named get 0); overrides the weights saved with the model (default: 1 per task)')
    .addOption(
      new Option('--score-kind <kind>', 'how predictions p combine with weights w: sum of w x p, or product of p^w (needs p > 0); overrides the kind saved with the model (default: sum)')
        .choices([...SCORE_KINDS]),
    )
    .option('--top <n>', 'print only the best n candidates of each group')
    .option('--batch-size <n>', 'rows per forward pass', '4096')
    .option('--skip-bad-rows', 'skip and count bad CSV rows instead of stopping at the first one')
    .option('--json', 'print one JSON object as the last line instead of the tables');
  addBackendOptions(command).action(async (options: RankCliOptions) => runRank(options));
}

async function runRank(options: RankCliOptions): Promise<void> {
  const top = options.top === undefined ? Infinity : parseInteger(options.top, '--top', 1);
  const batchSize = parseInteger(options.batchSize, '--batch-size', 1);
  const { backend, loaded, rows } = await loadForServing(options, options.groupBy);
  const tasks = rows.data.layout.tasks.map((task) => task.name);

  const { score, source } = resolveScore({ tasks, weights: options.score, kind: options.scoreKind, saved: loaded.config.score });

  let predictions: Record<string, Float32Array>;
  try {
    predictions = await predict(loaded.model, rows.data, { batchSize, backend: backend.name as BackendName });
  } finally {
    loaded.model.dispose();
  }
  const scores = computeScores(score, predictions);

  const groups = rankByGroup(rows.keys!, scores).map((group) => ({
    key: group.key,
    size: group.rows.length,
    candidates: group.rows.slice(0, top).map((index): RankedCandidate => ({
      row: index + 1,
      line: rows.lines[index],
      score: scores[index],
      predictions: Object.fromEntries(tasks.map((task) => [task, predictions[task][index]])),
    })),
  }));

  if (options.json) {
    printJson({ groups, score, scoreSource: source, rows: rows.data.size, skippedRows: rows.skipped, backend: backend.name, adapter: backend.adapter });
    return;
  }
  process.stdout.write(formatRanking(groups, options.groupBy, tasks, score, source));
}

function formatRanking(groups: { key: string; size: number; candidates: RankedCandidate[] }[], column: string, tasks: string[], score: ScoreConfig, source: ScoreSource): string {
  const origin = { 'command line': 'from the command line', model: 'saved with the model', default: 'default' }[source];
  const lines = [`score ${describeScore(score)} (${origin})`];
  const header = ['rank', 'row', 'line', 'score', ...tasks];
  for (const group of groups) {
    const truncation = group.candidates.length < group.size ? `, best ${group.candidates.length} shown` : '';
    lines.push('', `${column} = ${JSON.stringify(group.key)}: ${group.size} candidate${group.size === 1 ? '' : 's'}${truncation}`);
    const table = group.candidates.map((candidate, i) => [
      String(i + 1),
      String(candidate.row),
      String(candidate.line),
      formatNumber(candidate.score),
      ...tasks.map((task) => formatNumber(candidate.predictions[task])),
    ]);
    const widths = header.map((title, c) => Math.max(title.length, ...table.map((cells) => cells[c].length)));
    for (const cells of [header, ...table]) lines.push(`  ${cells.map((cell, c) => cell.padStart(widths[c])).join('  ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-4) ? value.toExponential(4) : value.toFixed(6);
}
