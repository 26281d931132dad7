// The safetensors format in memory: dtype table, header encoding, and header parsing with full validation.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the data buffer.
// The JSON maps each tensor name to { dtype, shape, data_offsets: [begin, end] }, with byte
// offsets relative to the start of the data buffer, plus an optional "__metadata__" map of
// string to string. Tensor data is little-endian, C order, and the tensors tile the data
// buffer exactly: no gap, no overlap, nothing after the last one. This module has no Node
// imports, so it also runs in a browser.

import type { TypedArray } from '../tensor/dtype.js';
import { SafetensorsError } from './errors.js';

/** Element types this layer reads and writes: Sparrow's three, plus f64 for exchange with other tools. */
export type HostDType = 'f32' | 'i32' | 'u32' | 'f64';

/** A tensor in host memory: its dtype, its shape, and its elements in C (row-major) order. */
export interface HostTensor {
  dtype: HostDType;
  shape: number[];
  /** Float32Array for f32, Int32Array for i32, Uint32Array for u32, Float64Array for f64. */
  data: TypedArray;
}

/** Named tensors, as written to or read from one safetensors file. */
export type TensorMap = Record<string, HostTensor>;

/** The "__metadata__" map of a safetensors header. */
export type SafetensorsMetadata = Record<string, string>;

/** Position of one tensor's bytes in the data buffer, after the header has been validated. */
export interface TensorEntry<D extends string = HostDType> {
  name: string;
  dtype: D;
  shape: number[];
  begin: number;
  end: number;
}

export interface ParsedHeader<D extends string = HostDType> {
  metadata: SafetensorsMetadata;
  /** Sorted by data offset, which is file order. */
  entries: TensorEntry<D>[];
}

/**
 * Maps a dtype name of the file (such as "F32") to the dtype a reader returns and its element
 * size in bytes, or throws a SafetensorsError for a dtype the reader does not accept.
 */
export type DTypeReader<D extends string> = (fileDType: string, source: string, tensor: string) => { dtype: D; bytes: number };

/** Every dtype that the safetensors format defines, by its name in the header. */
export type SafetensorsDType = 'BOOL' | 'U8' | 'I8' | 'F8_E4M3' | 'F8_E5M2' | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'I64' | 'U64' | 'F64';

/** Element size in bytes of every dtype that the safetensors format defines. */
export const FORMAT_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The header size limit of the reference implementation (huggingface/safetensors, `MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const DTYPES: Record<HostDType, { fileName: string; bytes: number; array: { new (buffer: ArrayBuffer): TypedArray; name: string } }> = {
  f64: { fileName: 'F64', bytes: 8, array: Float64Array },
  f32: { fileName: 'F32', bytes: 4, array: Float32Array },
  i32: { fileName: 'I32', bytes: 4, array: Int32Array },
  u32: { fileName: 'U32', bytes: 4, array: Uint32Array },
};

const FROM_FILE_NAME: Record<string, HostDType> = { F64: 'f64', F32: 'f32', I32: 'i32', U32: 'u32' };

const SUPPORTED = Object.keys(FROM_FILE_NAME).join(', ');

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The header of a file about to be written, and the tensors in the order their bytes follow it. */
export interface EncodedHeader {
  /** The 8-byte length followed by the JSON, padded with spaces to a multiple of 8 bytes. */
  bytes: Uint8Array;
  order: [string, HostTensor][];
  dataBytes: number;
}

/**
 * Checks every tensor and encodes the header. Tensors are laid out by element size, largest
 * first, then by name, so every tensor starts at a multiple of its element size and readers
 * that map the file can view it in place.
 */
export function encodeHeader(tensors: TensorMap, metadata: SafetensorsMetadata | undefined, source: string): EncodedHeader {
  const order = Object.entries(tensors);
  for (const [name, tensor] of order) checkTensor(source, name, tensor);
  if (metadata !== undefined) checkMetadata(source, metadata);
  order.sort(compareForLayout);

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, tensor] of order) {
    const size = tensor.data.length * DTYPES[tensor.dtype].bytes;
    header[name] = { dtype: DTYPES[tensor.dtype].fileName, shape: tensor.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, order, dataBytes: offset };
}

/** Returns the little-endian bytes of a tensor's data: a view on little-endian hosts, a swapped copy otherwise. */
export function tensorBytes(tensor: HostTensor): Uint8Array {
  const view = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return HOST_IS_LITTLE_ENDIAN ? view : swapBytes(view.slice(), DTYPES[tensor.dtype].bytes);
}

/**
 * Reads the header length from the first 8 bytes of a file of `fileBytes` bytes, and checks
 * that the header fits in the file and under MAX_HEADER_BYTES.
 */
export function readHeaderLength(first: Uint8Array, fileBytes: number, source: string): number {
  if (fileBytes < 8 || first.length < 8) {
    throw new SafetensorsError(source, undefined, `file is ${fileBytes} bytes, shorter than the 8-byte header length; it is not a safetensors file`);
  }

  const length = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(source, undefined, `header length ${length} bytes is over the limit of ${MAX_HEADER_BYTES}; the file is not safetensors or is corrupt`);
  }
  if (Number(length) + 8 > fileBytes) {
    throw new SafetensorsError(source, undefined, `header length ${length} bytes runs past the end of the file (${fileBytes} bytes); the file is truncated or not safetensors`);
  }
  return Number(length);
}

/**
 * Parses and validates a header: UTF-8, JSON, the metadata map, each tensor's dtype, shape and
 * offsets, and that the tensors tile the data buffer of `dataBytes` bytes exactly. `readDType`
 * decides which dtypes are accepted; the default accepts the four of HostDType.
 */
export function parseHeader(bytes: Uint8Array, dataBytes: number, source: string): ParsedHeader;
export function parseHeader<D extends string>(bytes: Uint8Array, dataBytes: number, source: string, readDType: DTypeReader<D>): ParsedHeader<D>;
export function parseHeader(bytes: Uint8Array, dataBytes: number, source: string, readDType: DTypeReader<string> = readHostDType): ParsedHeader<string> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SafetensorsError(source, undefined, 'header is not valid UTF-8');
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(source, undefined, `header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) throw new SafetensorsError(source, undefined, 'header is not a JSON object');

  let metadata: SafetensorsMetadata = {};
  const entries: TensorEntry<string>[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(source, value);
    else entries.push(parseEntry(source, name, value, dataBytes, readDType));
  }

  checkTiling(source, entries, dataBytes);
  return { metadata, entries };
}

