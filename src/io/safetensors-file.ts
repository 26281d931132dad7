// Reads and writes safetensors files, streaming tensor by tensor so a file is never held in memory twice.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { writeAll, writeFileAtomic } from './atomic.js';
import { SafetensorsError } from './errors.js';
import { allocateTensor, encodeHeader, fileOrderToHost, parseHeader, readHeaderLength, tensorBytes, type SafetensorsMetadata, type TensorMap } from './safetensors.js';

export interface WrittenFile {
  /** File size in bytes. */
  bytes: number;
  /** SHA-256 of the whole file, as lowercase hex. */
  sha256: string;
}

export interface ReadSafetensors {
  /** In file order, each in its own new typed array. */
  tensors: TensorMap;
  metadata: SafetensorsMetadata;
  /** File size in bytes. */
  bytes: number;
  /** SHA-256 of the whole file, as lowercase hex. */
  sha256: string;
}

/**
 * Writes tensors (and an optional metadata map of strings) as a safetensors file, atomically:
 * readers see the old file or the complete new one, never a partial file. Every tensor is
 * checked before the file is created. Returns the file's size and SHA-256.
 */
export function writeSafetensors(path: string, tensors: TensorMap, metadata?: SafetensorsMetadata): WrittenFile {
  const header = encodeHeader(tensors, metadata, path);
  const hash = createHash('sha256');

  writeFileAtomic(path, (fd) => {
    writeAll(fd, header.bytes);
    hash.update(header.bytes);
    for (const [, tensor] of header.order) {
      const bytes = tensorBytes(tensor);
      writeAll(fd, bytes);
      hash.update(bytes);
    }
  });
  return { bytes: header.bytes.length + header.dataBytes, sha256: hash.digest('hex') };
}

/**
 * Reads and validates a safetensors file of F32, I32, U32 or F64 tensors. Invalid files raise a
 * SafetensorsError that names the file and the tensor. The checks cover a header length past
 * the end of the file, a header that is not UTF-8 JSON, an unknown or unsupported dtype, and
 * offsets that are out of range, overlap, leave a gap, or do not match shape x dtype size.
 */
export function readSafetensors(path: string): ReadSafetensors {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    const hash = createHash('sha256');

    const first = readExactly(fd, 0, Math.min(8, fileBytes), path);
    const headerLength = readHeaderLength(first, fileBytes, path);
    const headerBytes = readExactly(fd, 8, headerLength, path);
    hash.update(first).update(headerBytes);

    const dataStart = 8 + headerLength;
    const { metadata, entries } = parseHeader(headerBytes, fileBytes - dataStart, path);

    // The entries tile the data buffer in order, so hashing them in turn hashes the whole file.
    const tensors: TensorMap = {};
    for (const entry of entries) {
      const tensor = allocateTensor(entry);
      const bytes = new Uint8Array(tensor.data.buffer);
      readInto(fd, dataStart + entry.begin, bytes, path, entry.name);
      hash.update(bytes);
      fileOrderToHost(tensor);
      tensors[entry.name] = tensor;
    }
    return { tensors, metadata, bytes: fileBytes, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, position: number, length: number, path: string): Uint8Array {
  const bytes = new Uint8Array(length);
  readInto(fd, position, bytes, path, undefined);
  return bytes;
}

/** Fills `bytes` from `position`, in chunks below the 2 GiB limit of one read call. */
export function readInto(fd: number, position: number, bytes: Uint8Array, path: string, tensor: string | undefined): void {
  const chunk = 1 << 30;
  let offset = 0;
  while (offset < bytes.length) {
    const read = readSync(fd, bytes, offset, Math.min(chunk, bytes.length - offset), position + offset);
    if (read === 0) throw new SafetensorsError(path, tensor, 'the file ended while it was being read; another process may have truncated it');
    offset += read;
  }
}
