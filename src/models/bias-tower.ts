// The selection-bias tower: a shallow MLP over position, device and other bias features, used in training only.

import type { BackendName } from '../backend/backend.js';
import type { BatchLayout, SparseBatch } from '../data/batch.js';
import { ShapeError } from '../errors.js';
import { MLP } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { EmbeddedInput } from './embedded-input.js';
import { FeatureDropout } from './masked-dropout.js';

export interface BiasTowerOptions {
  /** Hidden layer sizes; [] makes the tower linear. A hidden layer lets it cross position with device. */
  hidden: number[];
  /** Probability of zeroing a dropout feature of a row in training. */
  dropout: number;
  /** Names of the bias fields and numeric columns that dropout applies to. */
  dropoutFeatures: string[];
  embeddingInitScale: number;
  seed: number;
}

/** Names of the sparse fields and numeric columns that feed the bias tower (feeds "bias"). */
export function biasFeatureNames(layout: BatchLayout): string[] {
  return [...layout.fields, ...layout.numeric].filter((feature) => feature.feeds === 'bias').map((feature) => feature.name);
}

/**
 * One logit [B, 1] from the embeddings of the "bias" fields and the "bias" numeric columns.
 * It learns how much of a label the presentation explains (a top slot is clicked more whatever
 * the item), so the other towers learn the rest. Feature dropout on position keeps the main
 * towers from leaving all of the position signal to this tower.
 */
export class BiasTower extends Module {
  readonly input: EmbeddedInput;
  readonly featureDropout: FeatureDropout;
  readonly mlp: MLP;

  constructor(layout: BatchLayout, options: BiasTowerOptions, backend: BackendName) {
    super();
    const fields = layout.fields.filter((field) => field.feeds === 'bias');
    const columns = layout.numeric.flatMap((column, i) => (column.feeds === 'bias' ? [i] : []));
    if (fields.length === 0 && columns.length === 0) throw new ShapeError('model: the bias tower needs fields or numeric columns with feeds "bias"');
    this.input = this.registerModule(
      'input',
      new EmbeddedInput(fields, { layout: layout.numeric, columns }, { embeddingInitScale: options.embeddingInitScale, seed: options.seed * 31 + 5, what: 'bias tower' }, backend),
    );

    const known = new Set(this.input.columns.map((column) => column.name));
    const unknown = options.dropoutFeatures.filter((name) => !known.has(name));
    if (unknown.length > 0) throw new ShapeError(`model: bias dropout features [${unknown}] are not bias features; choose from [${[...known]}]`);
    const dropped = this.input.columns.filter((column) => options.dropoutFeatures.includes(column.name));
    this.featureDropout = this.registerModule('featureDropout', new FeatureDropout(options.dropout, options.seed * 37 + 11, dropped));
    this.mlp = this.registerModule('mlp', new MLP(this.input.width, options.hidden, { outFeatures: 1, seed: options.seed * 41 + 3, backend }));
  }

  /** Computes the bias logit [B, 1]. */
  forward(batch: SparseBatch, backend: BackendName): Tensor {
    return this.mlp.forward(this.featureDropout.forward(this.input.forward(batch, backend)));
  }
}
