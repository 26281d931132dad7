// Safetensors files written by other tools: every dtype of the format, and conversion to Sparrow's dtypes.
//
// Sparrow's own reader (safetensors.ts) accepts only the dtypes it writes. Files from PyTorch,
// JAX or model hubs often store F16, BF16 or I64 tensors, so this reader keeps each tensor's
// little-endian bytes as they are and converts a tensor only when it is loaded into a
// parameter of known dtype. This module has no Node imports, so it also runs in a browser.

import type { DType, TypedArray } from '../tensor/dtype.js';
import { SafetensorsError } from './errors.js';
import { FORMAT_DTYPE_BYTES, parseHeader, readHeaderLength, type SafetensorsDType, type SafetensorsMetadata, type TensorEntry } from './safetensors.js';

/** A tensor of a safetensors file: its dtype as the header names it, its shape and its little-endian bytes. */
export interface ForeignTensor {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

/** The tensors of one safetensors file, by name in file order, with its metadata and a label for messages. */
export interface ForeignSafetensors {
  /** The file path, or a label for an in-memory buffer; every error message starts with it. */
  source: string;
  tensors: Record<string, ForeignTensor>;
  metadata: SafetensorsMetadata;
}

/** Accepts every dtype the format defines; an unknown name is an error that lists them. */
export function readAnyDType(fileDType: string, source: string, tensor: string): { dtype: SafetensorsDType; bytes: number } {
  if (!Object.hasOwn(FORMAT_DTYPE_BYTES, fileDType)) {
    throw new SafetensorsError(source, tensor, `unknown dtype ${JSON.stringify(fileDType)}; the safetensors format defines ${Object.keys(FORMAT_DTYPE_BYTES).join(', ')}`);
  }
  const dtype = fileDType as SafetensorsDType;
  return { dtype, bytes: FORMAT_DTYPE_BYTES[dtype] };
}

/**
 * Parses and validates a whole safetensors buffer of any dtype, with the same checks as
 * Sparrow's own reader. It checks the header length, the UTF-8 JSON and the metadata map. It
 * checks each tensor's dtype, shape and offsets, and that the offsets tile the data buffer
 * without gap or overlap.
 */
export function decodeForeignSafetensors(bytes: Uint8Array, source = 'safetensors buffer'): ForeignSafetensors {
  const length = readHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + length;
  const { metadata, entries } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, source, readAnyDType);
  const tensors: Record<string, ForeignTensor> = {};
  for (const entry of entries) tensors[entry.name] = foreignTensor(entry, bytes.slice(dataStart + entry.begin, dataStart + entry.end));
  return { source, tensors, metadata };
}

/** Wraps an entry of a parsed header and its bytes. */
export function foreignTensor(entry: TensorEntry<SafetensorsDType>, bytes: Uint8Array): ForeignTensor {
  return { dtype: entry.dtype, shape: entry.shape, bytes };
}

/** Largest integer magnitude below which every integer has an exact f32 value (2^24). */
const F32_EXACT_INTEGERS = 2 ** 24;

/**
 * Converts a tensor of the file to Sparrow's dtype `target`, in C order, or throws a
 * SafetensorsError naming the file, the tensor and the first element that does not fit.
 *
 * - into f32: F32, F16 and BF16 exactly. F64 is rounded to the nearest f32, and a finite value
 *   beyond the f32 range is an error. Integers load when their magnitude is at most 2^24,
 *   below which f32 represents every integer exactly.
 * - into i32 or u32: integer dtypes whose values are in the target's range.
 * - BOOL and the 8-bit float dtypes are rejected, because they do not store weights.
 */
export function convertForeignTensor(tensor: ForeignTensor, target: DType, source: string, name: string): TypedArray {
  const result = foreignConversion(tensor, target);
  if ('problem' in result) throw new SafetensorsError(source, name, result.problem);
  return result.values;
}

