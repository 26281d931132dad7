// Benchmark peers release what they allocate: a grid runs many cases in one process.

import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';

import { generateInputs } from '../bench/embedding.js';
import { createTfjsEmbeddingRunner } from '../bench/peers/tfjs-embedding.js';

test('tfjs embedding runner frees its tensors', async () => {
  await tf.setBackend('cpu');
  const before = tf.memory().numTensors;
  const runner = await createTfjsEmbeddingRunner('tfjs-cpu', generateInputs(1000, 4));
  await runner.run();
  await runner.verify?.();
  runner.dispose();

  expect(tf.memory().numTensors).toBe(before);
});
