// Loads tensors of a safetensors file written by another tool into a module's parameters, through a name mapping.

import { foreignConversion, type ForeignSafetensors } from '../io/safetensors-foreign.js';
import type { SafetensorsDType, SafetensorsMetadata } from '../io/safetensors.js';
import { assignValues } from '../ops/creation.js';
import type { TypedArray } from '../tensor/dtype.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

/**
 * Mapping from the file's tensor names to the module's dotted parameter or buffer names, as
 * `namedParameters` lists them. In a record, a name maps to a Sparrow name, or to null to skip
 * the tensor on purpose. A name that the record lacks is unmapped. A function returns the
 * Sparrow name, null to skip, or undefined for unmapped.
 */
export type WeightNameMap = Readonly<Record<string, string | null>> | ((tensorName: string) => string | null | undefined);

export interface ImportWeightsOptions {
  /** File name to Sparrow name; default: every tensor keeps its name. */
  map?: WeightNameMap;
  /**
   * File names of 2-D tensors to transpose before loading, for example PyTorch `nn.Linear`
   * weights, stored [out, in], into Sparrow's Linear weights [in, out]. Default: none.
   */
  transpose?: readonly string[] | ((tensorName: string) => boolean);
  /** Accept file tensors that the map leaves unmapped and ignore them (default false: they are an error). */
  allowUnmapped?: boolean;
  /** Accept parameters and buffers that get no tensor and keep their values (default false: they are an error). */
  allowMissing?: boolean;
}

/** One tensor written into the module. */
export interface ImportedTensor {
  /** Name in the file. */
  tensor: string;
  /** Dotted name of the parameter or buffer. */
  target: string;
  /** Dtype in the file, before conversion to the target's dtype. */
  dtype: SafetensorsDType;
  transposed: boolean;
}

/** Summary of an import: the tensors loaded, skipped and unmapped, and the parameters left unchanged. */
export interface ImportWeightsReport {
  source: string;
  loaded: ImportedTensor[];
  /** File tensors that the map sent to null. */
  skipped: string[];
  /** File tensors without a Sparrow name, accepted with `allowUnmapped`. */
  unmapped: string[];
  /** Parameters and buffers that kept their values, accepted with `allowMissing`. */
  missing: string[];
  metadata: SafetensorsMetadata;
}

