// Exports the serving graph of a Wide & Deep or multi-task model as ONNX: task predictions and the human-set score.

import type { BatchLayout } from '../data/batch.js';
import { MultiTaskModel } from '../models/multitask.js';
import type { SavedModel } from '../models/checkpoint.js';
import { checkScore, type ScoreConfig } from '../models/score.js';
import { WideAndDeep } from '../models/wide-deep.js';
import { OnnxExportError } from './errors.js';
import { ONNX_IR_VERSION, ONNX_OPSET } from './onnx-graph.js';
import { BATCH_DIM, ONNX_PADDING_ID, type OnnxInputSpec, type OnnxOutputSpec } from './onnx-inputs.js';
import { ServingGraph } from './onnx-layers.js';

/** Protocol buffers cannot encode a message of 2 GiB or more, and ONNX files are one message. */
const MAX_MODEL_BYTES = 2 ** 31 - 1;

/** Room left under MAX_MODEL_BYTES for the graph's nodes, names and metadata. */
const GRAPH_OVERHEAD_BYTES = 16 * 2 ** 20;

export interface OnnxExportOptions {
  /** Serving score computed by the graph's `score` output, checked against the model's tasks. */
  score: ScoreConfig;
  /** Version written as the model's producer version (default "0.1.0"). */
  producerVersion?: string;
}

/** An exported model: the ONNX file's bytes and its input and output layout. */
export interface OnnxExport {
  bytes: Uint8Array;
  opset: number;
  irVersion: number;
  inputs: OnnxInputSpec[];
  outputs: OnnxOutputSpec[];
  /** Dotted names of model parts that the serving graph leaves out, such as the bias tower. */
  omitted: string[];
}

/**
 * Builds the serving graph of `model` as an ONNX model (opset 17): the model in evaluation
 * mode (no dropout, no gate dropout, no bias tower), a sigmoid on binary tasks, and the
 * score. Inputs are the padded ids of every field the graph reads, weights of weighted
 * fields, and the numeric columns, as OnnxInputSpec describes. Outputs are `predictions`
 * float32 [batch, tasks] (probabilities for binary tasks, values for numeric ones) and
 * `score` float32 [batch]. Throws OnnxExportError for a layer the exporter does not support.
 */
export async function exportOnnx(model: SavedModel, options: OnnxExportOptions): Promise<OnnxExport> {
  const tasks = model.layout.tasks.map((task) => task.name);
  const score = checkScore(options.score, tasks, 'onnx export score');
  const used = servingInputs(model);
  const serving = new ServingGraph(model.layout, used.fields, used.numeric);

  const omitted: string[] = [];
  let logits: string;
  let description: string;
  if (model instanceof WideAndDeep) {
    logits = await wideAndDeepLogits(serving, model);
    description = `Sparrow ${model.config.kind} model`;
  } else {
    logits = await multiTaskLogits(serving, model);
    if (model.biasTower) omitted.push('biasTower');
    description = `Sparrow ${model.config.kind} multi-task model`;
  }

  const predictions = servingPredictions(serving, model.layout, logits);
  const scoreValue = scoreOutput(serving, score, tasks, predictions);
  serving.graph.rename(predictions, 'predictions');
  serving.graph.rename(scoreValue, 'score');
  const outputs: OnnxOutputSpec[] = [
    { name: 'predictions', dtype: 'float32', shape: [BATCH_DIM, tasks.length], columns: tasks },
    { name: 'score', dtype: 'float32', shape: [BATCH_DIM] },
  ];
  for (const output of outputs) serving.graph.addOutput(output.name, output.dtype, output.shape);

  if (serving.graph.weightBytes > MAX_MODEL_BYTES - GRAPH_OVERHEAD_BYTES) {
    throw new OnnxExportError(
      undefined,
      `the model's weights take ${serving.graph.weightBytes} bytes, too many for one ONNX file (protocol buffers stop at 2 GiB) and the exporter does not write external data files; use smaller embedding tables or fewer hash buckets`,
    );
  }

  const metadata: Record<string, string> = {
    'sparrow.model': JSON.stringify(model instanceof WideAndDeep ? { type: 'wide-deep', kind: model.config.kind } : { type: 'multitask', kind: model.config.kind }),
    'sparrow.inputs': JSON.stringify(serving.inputs),
    'sparrow.outputs': JSON.stringify(outputs),
    'sparrow.score': JSON.stringify(score),
    'sparrow.padding_id': String(ONNX_PADDING_ID),
  };
  const docString =
    `${description}, serving graph. Inputs: per field, int64 ids [batch, length] padded with ${ONNX_PADDING_ID} ` +
    '(and float32 weights of weighted fields); float32 numeric columns. Outputs: predictions [batch, tasks], score [batch].';
  const bytes = serving.graph.encode({ graphName: 'sparrow_serving', docString, metadata, producerVersion: options.producerVersion ?? '0.1.0' });
  return { bytes, opset: ONNX_OPSET, irVersion: ONNX_IR_VERSION, inputs: serving.inputs, outputs, omitted };
}

