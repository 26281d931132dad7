// A short seeded foodio training run that the browser test runs in Chromium and in Node, to compare their results.

import * as sp from '../src/browser.js';

export interface TrainingRunOptions {
  backend: sp.BackendName;
  /** Training rows of foodio; the test part has a quarter as many. */
  rows: number;
  seed: number;
  epochs: number;
  batchSize: number;
  /** The loss is read back every this many steps, and at the end of each epoch. */
  lossEvery: number;
}

export const TRAINING_RUN: Omit<TrainingRunOptions, 'backend'> = {
  rows: 4096,
  seed: 3,
  epochs: 4,
  batchSize: 64,
  lossEvery: 16,
};

export interface TrainingRunResult {
  backend: sp.BackendName;
  adapter: string;
  steps: number;
  /** The losses read back during training, in step order. */
  losses: number[];
  /** Test-part metrics of the `consumed` label. */
  auc: number;
  logloss: number;
  accuracy: number;
  /** Every trained weight, parameter by parameter in name order, for a weight-by-weight comparison. */
  weights: number[];
  seconds: number;
}

/**
 * Trains a wide & deep model on foodio with the settings of `sparrow demo`: Adam at 0.05 for the
 * wide part and 0.01 for the deep part, hidden layers 64 and 32. Then it evaluates the model on
 * the test part and returns its losses, metrics and weights.
 */
export async function runTraining(options: TrainingRunOptions): Promise<TrainingRunResult> {
  const started = performance.now();
  const backend = sp.getBackend(options.backend);
  const data = sp.getPreset('foodio').generate!({ rows: options.rows, seed: options.seed });
  const { state } = await sp.fit(sp.foodioSchema, data.train);
  const trainSet = await sp.encodeAll(data.train, new sp.Encoder(state, data.train.columns));
  const testSet = await sp.encodeAll(data.test, new sp.Encoder(state, data.test.columns));

  const model = new sp.WideAndDeep(trainSet.layout, { kind: 'wide-deep', hidden: [64, 32], seed: options.seed }, options.backend);
  const parts = model.parameterParts();
  const optimizer = new sp.Optimizer([
    { name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: 0.05 },
    { name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: 0.01 },
  ]);

  const losses: number[] = [];
  const result = await sp.train(model, optimizer, trainSet, {
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    backend: options.backend,
    lossEvery: options.lossEvery,
    onStep: (event) => {
      if (event.loss !== null) losses.push(event.loss);
    },
  });
  const metrics = (await sp.evaluate(model, testSet, { backend: options.backend })).consumed;

  const weights: number[] = [];
  // Code-unit order of the unique names, the same in every JavaScript engine (localeCompare may differ).
  const named = [...model.namedParameters()].sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [, parameter] of named) weights.push(...(await parameter.data()));
  optimizer.dispose();
  model.dispose();

  return {
    backend: options.backend,
    adapter: backend.adapter.description || `${backend.adapter.vendor} ${backend.adapter.architecture}`.trim(),
    steps: result.state.globalStep,
    losses,
    auc: metrics.auc!,
    logloss: metrics.logloss!,
    accuracy: metrics.accuracy!,
    weights,
    seconds: (performance.now() - started) / 1000,
  };
}
