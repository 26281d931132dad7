// Loads a safetensors file written by another tool into a module: the file reader and `importWeights` in one call.

import { readForeignSafetensors } from '../io/safetensors-foreign-file.js';
import { importWeights, type ImportWeightsOptions, type ImportWeightsReport } from './import-weights.js';
import type { Module } from './module.js';

/**
 * Reads the safetensors file at `path` (any dtype the format defines) and writes its tensors
 * into the parameters and buffers of `module` through `options.map`, as `importWeights` does.
 * Throws a SafetensorsError for an invalid file. Throws a WeightImportError, which lists every
 * problem, when the tensors do not fit the module. On error the module is unchanged.
 */
export function importSafetensors(module: Module, path: string, options: ImportWeightsOptions = {}): ImportWeightsReport {
  return importWeights(module, readForeignSafetensors(path), options);
}
