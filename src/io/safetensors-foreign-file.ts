// Reads a safetensors file written by another tool, of any dtype the format defines.

import { closeSync, fstatSync, openSync } from 'node:fs';

import { SafetensorsError } from './errors.js';
import { readInto } from './safetensors-file.js';
import { foreignTensor, readAnyDType, type ForeignSafetensors, type ForeignTensor } from './safetensors-foreign.js';
import { parseHeader, readHeaderLength } from './safetensors.js';

/**
 * Reads and validates a safetensors file of any dtype (see `decodeForeignSafetensors` for the
 * checks), one tensor at a time. Each tensor keeps its file bytes; `convertForeignTensor`
 * converts it. Invalid files raise a SafetensorsError naming the file and the tensor.
 */
export function readForeignSafetensors(path: string): ForeignSafetensors {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new SafetensorsError(path, undefined, `cannot open the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); check the path`);
  }
  try {
    const fileBytes = fstatSync(fd).size;
    const first = new Uint8Array(Math.min(8, fileBytes));
    readInto(fd, 0, first, path, undefined);
    const headerLength = readHeaderLength(first, fileBytes, path);
    const header = new Uint8Array(headerLength);
    readInto(fd, 8, header, path, undefined);

    const dataStart = 8 + headerLength;
    const { metadata, entries } = parseHeader(header, fileBytes - dataStart, path, readAnyDType);
    const tensors: Record<string, ForeignTensor> = {};
    for (const entry of entries) {
      const bytes = new Uint8Array(entry.end - entry.begin);
      readInto(fd, dataStart + entry.begin, bytes, path, entry.name);
      tensors[entry.name] = foreignTensor(entry, bytes);
    }
    return { source: path, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}
