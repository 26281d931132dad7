// `describe`: rows read and skipped, split sizes, label balance and per-feature statistics of a data set.

import type { BatchLayout } from './batch.js';
import { BadRows } from './csv.js';
import { openData, type OpenDataOptions } from './dataset.js';
import { fit, type DataSummary } from './fit.js';
import { splitPartOf, SPLIT_PARTS } from './source.js';
import { layoutOf } from './state.js';

export interface DescribeOptions extends OpenDataOptions {
  skipBadRows?: boolean;
}

/** Report of `sparrow describe`. Its statistics are those of the training rows, which the fit learns from. */
export interface DataDescription {
  preset?: string;
  schema?: string;
  /** Split fractions and seed, when the file was split. */
  split?: { fractions: number[]; seed: number; rows: Record<string, number> };
  /** The training rows' summary: rows read, used and skipped, labels, features. */
  train: DataSummary;
  layout: BatchLayout;
}

/**
 * Describes a data set: counts the rows of each split part (one pass, when split), then fits
 * the schema on the training rows and returns the fit's summary and the batch layout.
 */
export async function describeData(options: DescribeOptions): Promise<DataDescription> {
  const data = openData(options);
  let split: DataDescription['split'];
  if (data.split && data.unsplit) {
    const rows: Record<string, number> = {};
    data.split.fractions.forEach((_, part) => (rows[SPLIT_PARTS[part]] = 0));
    for await (const row of data.unsplit.rows(new BadRows(options.skipBadRows ?? false))) rows[SPLIT_PARTS[splitPartOf(row.values, data.split)]]++;
    split = { fractions: data.split.fractions, seed: data.split.seed, rows };
  }

  const { state, summary } = await fit(data.schema, data.train, { skipBadRows: options.skipBadRows });
  return { preset: data.preset?.name, schema: data.schema.name, split, train: summary, layout: layoutOf(state) };
}

/** Formats a description as an aligned text report. */
export function formatDescription(description: DataDescription): string {
  const { train } = description;
  const lines: string[] = [];
  lines.push(`source      ${train.source}`);
  if (description.split) {
    const parts = Object.entries(description.split.rows).map(([part, count]) => `${part} ${count}`).join(', ');
    lines.push(`split       ${description.split.fractions.join(',')} (seed ${description.split.seed}): ${parts}; the statistics below are of the train part`);
  }
  lines.push(`rows        ${train.rows.read} read, ${train.rows.used} used, ${train.rows.skipped} skipped`);
  for (const [reason, count] of Object.entries(train.rows.skippedByReason)) lines.push(`  skipped (${reason}): ${count}`);
  for (const example of train.rows.skippedExamples) lines.push(`  e.g. ${example}`);

  const width = Math.max(20, ...train.features.map((feature) => feature.name.length), ...train.labels.map((label) => label.name.length));
  lines.push('', 'labels');
  for (const label of train.labels) {
    if (label.type === 'binary') {
      lines.push(`  ${label.name.padEnd(width)} binary   positive ${label.positive} (${percent(label.positiveRate!)}), negative ${label.negative}, missing ${label.missing}`);
    } else {
      const stats = label.numeric!;
      lines.push(`  ${label.name.padEnd(width)} numeric  mean ${round(stats.mean)}, std ${round(stats.std)}, min ${round(stats.min)}, max ${round(stats.max)}, missing ${label.missing}`);
    }
  }

  lines.push('', `${'features'.padEnd(width + 3)}${'type'.padEnd(12)}${'feeds'.padEnd(7)}${'missing'.padStart(9)}${'ids'.padStart(9)}  statistics`);
  const feeds = new Map<string, string>([
    ...description.layout.fields.map((field): [string, string] => [field.name, field.feeds]),
    ...description.layout.numeric.map((field): [string, string] => [field.name, field.feeds]),
  ]);
  for (const feature of train.features) {
    let statistics = '';
    if (feature.numeric) statistics = `mean ${round(feature.numeric.mean)}, std ${round(feature.numeric.std)}, min ${round(feature.numeric.min)}, max ${round(feature.numeric.max)}`;
    if (feature.distinctValues !== undefined) statistics = `${feature.distinctValues}${feature.distinctCapped ? '+' : ''} distinct in training`;
    if (feature.outOfVocabulary) statistics += `, ${feature.outOfVocabulary} values out of vocabulary`;
    if (feature.maxBagSize !== undefined) statistics += `, bags of up to ${feature.maxBagSize}`;
    if (feature.type === 'cross') statistics = `hashed cross of ${feature.columns.join(' x ')}`;
    lines.push(`  ${feature.name.padEnd(width)} ${feature.type.padEnd(12)}${(feeds.get(feature.name) ?? 'none').padEnd(7)}${String(feature.missing).padStart(9)}${String(feature.vocabularySize ?? '').padStart(9)}  ${statistics}`);
  }
  return `${lines.join('\n')}\n`;
}

function round(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : String(value);
}

function percent(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}
