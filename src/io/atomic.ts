// Atomic file replacement: write a temporary file beside the target, flush it to disk, rename it over.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with the bytes that `write` puts into a new file descriptor. The bytes go to
 * a temporary file in the same directory, because rename is atomic only within one file system.
 * That file is flushed with fsync and renamed over `path`. Then the directory is flushed, so
 * the rename itself survives a power loss. If `write` or any step throws, the temporary file is
 * removed and `path` keeps its old content.
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fd = openSync(temporary, 'wx', 0o644);
  try {
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  fsyncDirectory(dirname(path));
}

/** Writes all of `bytes` at the current position, in chunks below the 2 GiB limit of one write call. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  const chunk = 1 << 30;
  let offset = 0;
  while (offset < bytes.length) {
    offset += writeSync(fd, bytes, offset, Math.min(chunk, bytes.length - offset));
  }
}

/**
 * Flushes a directory's entries (new names, renames) to disk. Windows cannot open a directory
 * for fsync and reports EISDIR or EPERM; there the rename is left to the file system's own
 * ordering.
 */
export function fsyncDirectory(directory: string): void {
  let fd: number;
  try {
    fd = openSync(directory, 'r');
  } catch (error) {
    if (isErrorCode(error, 'EISDIR') || isErrorCode(error, 'EPERM')) return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    if (!isErrorCode(error, 'EINVAL') && !isErrorCode(error, 'EPERM')) throw error;
  } finally {
    closeSync(fd);
  }
}

export function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}
