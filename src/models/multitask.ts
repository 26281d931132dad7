// Multi-task models: shared-bottom, OMoE and MMoE (Ma et al., KDD 2018), with an optional wide part and bias tower.

import type { BackendName } from '../backend/backend.js';
import { selectRows, type BatchLayout, type SparseBatch } from '../data/batch.js';
import { ShapeError } from '../errors.js';
import { Linear, MLP } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { tensor } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { sum } from '../ops/reduce.js';
import { concat } from '../ops/shape-ops.js';
import { softmax } from '../ops/softmax.js';
import { keep, noGrad, tidy } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { BiasTower } from './bias-tower.js';
import { EmbeddedInput } from './embedded-input.js';
import { GateDropout } from './masked-dropout.js';
import { resolveMultiTaskConfig, type MultiTaskConfig, type ResolvedMultiTaskConfig } from './multitask-config.js';
import { WideLinear } from './wide-deep.js';

export { MULTI_TASK_KINDS, matchingBottomSize, mlpParameterCount, resolveMultiTaskConfig } from './multitask-config.js';
export type { MultiTaskConfig, MultiTaskKind, ResolvedMultiTaskConfig } from './multitask-config.js';

/**
 * Several tasks learned from one input: the embeddings of the "deep" and "both" fields
 * concatenated with the deep numeric columns, then optional shared hidden layers.
 *
 * - shared-bottom: one MLP (`bottomHidden`) feeds every task's tower.
 * - omoe: `experts` MLPs mixed by one softmax gate for all tasks.
 * - mmoe: the same experts mixed by one softmax gate per task.
 *
 * Gates read the experts' input. Each task's tower (`towerHidden`) ends in a head with one
 * output: a logit for binary tasks, a value for numeric ones. In training, gate dropout zeroes
 * expert weights and renormalizes, and the bias tower's logit is added to `biasTasks`. In
 * evaluation the bias tower is left out, which is the serving output.
 */
export class MultiTaskModel extends Module {
  readonly config: ResolvedMultiTaskConfig;
  readonly input: EmbeddedInput;
  readonly shared: MLP | null;
  readonly bottom: MLP | null;
  readonly experts: MLP[];
  /** One gate for OMoE, one per task for MMoE, none for shared-bottom. */
  readonly gateLayers: Linear[];
  readonly gateDropout: GateDropout | null;
  readonly towers: MLP[];
  readonly wide: WideLinear | null;
  readonly biasTower: BiasTower | null;
  /** [wideTasks, T] 0/1 matrix that places the wide logits in their task columns. */
  private readonly wideSelection: Tensor | null;
  /** [1, T] 0/1 row: which task columns get the bias logit. */
  private readonly biasSelection: Tensor | null;

