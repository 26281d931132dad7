// Worker-thread entry of parallel expert pre-training: its own backend and device, then the experts the main thread sends, one at a time.

import { parentPort, workerData } from 'node:worker_threads';

import { init } from '../backend/registry.js';
import { PretrainCancelled, pretrainExpert, type PretrainWorkerData, type PretrainWorkerReply, type PretrainWorkerRequest } from './pretrain-experts.js';

if (parentPort === null) throw new Error('pretrain-worker: run this file as a worker thread of pretrainExperts, not as a script');
const port = parentPort;
const { setup, backend, adapter, cancel } = workerData as PretrainWorkerData;

// Dawn loads here, in this thread, and the device lives as long as the thread.
const ready = init(backend === 'webgpu' ? { backend, adapter, requireWebGPU: true } : { backend: 'cpu' });
// An init failure is reported with the first expert; this keeps it from being unhandled before then.
ready.catch(() => undefined);

port.on('message', async (request: PretrainWorkerRequest) => {
  if (request.type === 'close') {
    port.close();
    return;
  }
  let reply: PretrainWorkerReply;
  const transfer: ArrayBuffer[] = [];
  try {
    await ready;
    const result = await pretrainExpert(setup, request.expert, backend, () => Atomics.load(cancel, 0) === 1);
    for (const record of Object.values(result.weights)) transfer.push(record.data.buffer as ArrayBuffer);
    reply = { type: 'result', result };
  } catch (error) {
    reply = { type: 'error', expert: request.expert, message: (error as Error).message, cancelled: error instanceof PretrainCancelled };
  }
  port.postMessage(reply, transfer);
});
