// Checkpoint I/O on host arrays: safetensors files and checkpoint directories.

export {
  FORMAT_DTYPE_BYTES,
  MAX_HEADER_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  type HostDType,
  type HostTensor,
  type SafetensorsDType,
  type SafetensorsMetadata,
  type TensorMap,
} from './safetensors.js';
export { readSafetensors, writeSafetensors, type ReadSafetensors, type WrittenFile } from './safetensors-file.js';
export { convertForeignTensor, decodeForeignSafetensors, type ForeignSafetensors, type ForeignTensor } from './safetensors-foreign.js';
export { readForeignSafetensors } from './safetensors-foreign-file.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  CONFIG_FILE,
  OPTIMIZER_FILE,
  PREVIOUS_SUFFIX,
  WEIGHTS_FILE,
  loadCheckpoint,
  saveCheckpoint,
  type CheckpointParts,
  type LoadOptions,
  type LoadedCheckpoint,
} from './checkpoint.js';
export { CheckpointError, SafetensorsError } from './errors.js';
export { writeFileAtomic } from './atomic.js';