/** Performs the conversion of `convertForeignTensor`, returning the problem as text instead of throwing. */
export function foreignConversion(tensor: ForeignTensor, target: DType): { values: TypedArray } | { problem: string } {
  const count = tensor.bytes.length / FORMAT_DTYPE_BYTES[tensor.dtype];
  const view = new DataView(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength);

  if (tensor.dtype === 'BOOL' || tensor.dtype === 'F8_E4M3' || tensor.dtype === 'F8_E5M2') {
    const instead = target === 'f32' ? 'F32, F16 or BF16' : 'an integer dtype such as I32';
    return { problem: `dtype ${tensor.dtype} cannot be converted to ${target}; save the tensor as ${instead} instead` };
  }
  const isFloat = tensor.dtype === 'F32' || tensor.dtype === 'F64' || tensor.dtype === 'F16' || tensor.dtype === 'BF16';
  if (target !== 'f32' && isFloat) {
    return { problem: `a float tensor (${tensor.dtype}) cannot be loaded into an integer (${target}) tensor; store it as an integer dtype` };
  }

  let values: TypedArray;
  let low: number;
  let high: number;
  if (target === 'f32') {
    values = new Float32Array(count);
    [low, high] = [-F32_EXACT_INTEGERS, F32_EXACT_INTEGERS];
  } else if (target === 'i32') {
    values = new Int32Array(count);
    [low, high] = [-(2 ** 31), 2 ** 31 - 1];
  } else {
    values = new Uint32Array(count);
    [low, high] = [0, 2 ** 32 - 1];
  }

  for (let i = 0; i < count; i++) {
    const value = elementAt(view, tensor.dtype, i);
    if (isFloat) {
      const rounded = Math.fround(value as number);
      if (Number.isFinite(value) && !Number.isFinite(rounded)) return { problem: `element ${i} is ${value}, outside the f32 range; it cannot be converted to f32` };
      values[i] = rounded;
      continue;
    }
    if (value < low || value > high) {
      const reason = target === 'f32' ? 'f32 represents integers exactly only up to magnitude 2^24' : `${target} represents [${low}, ${high}]`;
      return { problem: `${tensor.dtype} element ${i} is ${value}, which does not fit ${target}: ${reason}` };
    }
    values[i] = Number(value);
  }
  return { values };
}

/** Reads element `i` of a little-endian buffer: a number, or a bigint for the 64-bit integer dtypes. */
function elementAt(view: DataView, dtype: SafetensorsDType, i: number): number | bigint {
  switch (dtype) {
    case 'F32':
      return view.getFloat32(i * 4, true);
    case 'F64':
      return view.getFloat64(i * 8, true);
    case 'F16':
      return halfToNumber(view.getUint16(i * 2, true));
    case 'BF16':
      return bfloat16ToNumber(view.getUint16(i * 2, true));
    case 'I8':
      return view.getInt8(i);
    case 'U8':
      return view.getUint8(i);
    case 'I16':
      return view.getInt16(i * 2, true);
    case 'U16':
      return view.getUint16(i * 2, true);
    case 'I32':
      return view.getInt32(i * 4, true);
    case 'U32':
      return view.getUint32(i * 4, true);
    case 'I64':
      return view.getBigInt64(i * 8, true);
    case 'U64':
      return view.getBigUint64(i * 8, true);
    default:
      throw new RangeError(`elementAt: dtype ${dtype} has no numeric reading`);
  }
}

/** Decodes an IEEE 754 binary16 value: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Decodes a bfloat16 value, which is the upper half of an f32's bits. */
export function bfloat16ToNumber(bits: number): number {
  BFLOAT16_SCRATCH_BITS[0] = bits << 16;
  return BFLOAT16_SCRATCH[0];
}

const BFLOAT16_SCRATCH = new Float32Array(1);
const BFLOAT16_SCRATCH_BITS = new Uint32Array(BFLOAT16_SCRATCH.buffer);
