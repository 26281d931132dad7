// Synchronization and memory queries on the default or a named backend.

import type { BackendName, MemoryInfo } from './backend.js';
import { getBackend } from './registry.js';

/** Waits until the backend has finished all submitted work; throws the first kernel error it reported. */
export async function sync(backend?: BackendName): Promise<void> {
  await getBackend(backend).sync();
}

/** Bytes allocated on the backend (current and peak) and bytes held by live tensors. */
export function memory(backend?: BackendName): MemoryInfo {
  return getBackend(backend).memory();
}
