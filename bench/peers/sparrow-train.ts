// Sparrow's Wide & Deep training as `sparrow train` runs it, one epoch per call, for the training benchmark.

import { selectRows, type SparseBatch } from '../../src/data/batch.js';
import { WideAndDeep } from '../../src/models/wide-deep.js';
import { Optimizer } from '../../src/optim/optimizer.js';
import { train } from '../../src/train/trainer.js';
import type { EpochRun, TrainRunner, TrainRunnerOptions } from '../train-adult.js';
import type { SparrowImpl } from './sparrow.js';

const BACKEND: Record<SparrowImpl, 'webgpu' | 'cpu'> = {
  'sparrow-webgpu': 'webgpu',
  'sparrow-cpu': 'cpu',
};

/**
 * Creates a runner that trains `WideAndDeep` (`kind: 'wide-deep'`) on `data` with the library's
 * trainer, as `sparrow train --model wide-deep` does: a wide and a deep parameter group, each
 * with Adam, and `train()` from the trainer. The learning rate stays constant (no schedule), as
 * on the TF.js side.
 *
 * `runEpoch(epoch)` calls `train()` resumed at the start of `epoch`, so each epoch gets its own
 * shuffle, and resolves after the trainer's end-of-epoch `sync()`. With `maxSteps`, it trains one
 * epoch over the first `maxSteps * batchSize` rows instead of all of them.
 */
export async function createSparrowTrainRunner(impl: SparrowImpl, data: SparseBatch, options: TrainRunnerOptions): Promise<TrainRunner> {
  const backend = BACKEND[impl];
  const { batchSize, seed, hidden, learningRate, lossEvery } = options;

  const model = new WideAndDeep(data.layout, { kind: 'wide-deep', hidden, seed }, backend);
  const parts = model.parameterParts();
  const optimizer = new Optimizer([
    { name: 'wide', params: parts.wide, optimizer: { kind: 'adam' }, lr: learningRate },
    { name: 'deep', params: parts.deep, optimizer: { kind: 'adam' }, lr: learningRate },
  ]);
  const stepsPerEpoch = Math.ceil(data.size / batchSize);

  const runEpoch = async (epoch: number, maxSteps?: number): Promise<EpochRun> => {
    const rowCount = Math.min(data.size, (maxSteps ?? stepsPerEpoch) * batchSize);
    const rows = rowCount === data.size ? data : selectRows(data, Array.from({ length: rowCount }, (_, i) => i));

    const result = await train(model, optimizer, rows, {
      epochs: epoch + 1,
      batchSize,
      seed,
      backend,
      schedule: { kind: 'constant' },
      lossEvery,
      resume: { epoch, stepInEpoch: 0, globalStep: epoch * stepsPerEpoch, dropoutCalls: {} },
    });
    return { examples: result.examples, steps: Math.ceil(rows.size / batchSize), loss: result.epochs[0].loss };
  };

  return {
    runEpoch,
    dispose(): void {
      optimizer.dispose();
      model.dispose();
    },
  };
}
