// The README's example: one gradient step of a small dense layer on the default backend.
import * as sp from '../dist/index.js';

const backend = await sp.init(); // WebGPU when an adapter exists, else the CPU
const x = sp.randomNormal([4, 3], { seed: 1 });
const w = sp.randomNormal([3, 2], { seed: 2, requiresGrad: true });
const b = sp.zeros([2], { requiresGrad: true });
const y = sp.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]);
const loss = sp.binaryCrossEntropyWithLogits(sp.linear(x, w, b), y);
loss.backward();
console.log(backend.name, backend.adapter.description);
console.log('loss', await loss.item(), 'dL/db', await b.grad.array());