  constructor(
    readonly layout: BatchLayout,
    config: MultiTaskConfig,
    readonly backend: BackendName,
  ) {
    super();
    if (layout.tasks.length === 0) throw new ShapeError('model: the schema has no label');
    const seed = config.seed ?? 1;
    const embeddingInitScale = config.embeddingInitScale ?? 0.05;
    const deepFields = layout.fields.filter((field) => field.feeds === 'deep' || field.feeds === 'both');
    const deepColumns = layout.numeric.flatMap((column, i) => (column.feeds === 'deep' || column.feeds === 'both' ? [i] : []));
    this.input = this.registerModule(
      'input',
      new EmbeddedInput(deepFields, { layout: layout.numeric, columns: deepColumns }, { embeddingInitScale, seed, what: 'deep input' }, backend),
    );
    const sharedHidden = config.sharedHidden ?? [];
    this.config = resolveMultiTaskConfig(config, layout, () => (sharedHidden.length > 0 ? sharedHidden[sharedHidden.length - 1] : this.input.width));
    const c = this.config;
    const tasks = layout.tasks.length;
    const mlpOptions = (mlpSeed: number) => ({ dropout: c.dropout, seed: mlpSeed, backend });

    this.shared = c.sharedHidden.length > 0 ? this.registerModule('shared', new MLP(this.input.width, c.sharedHidden, mlpOptions(seed * 1009 + 1))) : null;
    const expertInput = this.shared?.outputSize ?? this.input.width;

    let towerInput: number;
    if (c.kind === 'shared-bottom') {
      this.bottom = this.registerModule('bottom', new MLP(expertInput, c.bottomHidden, mlpOptions(seed * 1013 + 2)));
      this.experts = [];
      this.gateLayers = [];
      this.gateDropout = null;
      towerInput = this.bottom.outputSize;
    } else {
      this.bottom = null;
      this.experts = Array.from({ length: c.experts }, (_, e) =>
        this.registerModule(`expert${e}`, new MLP(expertInput, c.expertHidden, mlpOptions(seed * 1019 + 97 * e + 3))),
      );
      const gateCount = c.kind === 'mmoe' ? tasks : 1;
      this.gateLayers = Array.from({ length: gateCount }, (_, g) =>
        this.registerModule(`gate${g}`, new Linear(expertInput, c.experts, { seed: seed * 1021 + 89 * g + 4, backend })),
      );
      this.gateDropout = this.registerModule('gateDropout', new GateDropout(c.gateDropout, seed * 1031 + 5));
      towerInput = c.expertHidden[c.expertHidden.length - 1];
    }
    this.towers = layout.tasks.map((_, t) =>
      this.registerModule(`tower${t}`, new MLP(towerInput, c.towerHidden, { ...mlpOptions(seed * 1033 + 83 * t + 6), outFeatures: 1 })),
    );

    const taskNames = this.taskNames;
    if (c.wideTasks.length > 0) {
      const wideLayout: BatchLayout = { ...layout, tasks: layout.tasks.filter((task) => c.wideTasks.includes(task.name)) };
      this.wide = this.registerModule('wide', new WideLinear(wideLayout, backend, seed));
      const selection = new Float32Array(c.wideTasks.length * tasks);
      c.wideTasks.forEach((name, w) => (selection[w * tasks + taskNames.indexOf(name)] = 1));
      this.wideSelection = keep(tensor(selection, [c.wideTasks.length, tasks], { backend }));
    } else {
      this.wide = null;
      this.wideSelection = null;
    }

    if (c.biasTasks.length > 0) {
      const biasOptions = { hidden: c.biasHidden, dropout: c.biasDropout, dropoutFeatures: c.biasDropoutFeatures, embeddingInitScale, seed };
      this.biasTower = this.registerModule('biasTower', new BiasTower(layout, biasOptions, backend));
      const selection = Float32Array.from(taskNames, (name) => (c.biasTasks.includes(name) ? 1 : 0));
      this.biasSelection = keep(tensor(selection, [1, tasks], { backend }));
    } else {
      this.biasTower = null;
      this.biasSelection = null;
    }
  }

  get taskNames(): string[] {
    return this.layout.tasks.map((task) => task.name);
  }

  /** Number of experts; 0 for shared-bottom. */
  get expertCount(): number {
    return this.experts.length;
  }

  /** Loss weights in task order, which the trainer uses unless its options give others. */
  get lossWeights(): number[] {
    return this.taskNames.map((name) => this.config.taskWeights[name]);
  }

  /**
   * Outputs [B, T], one column per task in layout order: logits for binary tasks, values for
   * numeric ones. Training mode adds the bias tower's logit to `biasTasks`; evaluation mode
   * leaves it out, as serving does.
   */
  forward(batch: SparseBatch): Tensor {
    const features = this.features(batch);
    let towerInputs: Tensor[];
    if (this.bottom) {
      const bottom = this.bottom.forward(features);
      towerInputs = this.towers.map(() => bottom);
    } else {
      const stacked = this.expertOutputs(features);
      const mixtures = this.gateLayers.map((gate) => {
        const weights = this.gateDropout!.forward(softmax(gate.forward(features), 1));
        return sum(mul(stacked, weights.reshape([batch.size, this.experts.length, 1])), 1);
      });
      towerInputs = this.towers.map((_, t) => mixtures[mixtures.length === 1 ? 0 : t]);
    }
    const heads = this.towers.map((tower, t) => tower.forward(towerInputs[t]));
    let outputs = heads.length === 1 ? heads[0] : concat(heads, 1);

    if (this.wide && this.wideSelection) outputs = add(outputs, matmul(this.wide.forward(batch, this.backend), this.wideSelection));
    if (this.training && this.biasTower && this.biasSelection) outputs = add(outputs, mul(this.biasTower.forward(batch, this.backend), this.biasSelection));
    return outputs;
  }

