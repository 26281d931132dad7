// Writes an exported ONNX model to a file, atomically.

import { writeAll, writeFileAtomic } from '../io/atomic.js';

/** Replaces `path` with the model's bytes: readers see the old file or the whole new one, never a partial file. */
export function writeOnnxFile(path: string, bytes: Uint8Array): void {
  writeFileAtomic(path, (fd) => writeAll(fd, bytes));
}