/** Copies one tensor's little-endian bytes into a new, aligned typed array of its dtype. */
export function bytesToTypedArray(bytes: Uint8Array, dtype: HostDType): TypedArray {
  const copy = bytes.slice();
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(copy, DTYPES[dtype].bytes);
  return new DTYPES[dtype].array(copy.buffer);
}

/** Allocates a zero-filled tensor for an entry, whose bytes a file reader then fills in place. */
export function allocateTensor(entry: TensorEntry): HostTensor {
  const buffer = new ArrayBuffer(entry.end - entry.begin);
  return { dtype: entry.dtype, shape: entry.shape, data: new DTYPES[entry.dtype].array(buffer) };
}

/** Converts a tensor whose bytes were read in file (little-endian) order to host order, in place. */
export function fileOrderToHost(tensor: HostTensor): void {
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(new Uint8Array(tensor.data.buffer), DTYPES[tensor.dtype].bytes);
}

/** Encodes tensors and metadata into one safetensors buffer. */
export function encodeSafetensors(tensors: TensorMap, metadata?: SafetensorsMetadata): Uint8Array {
  const header = encodeHeader(tensors, metadata, 'encodeSafetensors');
  const bytes = new Uint8Array(header.bytes.length + header.dataBytes);
  bytes.set(header.bytes, 0);

  let offset = header.bytes.length;
  for (const [, tensor] of header.order) {
    bytes.set(tensorBytes(tensor), offset);
    offset += tensor.data.byteLength;
  }
  return bytes;
}

/** Decodes a whole safetensors buffer; tensors come out in file order, each in its own new typed array. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors buffer'): { tensors: TensorMap; metadata: SafetensorsMetadata } {
  const length = readHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + length;
  const { metadata, entries } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, source);

  const tensors: TensorMap = {};
  for (const entry of entries) {
    const data = bytesToTypedArray(bytes.subarray(dataStart + entry.begin, dataStart + entry.end), entry.dtype);
    tensors[entry.name] = { dtype: entry.dtype, shape: entry.shape, data };
  }
  return { tensors, metadata };
}

function compareForLayout([nameA, a]: [string, HostTensor], [nameB, b]: [string, HostTensor]): number {
  const bySize = DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes;
  if (bySize !== 0) return bySize;
  if (nameA < nameB) return -1;
  if (nameA > nameB) return 1;
  return 0;
}

function checkTensor(source: string, name: string, tensor: HostTensor): void {
  if (name === '') throw new SafetensorsError(source, name, 'tensor name is empty');
  if (name === METADATA_KEY) throw new SafetensorsError(source, name, 'the name is reserved for the metadata map; rename the tensor');
  if (!isPlainObject(tensor)) throw new SafetensorsError(source, name, 'expected an object { dtype, shape, data }');

  const spec = Object.hasOwn(DTYPES, tensor.dtype) ? DTYPES[tensor.dtype] : undefined;
  if (spec === undefined) throw new SafetensorsError(source, name, `dtype ${String(tensor.dtype)} is not one of ${Object.keys(DTYPES).join(', ')}`);
  if (!(tensor.data instanceof spec.array)) {
    const got = (tensor.data as object | undefined)?.constructor?.name ?? String(tensor.data);
    throw new SafetensorsError(source, name, `dtype ${tensor.dtype} needs its data in a ${spec.array.name}, got ${got}`);
  }

  const elements = shapeElements(source, name, tensor.shape);
  if (elements !== tensor.data.length) {
    throw new SafetensorsError(source, name, `shape [${tensor.shape.join(', ')}] has ${elements} elements but data has ${tensor.data.length}`);
  }
}

function checkMetadata(source: string, metadata: SafetensorsMetadata): void {
  if (!isPlainObject(metadata)) throw new SafetensorsError(source, undefined, 'metadata must be an object of string values');
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new SafetensorsError(source, undefined, `metadata ${JSON.stringify(key)} is a ${typeof value}; the format stores strings only`);
  }
}

function parseMetadata(source: string, value: unknown): SafetensorsMetadata {
  if (!isPlainObject(value)) throw new SafetensorsError(source, undefined, `"${METADATA_KEY}" is not a JSON object`);
  checkMetadata(source, value as SafetensorsMetadata);
  return value as SafetensorsMetadata;
}

/** Accepts F32, I32, U32 and F64, the dtypes of HostDType; the default DTypeReader of `parseHeader`. */
function readHostDType(fileDType: string, source: string, name: string): { dtype: HostDType; bytes: number } {
  const dtype = Object.hasOwn(FROM_FILE_NAME, fileDType) ? FROM_FILE_NAME[fileDType] : undefined;
  if (dtype === undefined && Object.hasOwn(FORMAT_DTYPE_BYTES, fileDType)) {
    throw new SafetensorsError(
      source,
      name,
      `dtype ${fileDType} is not supported; Sparrow reads ${SUPPORTED}, so convert the tensor to one of them before saving, or load the weights with importSafetensors, which converts other dtypes`,
    );
  }
  if (dtype === undefined) throw new SafetensorsError(source, name, `unknown dtype ${JSON.stringify(fileDType)}; Sparrow reads ${SUPPORTED}`);
  return { dtype, bytes: DTYPES[dtype].bytes };
}