  /**
   * Computes the gate weights [B, E] per task name as serving sees them: in evaluation mode,
   * so without gate dropout or dropout in the shared layers, whatever the model's mode. Under
   * OMoE every task maps to the same tensor. Null for shared-bottom, which has no gates.
   */
  gates(batch: SparseBatch): Record<string, Tensor> | null {
    if (this.gateLayers.length === 0) return null;
    const wasTraining = this.training;
    this.eval();
    try {
      const features = this.features(batch);
      const weights = this.gateLayers.map((gate) => softmax(gate.forward(features), 1));
      return Object.fromEntries(this.taskNames.map((name, t) => [name, weights[weights.length === 1 ? 0 : t]]));
    } finally {
      if (wasTraining) this.train();
    }
  }

  /** Parameters of the wide part and of everything else, for their own optimizers. */
  parameterParts(): { wide: Record<string, Tensor>; deep: Record<string, Tensor> } {
    const wide: Record<string, Tensor> = {};
    const deep: Record<string, Tensor> = {};
    for (const [name, tensor] of this.namedParameters()) {
      if (name.startsWith('wide.')) wide[name] = tensor;
      else deep[name] = tensor;
    }
    return { wide, deep };
  }

  override dispose(): void {
    super.dispose();
    this.wideSelection?.dispose();
    this.biasSelection?.dispose();
  }

  /** Computes the experts' input [B, width]: embeddings and numbers, through the shared layers if any. */
  private features(batch: SparseBatch): Tensor {
    const input = this.input.forward(batch, this.backend);
    return this.shared ? this.shared.forward(input) : input;
  }

  /** Stacks every expert's output as [B, E, H]. */
  private expertOutputs(features: Tensor): Tensor {
    const outputs = this.experts.map((expert) => {
      const output = expert.forward(features);
      return output.reshape([output.shape[0], 1, output.shape[1]]);
    });
    return outputs.length === 1 ? outputs[0] : concat(outputs, 1);
  }
}

/**
 * Mean gate weight of each task over each expert on `data`, in evaluation mode and without
 * gradients: which experts serve which task. Null for shared-bottom.
 */
export async function meanGateWeights(model: MultiTaskModel, data: SparseBatch, options: { batchSize?: number } = {}): Promise<Record<string, number[]> | null> {
  if (model.expertCount === 0) return null;
  const batchSize = options.batchSize ?? 4096;
  const totals: Record<string, Float64Array> = Object.fromEntries(model.taskNames.map((name) => [name, new Float64Array(model.expertCount)]));
  const wasTraining = model.training;
  model.eval();
  try {
    for (let start = 0; start < data.size; start += batchSize) {
      const rows = Array.from({ length: Math.min(batchSize, data.size - start) }, (_, i) => start + i);
      const batch = selectRows(data, rows);
      const gates = noGrad(() => tidy(() => model.gates(batch)!));
      for (const name of model.taskNames) {
        const values = await gates[name].data();
        for (let i = 0; i < values.length; i++) totals[name][i % model.expertCount] += values[i];
      }
      for (const gate of Object.values(gates)) gate.dispose();
    }
  } finally {
    if (wasTraining) model.train();
  }
  return Object.fromEntries(Object.entries(totals).map(([name, total]) => [name, Array.from(total, (value) => (data.size > 0 ? value / data.size : NaN))]));
}
