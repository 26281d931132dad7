// The `sparrow inspect` command: the mean gate weight of each task over each expert of a saved MMoE or OMoE model.

import type { Command } from 'commander';

import type { BackendName } from '../backend/backend.js';
import { loadModel } from '../models/checkpoint.js';
import { MultiTaskModel, meanGateWeights } from '../models/multitask.js';
import { readServingRows } from './candidates.js';
import { addBackendOptions, checkOutputFile, initBackend, parseInteger, printJson, type BackendOptions } from './common.js';
import { writeHeatmap } from './heatmap.js';

interface InspectCliOptions extends BackendOptions {
  model: string;
  data: string;
  out: string;
  batchSize: string;
  skipBadRows?: boolean;
  json?: boolean;
}

/** Adds `sparrow inspect`. */
export function registerInspect(program: Command): void {
  const command = program
    .command('inspect')
    .description('print the mean gate weight of each task over each expert of a saved MMoE or OMoE model on CSV rows (which expert serves which task), and write it as an SVG heatmap')
    .requiredOption('--model <dir>', 'checkpoint directory written by sparrow train --out')
    .requiredOption('--data <csv>', 'rows in the format the model was trained on; label columns may be absent')
    .option('--out <svg>', 'path of the SVG heatmap (tasks x experts), written atomically', 'gates.svg')
    .option('--batch-size <n>', 'rows per forward pass', '4096')
    .option('--skip-bad-rows', 'skip and count bad CSV rows instead of stopping at the first one')
    .option('--json', 'print one JSON object as the last line instead of the table');
  addBackendOptions(command).action(async (options: InspectCliOptions) => runInspect(options));
}

async function runInspect(options: InspectCliOptions): Promise<void> {
  const batchSize = parseInteger(options.batchSize, '--batch-size', 1);
  checkOutputFile(options.out);
  const backend = await initBackend(options);
  const { model, config } = loadModel(options.model, backend.name as BackendName);
  let gates: Record<string, number[]> | null;
  let rowCount: number;
  try {
    const noGates = `inspect: the model in ${options.model} is a ${config.model.kind} model, which has no gates; gate weights exist only for mmoe and omoe models`;
    if (!(model instanceof MultiTaskModel) || model.expertCount === 0) throw new Error(noGates);
    const rows = await readServingRows(config.data, options.data, { skipBadRows: options.skipBadRows ?? false });
    rowCount = rows.data.size;
    if (rowCount === 0) throw new Error(`inspect: ${options.data} has no rows to average the gate weights over`);
    gates = await meanGateWeights(model, rows.data, { batchSize });
    if (gates === null) throw new Error(noGates);
  } finally {
    model.dispose();
  }

  const kind = config.model.kind;
  const tasks = Object.keys(gates);
  const experts = gates[tasks[0]].length;
  writeHeatmap(options.out, {
    title: `${kind}: mean gate weight per task and expert (${rowCount} rows)`,
    rowLabels: tasks,
    columnLabels: Array.from({ length: experts }, (_, e) => `expert ${e}`),
    values: tasks.map((task) => gates[task]),
    scaleLabel: 'gate weight',
  });

  if (options.json) {
    printJson({ model: kind, experts, rows: rowCount, gates, out: options.out, backend: backend.name, adapter: backend.adapter });
    return;
  }
  const width = Math.max(4, ...tasks.map((task) => task.length));
  const lines = [
    `${kind} model, ${experts} experts: mean gate weight over ${rowCount} rows (each task's weights sum to 1)`,
    `${'task'.padEnd(width)}  ${Array.from({ length: experts }, (_, e) => `expert ${e}`.padStart(9)).join('  ')}`,
    ...tasks.map((task) => `${task.padEnd(width)}  ${gates[task].map((value) => value.toFixed(4).padStart(9)).join('  ')}`),
    `wrote the heatmap to ${options.out}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
