// Sparrow's public API: tensors, ops, autograd, backends and the op-definition mechanism.

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
export { ADAPTER_CHOICES, type AdapterChoice } from './backend/webgpu/discovery.js';
export * from './ops/matmul.js';
export * from './optim/index.js';
export * from './sparse/index.js';
export * as nn from './nn/index.js';
export { allPairs, crossIdsOp, crossOffsetsOp, hashedAllPairs, hashedCross, hashedCrossHost, hashedCrossSync, type CsrBags, type HashedCrossOptions, type HostBags } from './sparse/crosses.js';
export * from './data/index.js';
export * from './metrics/index.js';
export * from './io/index.js';
export { importSafetensors } from './nn/import-safetensors.js';
export { importWeights, WeightImportError, type ImportWeightsOptions, type ImportWeightsReport, type ImportedTensor, type WeightNameMap } from './nn/import-weights.js';

// Models, their checkpoints, the training loop and the ONNX export.
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
export { saveModel, loadModel, type SavedModel, type SaveModelOptions, type LoadedModel, type ModelCheckpointConfig } from './models/checkpoint.js';
export { exportOnnx, type OnnxExportOptions, type OnnxExport } from './export/onnx-model.js';
export { onnxFeeds, ONNX_PADDING_ID, type OnnxInputSpec, type OnnxOutputSpec, type OnnxFeed } from './export/onnx-inputs.js';
export { OnnxExportError } from './export/errors.js';