function parseEntry(source: string, name: string, value: unknown, dataBytes: number, readDType: DTypeReader<string>): TensorEntry<string> {
  if (!isPlainObject(value)) throw new SafetensorsError(source, name, 'entry is not a JSON object with dtype, shape and data_offsets');

  const fileDType = value.dtype;
  if (typeof fileDType !== 'string') throw new SafetensorsError(source, name, 'dtype is missing or not a string');
  const { dtype, bytes } = readDType(fileDType, source, name);

  const shape = value.shape;
  if (!Array.isArray(shape)) throw new SafetensorsError(source, name, 'shape is missing or not an array');
  const elements = shapeElements(source, name, shape);

  const offsets = value.data_offsets;
  const validOffsets = Array.isArray(offsets) && offsets.length === 2 && offsets.every((x) => Number.isSafeInteger(x) && x >= 0) && offsets[0] <= offsets[1];
  if (!validOffsets) throw new SafetensorsError(source, name, `data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of integers with 0 <= begin <= end`);
  const [begin, end] = offsets as [number, number];

  if (end > dataBytes) {
    throw new SafetensorsError(source, name, `data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataBytes} bytes); the file is truncated or corrupt`);
  }
  const expected = elements * bytes;
  if (end - begin !== expected) {
    throw new SafetensorsError(source, name, `data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${fileDType} needs ${expected}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Checks that the entries cover [0, dataBytes) exactly once, and sorts them by offset. */
function checkTiling(source: string, entries: TensorEntry<string>[], dataBytes: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);

  let covered = 0;
  let previous: TensorEntry<string> | undefined;
  for (const entry of entries) {
    if (entry.begin < covered) {
      throw new SafetensorsError(source, entry.name, `data_offsets [${entry.begin}, ${entry.end}] overlap tensor ${JSON.stringify(previous!.name)} at [${previous!.begin}, ${previous!.end}]`);
    }
    if (entry.begin > covered) {
      throw new SafetensorsError(source, entry.name, `data_offsets start at ${entry.begin}, but the previous tensor ends at ${covered}; bytes [${covered}, ${entry.begin}) of the data belong to no tensor`);
    }
    covered = entry.end;
    previous = entry;
  }

  if (covered !== dataBytes) {
    throw new SafetensorsError(source, undefined, `the tensors cover ${covered} bytes of data but the file contains ${dataBytes}; the last ${dataBytes - covered} bytes belong to no tensor`);
  }
}

function shapeElements(source: string, name: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw new SafetensorsError(source, name, 'shape is not an array');
  let elements = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw new SafetensorsError(source, name, `shape ${JSON.stringify(shape)} has dimension ${JSON.stringify(dim)}; expected integers >= 0`);
    elements *= dim;
  }
  // 2^53 bytes is far beyond any real file, so a product this large means a corrupt header.
  if (!Number.isSafeInteger(elements * 8)) throw new SafetensorsError(source, name, `shape ${JSON.stringify(shape)} has more elements than a file can hold`);
  return elements;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function swapBytes(bytes: Uint8Array, width: number): Uint8Array {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
  return bytes;
}
