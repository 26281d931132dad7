// The foodio demo in a web page: wide, deep and wide & deep trained on one generated data set and compared by test AUC per query kind.

import * as sp from '../../dist/browser.js';

/**
 * Settings of `sparrow demo`: 20,000 training rows, 4 epochs of batch 256, hidden layers 64 and
 * 32, Adam at 0.05 for the wide part and 0.01 for the deep part, seed 1.
 */
export const DEMO_SETTINGS = { rows: 20_000, epochs: 4, batchSize: 256, hidden: [64, 32], wideLr: 0.05, deepLr: 0.01, seed: 1 };

export const MODELS = [
  { kind: 'wide', label: 'wide' },
  { kind: 'deep', label: 'deep' },
  { kind: 'wide-deep', label: 'wide & deep' },
];

/** Reads the evaluation-only columns of the test rows into 0/1 masks of the query slices. */
async function querySlices(source) {
  const kind = source.columns.indexOf('query_kind');
  const pair = source.columns.indexOf('pair_in_train');
  const targeted = [];
  const exploratory = [];
  const heldOut = [];
  for await (const row of source.rows(new sp.BadRows(false))) {
    const isExploratory = row.values[kind] === 'exploratory';
    targeted.push(isExploratory ? 0 : 1);
    exploratory.push(isExploratory ? 1 : 0);
    heldOut.push(isExploratory && String(row.values[pair]) === '0' ? 1 : 0);
  }
  return { targeted: Float32Array.from(targeted), exploratory: Float32Array.from(exploratory), heldOut: Float32Array.from(heldOut) };
}

/**
 * Generates foodio, trains the three models one after another on `backend` and returns their
 * test AUC per query slice. `onLoss(kind, step, loss)` receives every loss read back (every
 * `lossEvery` steps), `onStatus(text)` a line per phase.
 */
export async function runDemo({ settings, backend, lossEvery = 10, onLoss = () => {}, onStatus = () => {} }) {
  const started = performance.now();
  onStatus(`generating foodio (${settings.rows} training rows, seed ${settings.seed}) and fitting its vocabularies`);
  const data = sp.getPreset('foodio').generate({ rows: settings.rows, seed: settings.seed });
  const { state } = await sp.fit(sp.foodioSchema, data.train);
  const trainSet = await sp.encodeAll(data.train, new sp.Encoder(state, data.train.columns));
  const testSet = await sp.encodeAll(data.test, new sp.Encoder(state, data.test.columns));
  const slices = await querySlices(data.test);
  const labels = testSet.labels.consumed;

  const results = [];
  for (const { kind, label } of MODELS) {
    onStatus(`training ${label} on ${backend}`);
    const modelStarted = performance.now();
    const model = new sp.WideAndDeep(trainSet.layout, { kind, hidden: settings.hidden, seed: settings.seed }, backend);
    const parts = model.parameterParts();
    const groups = [];
    if (Object.keys(parts.wide).length > 0) groups.push({ name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: settings.wideLr });
    if (Object.keys(parts.deep).length > 0) groups.push({ name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: settings.deepLr });
    const optimizer = new sp.Optimizer(groups);

    let globalStep = 0;
    await sp.train(model, optimizer, trainSet, {
      epochs: settings.epochs,
      batchSize: settings.batchSize,
      seed: settings.seed,
      backend,
      lossEvery,
      onStep: (event) => {
        globalStep++;
        if (event.loss !== null) onLoss(kind, globalStep, event.loss);
      },
    });
    const scores = (await sp.predict(model, testSet, { backend })).consumed;
    // Each value is { value } or, where the AUC is undefined (one class only), { value: null, reason }.
    const auc = (mask) => sp.rocAuc(scores, labels, mask ? { mask } : {});
    results.push({
      kind,
      label,
      targeted: auc(slices.targeted),
      exploratory: auc(slices.exploratory),
      heldOut: auc(slices.heldOut),
      all: auc(),
      seconds: (performance.now() - modelStarted) / 1000,
    });
    optimizer.dispose();
    model.dispose();
  }

  const count = (mask) => mask.reduce((total, value) => total + value, 0);
  return {
    results,
    rows: { train: trainSet.size, test: testSet.size, targeted: count(slices.targeted), exploratory: count(slices.exploratory), heldOut: count(slices.heldOut) },
    seconds: (performance.now() - started) / 1000,
  };
}