/** An import that cannot proceed; `problems` lists every problem found, each naming the tensor. */
export class WeightImportError extends Error {
  override name = 'WeightImportError';

  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: cannot import weights, ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/**
 * Writes the tensors of `file` into the parameters and buffers of `module`, converting
 * dtypes (see `convertForeignTensor`) and transposing the tensors that `options.transpose`
 * names. Every check runs before the first write, so on error the module is unchanged.
 * The WeightImportError lists all problems at once. These are unmapped tensors, parameters
 * that get no tensor, and names in the map or transpose list that the file or module lacks.
 * Two tensors mapped to one parameter, shape mismatches and values that do not fit the target
 * dtype are problems too.
 */
export function importWeights(module: Module, file: ForeignSafetensors, options: ImportWeightsOptions = {}): ImportWeightsReport {
  const targets = new Map<string, Tensor>([...module.namedParameters(), ...module.namedBuffers()]);
  const resolve = nameResolver(options.map);
  const transposes = transposeTest(options.transpose);
  const problems: string[] = [];
  const fileNames = Object.keys(file.tensors);

  if (options.map !== undefined && typeof options.map !== 'function') {
    for (const name of Object.keys(options.map)) {
      if (!Object.hasOwn(file.tensors, name)) problems.push(`the map names tensor "${name}", which the file does not contain; the file's tensors are ${listNames(fileNames)}`);
    }
  }
  if (Array.isArray(options.transpose)) {
    for (const name of options.transpose) {
      if (!Object.hasOwn(file.tensors, name)) problems.push(`the transpose list names tensor "${name}", which the file does not contain`);
    }
  }

  const pending: { target: Tensor; values: TypedArray; record: ImportedTensor }[] = [];
  const claimedBy = new Map<string, string>();
  const skipped: string[] = [];
  const unmapped: string[] = [];
  for (const name of fileNames) {
    const foreign = file.tensors[name];
    const targetName = resolve(name);
    if (targetName === undefined) {
      unmapped.push(name);
      continue;
    }
    if (targetName === null) {
      skipped.push(name);
      continue;
    }

    const where = `tensor "${name}"${targetName === name ? '' : ` (mapped to "${targetName}")`}`;
    const target = targets.get(targetName);
    if (target === undefined) {
      problems.push(`${where}: the module has no parameter or buffer "${targetName}"; its names are ${listNames([...targets.keys()])}`);
      continue;
    }
    const previous = claimedBy.get(targetName);
    if (previous !== undefined) {
      problems.push(`${where}: "${targetName}" already gets tensor "${previous}"; map one of them elsewhere or to null`);
      continue;
    }
    claimedBy.set(targetName, name);

    const transposed = transposes(name);
    if (transposed && foreign.shape.length !== 2) {
      problems.push(`${where}: only 2-D tensors can be transposed, but its shape is ${formatShape(foreign.shape)}`);
      continue;
    }
    const shape = transposed ? [foreign.shape[1], foreign.shape[0]] : foreign.shape;
    if (formatShape(shape) !== formatShape(target.shape)) {
      problems.push(`${where}: ${foreign.dtype} ${formatShape(foreign.shape)}${transposed ? ' (transposed)' : ''} does not match "${targetName}", which is ${target.dtype} ${formatShape(target.shape)}${transposeHint(shape, target.shape, transposed)}`);
      continue;
    }

    const conversion = foreignConversion(foreign, target.dtype);
    if ('problem' in conversion) {
      problems.push(`${where}: ${conversion.problem}`);
      continue;
    }
    const values = transposed ? transpose2d(conversion.values, foreign.shape[0], foreign.shape[1]) : conversion.values;
    pending.push({ target, values, record: { tensor: name, target: targetName, dtype: foreign.dtype, transposed } });
  }

  const missing = [...targets.keys()].filter((name) => !claimedBy.has(name));
  if (unmapped.length > 0 && !options.allowUnmapped) {
    problems.push(`tensor${unmapped.length === 1 ? '' : 's'} ${listNames(unmapped)} of the file ${unmapped.length === 1 ? 'has' : 'have'} no Sparrow name; map ${unmapped.length === 1 ? 'it' : 'them'} to a parameter, or to null to skip, or pass allowUnmapped`);
  }
  if (missing.length > 0 && !options.allowMissing) {
    const described = missing.map((name) => `"${name}" (${targets.get(name)!.dtype} ${formatShape(targets.get(name)!.shape)})`);
    problems.push(`parameter${missing.length === 1 ? '' : 's'} ${described.join(', ')} of the module get${missing.length === 1 ? 's' : ''} no tensor; map a tensor of the file to ${missing.length === 1 ? 'it' : 'them'}, or pass allowMissing to keep the current values`);
  }
  if (problems.length > 0) throw new WeightImportError(file.source, problems);

  for (const { target, values } of pending) assignValues(target, values);
  return { source: file.source, loaded: pending.map(({ record }) => record), skipped, unmapped, missing, metadata: file.metadata };
}

function nameResolver(map: WeightNameMap | undefined): (name: string) => string | null | undefined {
  if (map === undefined) return (name) => name;
  if (typeof map === 'function') return map;
  return (name) => (Object.hasOwn(map, name) ? map[name] : undefined);
}

function transposeTest(transpose: ImportWeightsOptions['transpose']): (name: string) => boolean {
  if (transpose === undefined) return () => false;
  if (typeof transpose === 'function') return transpose;
  const names = new Set(transpose);
  return (name) => names.has(name);
}

/** Suggests the transpose option when the shapes are each other's transpose. */
function transposeHint(shape: number[], expected: readonly number[], transposed: boolean): string {
  const swapped = shape.length === 2 && expected.length === 2 && shape[0] === expected[1] && shape[1] === expected[0];
  if (!swapped) return '';
  return transposed
    ? '; the file already has the parameter\'s layout, so remove the tensor from the transpose option'
    : '; the file stores it transposed (as PyTorch\'s nn.Linear stores weights [out, in]), so list the tensor in the transpose option';
}

function transpose2d(values: TypedArray, rows: number, columns: number): TypedArray {
  const out = new (values.constructor as new (length: number) => TypedArray)(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c];
  }
  return out;
}

/** Lists names in quotes, at most 20, so a message about a large model stays readable. */
function listNames(names: string[]): string {
  const quoted = names.slice(0, 20).map((name) => `"${name}"`).join(', ');
  return names.length > 20 ? `${quoted} and ${names.length - 20} more` : quoted || '(none)';
}
