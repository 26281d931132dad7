// Embedding bags over two fields, a row-sparse gradient and lazy Adam steps on the default backend.
import * as sp from '../dist/index.js';

const backend = await sp.init();

// Two categorical fields share one combined table: city rows 0-999, tags rows 1000-1049.
// Tag id 0 is padding: it contributes nothing and does not count for mean pooling.
const layout = new sp.TableLayout([
  { name: 'city', rows: 1000 },
  { name: 'tags', rows: 50, paddingId: 0 },
]);
const table = sp.ShardedTable.create(layout.totalRows, 8, { requiresGrad: true, seed: 1 });
const optimizer = new sp.Optimizer([{ name: 'embeddings', params: table.shards, optimizer: { kind: 'adam' }, lr: 0.05 }]);
const target = sp.keep(sp.randomNormal([3, 2, 8], { seed: 2 }));

// A batch of 3 examples. Bag b of a field is ids[offsets[b] .. offsets[b + 1]]: city has one id
// per example, tags 2, 0 (an empty bag gives zeros) and 2 ids.
const fields = {
  city: { ids: [17, 402, 17], offsets: [0, 1, 2, 3] },
  tags: { ids: [3, 9, 0, 9], offsets: [0, 2, 2, 4] },
};

for (let step = 0; step < 5; step++) {
  const batch = sp.embeddingBatch(layout, fields); // checked on the host, then uploaded
  const loss = sp.tidy(() => {
    const pooled = sp.embeddingBags(table, batch, { pooling: 'mean' }); // [3 examples, 2 fields, 8]
    const value = sp.meanSquaredError(pooled, target);
    value.backward();
    return value;
  });

  // The table's gradient lists only the rows this batch touched: 17, 402, 1003 and 1009.
  const gradient = table.shards[0].sparseGrad;
  const rows = Array.from(await gradient.rows.data());
  await optimizer.assertFiniteGradients(); // throws on a NaN or infinity, before any weight changes
  optimizer.step(); // lazy Adam: every other row keeps its weights and state
  optimizer.zeroGrad();
  console.log(`step ${step}: loss ${(await loss.item()).toFixed(5)}, updated rows [${rows.join(', ')}]`);
  loss.dispose();
  batch.dispose();
}
console.log(`backend ${backend.name}, Adam steps ${optimizer.stateDict().steps['embeddings.0']}`);
