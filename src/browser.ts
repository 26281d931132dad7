// Sparrow's browser entry: the library of index.ts without its Node-only parts, plus the models and the training loop.
//
// Left out because they need Node: CSV files and data directories (openCsv, csvSource,
// openData, describeData, dataDir), fitted-state, safetensors and checkpoint files (saveState,
// loadState, readSafetensors, writeSafetensors, readForeignSafetensors, importSafetensors,
// saveCheckpoint, loadCheckpoint, writeFileAtomic) and Dawn's `webgpu` package. The browser
// bundle (scripts/browser-bundle.mjs) swaps the Dawn adapter discovery for one on navigator.gpu,
// and its build fails when a Node built-in module or `webgpu` is reachable from here.
// test/browser-entry.test.ts checks that every other export of index.ts is here too.

import './autograd/backward.js';

export { init, getBackend, getWebGPUBackend, setDefaultBackend, type InitOptions } from './backend/registry.js';
export type { Backend, BackendName, AdapterDescription, MemoryInfo } from './backend/backend.js';
export { isCpuAdapter } from './backend/backend.js';
export { withFloat64 } from './backend/cpu/cpu-backend.js';
export { Tensor } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export { tidy, keep, noGrad, isGradEnabled, runOp, detach } from './tensor/engine.js';
export { sync, memory } from './backend/sync.js';
export * from './errors.js';
export { defineOp, type OpDef, type TensorSpec, type CpuArgs, type WebGPUArgs, type BackwardArgs, type KernelLimits } from './ops/op.js';
export type { KernelPass, KernelProgram, BufferRef, TempSpec } from './kernels/pass.js';
export * as wgsl from './kernels/wgsl.js';
export { mapProgram } from './kernels/elementwise.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/shape-ops.js';
export * from './ops/softmax.js';
export * from './ops/gather.js';
export * from './ops/dropout.js';
export * from './ops/losses.js';
export { backward } from './autograd/backward.js';
export * as testing from './testing/index.js';
export { ADAPTER_CHOICES, type AdapterChoice } from './backend/webgpu/adapter.js';
export * from './ops/matmul.js';
export * from './optim/index.js';
export * from './sparse/index.js';
export * as nn from './nn/index.js';
export { allPairs, crossIdsOp, crossOffsetsOp, hashedAllPairs, hashedCross, hashedCrossHost, hashedCrossSync, type CsrBags, type HashedCrossOptions, type HostBags } from './sparse/crosses.js';

// The data layer without files: schemas, generated sources, seeded splits, fitting and encoding.
export * from './data/errors.js';
export * from './data/schema.js';
export { BadRows, type Row } from './data/rows.js';
export * from './data/row-source.js';
export * from './data/batch.js';
export { fit, DISTINCT_CAP, type FitOptions, type DataSummary, type FeatureSummary, type LabelSummary, type NumericStats } from './data/fit.js';
export * from './data/state.js';
export { Encoder, BatchBuilder, upperBound } from './data/encode.js';
export * from './data/batches.js';
export { SeededRandom } from './data/random.js';
export { PRESETS, getPreset, type Preset, type GenerateOptions } from './data/presets/index.js';
export { MOVIELENS_GENRES } from './data/presets/movielens.js';
export { Foodio, foodioSchema, FOODIO_COLUMNS, type FoodioOptions } from './data/synthetic/foodio.js';
export { MmoeSynthetic, type MmoeSyntheticOptions } from './data/synthetic/mmoe.js';
export { YoutubeSim, youtubeSimSchema, YOUTUBE_SIM_COLUMNS, YOUTUBE_SIM_DEVICES, type YoutubeSimOptions } from './data/synthetic/youtube-sim.js';

export * from './metrics/index.js';

// Safetensors in memory (bytes in, bytes out), also files written by other tools; reading and writing files is Node-only.
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
} from './io/safetensors.js';
export { convertForeignTensor, decodeForeignSafetensors, type ForeignSafetensors, type ForeignTensor } from './io/safetensors-foreign.js';
export { CheckpointError, SafetensorsError } from './io/errors.js';
export { importWeights, WeightImportError, type ImportWeightsOptions, type ImportWeightsReport, type ImportedTensor, type WeightNameMap } from './nn/import-weights.js';

// Models and the training loop, which a page needs to train without the CLI.
export { WideAndDeep, WideLinear, DeepTower, resolveWideDeepConfig, type WideDeepKind, type WideDeepConfig, type ResolvedWideDeepConfig } from './models/wide-deep.js';
export {
  MultiTaskModel,
  meanGateWeights,
  MULTI_TASK_KINDS,
  matchingBottomSize,
  mlpParameterCount,
  resolveMultiTaskConfig,
  type MultiTaskConfig,
  type MultiTaskKind,
  type ResolvedMultiTaskConfig,
} from './models/multitask.js';
export * from './models/score.js';
export { train, predict, evaluate, type TrainableModel, type TrainOptions, type TrainResult, type TrainState, type Schedule, type StepEvent, type EvaluationEvent, type TaskMetrics } from './train/trainer.js';
export { multiTaskLoss } from './train/loss.js';
// Feeds for an exported ONNX model and its error type; writing the model (exportOnnx) is Node-only.
export { onnxFeeds, ONNX_PADDING_ID, type OnnxInputSpec, type OnnxOutputSpec, type OnnxFeed } from './export/onnx-inputs.js';
export { OnnxExportError } from './export/errors.js';
