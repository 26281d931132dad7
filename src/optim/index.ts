// Optimizers: parameter groups, the update algorithms and their in-place update ops.

export { Optimizer, ParamGroup, type OptimizerStateDict, type ParamGroupOptions } from './optimizer.js';
export {
  OPTIMIZER_KINDS,
  resolveConfig,
  type AdagradConfig,
  type AdamConfig,
  type FtrlConfig,
  type OptimizerConfig,
  type OptimizerKind,
  type ResolvedConfig,
  type SgdConfig,
} from './config.js';
export { adagradUpdateOp, adamUpdateOp, addRowSparseOp, ftrlUpdateOp, sgdUpdateOp, type UpdateMode } from './update-ops.js';