/** Fields and numeric columns that the serving graph reads: those of the wide and deep parts, not the bias tower's. */
function servingInputs(model: SavedModel): { fields: Set<string>; numeric: Set<number> } {
  const fields = new Set<string>();
  const numeric = new Set<number>();
  const wide = model.wide;
  const deep = model instanceof WideAndDeep ? model.deep : model.input;
  if (wide) {
    for (const field of wide.group?.fields ?? []) fields.add(field.name);
    for (const column of wide.numericColumns) numeric.add(column);
  }
  if (deep) {
    for (const group of deep.groups) for (const field of group.fields) fields.add(field.name);
    for (const column of deep.numericColumns) numeric.add(column);
  }
  if (fields.size === 0 && numeric.size === 0) {
    throw new OnnxExportError(undefined, 'the model reads no field or numeric column at serving, so its output does not depend on its input; give it wide or deep features');
  }
  return { fields, numeric };
}

/** Adds the logits [B, T] of Wide & Deep: the wide part's plus the deep tower's. */
async function wideAndDeepLogits(serving: ServingGraph, model: WideAndDeep): Promise<string> {
  const wide = model.wide ? await serving.wideLogits(model.wide, 'wide') : null;
  let deep: string | null = null;
  if (model.deep) {
    const features = await serving.embeddedFeatures(model.deep, 'deep');
    deep = await serving.mlp(model.deep.mlp, features, 'deep.mlp');
  }
  if (wide && deep) return serving.graph.op('Add', [wide, deep], 'output');
  if (deep) return deep;

  // Without a deep part, the wide logits are [B, T] because servingInputs found a wide input.
  return wide!;
}

/**
 * Adds the outputs [B, T] of a multi-task model as its `forward` computes them in evaluation
 * mode: shared layers, then the shared bottom or the gated mixture of experts, the task
 * towers, and the wide logits of `wideTasks`. The bias tower is training-only and left out.
 */
