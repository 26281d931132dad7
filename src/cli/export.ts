// The `sparrow export` command: writes a saved model's serving graph as an ONNX file.

import { Option, type Command } from 'commander';

import { exportOnnx } from '../export/onnx-model.js';
import { writeOnnxFile } from '../export/onnx-file.js';
import { ONNX_PADDING_ID, type OnnxInputSpec } from '../export/onnx-inputs.js';
import { loadModel } from '../models/checkpoint.js';
import { describeScore, resolveScore, SCORE_KINDS } from '../models/score.js';
import { checkOutputFile, printJson } from './common.js';

interface ExportCliOptions {
  model: string;
  format: 'onnx';
  out: string;
  score?: string;
  scoreKind?: string;
  json?: boolean;
}

/** Adds `sparrow export`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write the serving graph of a saved model (wide & deep, mmoe, omoe, shared-bottom) as an ONNX file: padded ids and numeric columns in, ' +
        'task predictions and the serving score out, the bias tower left out (see docs/export.md)',
    )
    .requiredOption('--model <dir>', 'checkpoint directory written by sparrow train --out')
    .addOption(new Option('--format <format>', 'file format of the exported model').choices(['onnx']).default('onnx'))
    .option('--out <path>', 'path of the exported file, written atomically', 'model.onnx')
    .option('--score <weights>', 'task weights of the score output, such as click=1,like=2 (tasks not named get 0); overrides the weights saved with the model (default: 1 per task)')
    .addOption(
      new Option('--score-kind <kind>', 'how predictions p combine with weights w in the score output: sum of w x p, or product of p^w; overrides the kind saved with the model (default: sum)')
        .choices([...SCORE_KINDS]),
    )
    .option('--json', 'print one JSON object as the last line instead of the summary')
    .action(async (options: ExportCliOptions) => runExport(options));
}

async function runExport(options: ExportCliOptions): Promise<void> {
  // Checked first, so that a typo in the path fails before the model loads.
  checkOutputFile(options.out);

  // Export only reads weights back, so the model loads on the CPU backend, which needs no adapter.
  const { model, config } = loadModel(options.model, 'cpu');
  let exported: Awaited<ReturnType<typeof exportOnnx>>;
  let scoreInForce: ReturnType<typeof resolveScore>;
  try {
    scoreInForce = resolveScore({ tasks: model.taskNames, weights: options.score, kind: options.scoreKind, saved: config.score });
    exported = await exportOnnx(model, { score: scoreInForce.score });
  } finally {
    model.dispose();
  }
  writeOnnxFile(options.out, exported.bytes);

  const summary = {
    out: options.out,
    format: options.format,
    bytes: exported.bytes.length,
    opset: exported.opset,
    irVersion: exported.irVersion,
    model: { type: config.model.type, kind: config.model.kind },
    paddingId: ONNX_PADDING_ID,
    inputs: exported.inputs,
    outputs: exported.outputs,
    score: scoreInForce.score,
    scoreSource: scoreInForce.source,
    omitted: exported.omitted,
  };
  if (options.json) {
    printJson(summary);
    return;
  }

  // Weights and kind come from the command line or, each on its own, from the saved model (or the default).
  const stored = config.score ? 'saved with the model' : 'default';
  let origin = { 'command line': 'from the command line', model: 'saved with the model', default: 'default' }[scoreInForce.source];
  if (scoreInForce.source === 'command line' && (options.score === undefined || options.scoreKind === undefined)) {
    origin = options.score === undefined ? `kind from the command line, weights ${stored}` : `weights from the command line, kind ${stored}`;
  }
  const rows = [
    ...exported.inputs.map((input) => [input.name, `${input.dtype} [${input.shape.join(', ')}]`, describeInput(input)]),
    ...exported.outputs.map((output) => [output.name, `${output.dtype} [${output.shape.join(', ')}]`, output.columns ? `columns: ${output.columns.join(', ')}` : 'the serving score']),
  ];
  const widths = [0, 1].map((column) => Math.max(...rows.map((cells) => cells[column].length)));
  const format = (cells: string[]) => `  ${cells[0].padEnd(widths[0])}  ${cells[1].padEnd(widths[1])}  ${cells[2]}`;
  const lines = [
    `wrote ${options.out} (${exported.bytes.length} bytes, ONNX opset ${exported.opset}): ${config.model.kind} model`,
    'inputs',
    ...rows.slice(0, exported.inputs.length).map(format),
    'outputs',
    ...rows.slice(exported.inputs.length).map(format),
    `score ${describeScore(scoreInForce.score)} (${origin})`,
  ];
  if (exported.omitted.length > 0) lines.push(`left out (training only): ${exported.omitted.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function describeInput(input: OnnxInputSpec): string {
  if (input.kind === 'ids') return `ids of "${input.field}" in [0, ${input.vocabularySize}), padded with ${ONNX_PADDING_ID}`;
  if (input.kind === 'weights') return `per-id weights of "${input.field}"`;
  return `columns: ${input.columns!.join(', ')}`;
}
