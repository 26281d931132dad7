// Wide & Deep through the library API: generate data, fit and encode it, train, evaluate.
import * as sp from '../dist/index.js';

const backend = (await sp.init()).name;

// foodio is generated in memory: a schema plus train and test row sources. Real data opens the
// same way: openData({ preset: 'adult' }) reads UCI Adult from SPARROW_DATA_DIR, and
// openData({ schema: 'schema.json', data: 'rows.csv', split: '0.8,0.1,0.1' }) any CSV.
const data = sp.openData({ preset: 'foodio', rows: 20000, seed: 1 });

// Fitting reads the training rows once for vocabularies, hash buckets and numeric boundaries.
// The encoder turns rows into sparse batches with the layout (fields, tables, tasks) of that state.
const { state } = await sp.fit(data.schema, data.train);
const trainSet = await sp.encodeAll(data.train, new sp.Encoder(state, data.train.columns));
const testSet = await sp.encodeAll(data.test, new sp.Encoder(state, data.test.columns));

// The wide part (crossed ids) learns with FTRL and the deep part (embeddings + MLP) with Adam.
const model = new sp.WideAndDeep(trainSet.layout, { kind: 'wide-deep', hidden: [64, 32], seed: 1 }, backend);
const parts = model.parameterParts();
const optimizer = new sp.Optimizer([
  { name: 'wide', params: parts.wide, optimizer: { kind: 'ftrl', l1: 0.001 }, lr: 0.1 },
  { name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: 0.01 },
]);

const result = await sp.train(model, optimizer, trainSet, { epochs: 4, batchSize: 256, seed: 1, backend });
const metrics = await sp.evaluate(model, testSet, { backend });
for (const epoch of result.epochs) console.log(`epoch ${epoch.epoch}: training loss ${epoch.loss.toFixed(4)}`);
console.log(`test AUC of "consumed": ${metrics.consumed.auc.toFixed(4)} (${trainSet.size} training rows, ${backend})`);

optimizer.dispose();
model.dispose();