async function multiTaskLogits(serving: ServingGraph, model: MultiTaskModel): Promise<string> {
  const graph = serving.graph;
  let features = await serving.embeddedFeatures(model.input, 'input');
  if (model.shared) features = await serving.mlp(model.shared, features, 'shared');

  const towerInputs: string[] = [];
  if (model.bottom) {
    const bottom = await serving.mlp(model.bottom, features, 'bottom');
    for (let t = 0; t < model.towers.length; t++) towerInputs.push(bottom);
  } else {
    const stackedParts: string[] = [];
    for (const [e, expert] of model.experts.entries()) {
      const output = await serving.mlp(expert, features, `expert${e}`);
      stackedParts.push(graph.op('Unsqueeze', [output, serving.ints([1])], `expert${e}`));
    }
    const stacked = stackedParts.length === 1 ? stackedParts[0] : graph.op('Concat', stackedParts, 'experts', { axis: 1 });

    // Each gate mixes the experts' outputs [B, E, H] with its softmax weights [B, E, 1].
    const mixtures: string[] = [];
    for (const [g, gate] of model.gateLayers.entries()) {
      const weights = graph.op('Softmax', [await serving.linear(gate, features, `gate${g}`)], `gate${g}`, { axis: 1 });
      const expanded = graph.op('Unsqueeze', [weights, serving.ints([2])], `gate${g}`);
      mixtures.push(graph.op('ReduceSum', [graph.op('Mul', [stacked, expanded], `gate${g}`), serving.ints([1])], `gate${g}`, { keepdims: 0 }));
    }
    for (let t = 0; t < model.towers.length; t++) towerInputs.push(mixtures[mixtures.length === 1 ? 0 : t]);
  }

  const heads: string[] = [];
  for (const [t, tower] of model.towers.entries()) heads.push(await serving.mlp(tower, towerInputs[t], `tower${t}`));
  let outputs = heads.length === 1 ? heads[0] : graph.op('Concat', heads, 'towers', { axis: 1 });

  if (model.wide) {
    // The same 0/1 matrix as the model's: wide task w goes to its column among all tasks.
    const taskNames = model.taskNames;
    const wideTasks = model.config.wideTasks;
    const selection = new Float32Array(wideTasks.length * taskNames.length);
    wideTasks.forEach((name, w) => (selection[w * taskNames.length + taskNames.indexOf(name)] = 1));
    const placement = graph.addFloats('wide.selection', [wideTasks.length, taskNames.length], selection);
    const wide = await serving.wideLogits(model.wide, 'wide');
    outputs = graph.op('Add', [outputs, graph.op('MatMul', [wide, placement], 'wide')], 'output');
  }
  return outputs;
}

/** Applies the sigmoid to the binary tasks' columns, as `predict` does. */
function servingPredictions(serving: ServingGraph, layout: BatchLayout, logits: string): string {
  const graph = serving.graph;
  const binary = layout.tasks.map((task) => task.type === 'binary');
  if (binary.every((isBinary) => !isBinary)) return logits;
  const probabilities = graph.op('Sigmoid', [logits], 'predictions');
  if (binary.every((isBinary) => isBinary)) return probabilities;

  const mask = graph.addInitializer('predictions.binary_tasks', { dtype: 'bool', dims: [binary.length], data: Uint8Array.from(binary, Number) });
  return graph.op('Where', [mask, probabilities, logits], 'predictions');
}

/**
 * Adds the score over the tasks with a non-zero weight, as `computeScores` defines it: the
 * sum of w_k p_k, or the product of p_k^w_k. Without such tasks the score is the empty sum 0
 * or the empty product 1 for every row.
 */
function scoreOutput(serving: ServingGraph, score: ScoreConfig, tasks: string[], predictions: string): string {
  const graph = serving.graph;
  const weighted = tasks.flatMap((task, t) => (score.weights[task] !== undefined && score.weights[task] !== 0 ? [{ t, weight: score.weights[task] }] : []));
  if (weighted.length === 0) {
    const batch = graph.op('Shape', [predictions], 'score', { start: 0, end: 1 });
    const empty = score.kind === 'sum' ? 0 : 1;
    return graph.op('ConstantOfShape', [batch], 'score', { value: { tensor: { dtype: 'float32', dims: [1], data: Float32Array.of(empty) } } });
  }

  const columns = graph.op('Gather', [predictions, serving.ints(weighted.map(({ t }) => t))], 'score', { axis: 1 });
  const weights = graph.addFloats('score.weights', [weighted.length], weighted.map(({ weight }) => weight));
  if (score.kind === 'sum') {
    return graph.op('ReduceSum', [graph.op('Mul', [columns, weights], 'score'), serving.ints([1])], 'score', { keepdims: 0 });
  }
  // ReduceProd takes its axes as an attribute up to opset 17.
  // NOTE: unlike computeScores, the graph does not reject a weighted prediction <= 0 in a product; Pow gives 0, infinity or NaN there.
  return graph.op('ReduceProd', [graph.op('Pow', [columns, weights], 'score')], 'score', { axes: [1], keepdims: 0 });
}
