// Size-class pool of GPU buffers, with release deferred until the commands that used them are submitted.

/** Rounds a request up to its size class: powers of two up to 4 MiB, then multiples of 4 MiB. */
export function sizeClass(bytes: number): number {
  const minimum = 16;
  const step = 4 * 1024 * 1024;
  if (bytes <= minimum) return minimum;
  if (bytes <= step) return 2 ** Math.ceil(Math.log2(bytes));
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Buffers released while commands that use them are still waiting to be submitted. */
  private deferred: GPUBuffer[] = [];
  private deferredBytes = 0;
  allocatedBytes = 0;
  peakAllocatedBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const reused = this.free.get(size)?.pop();
    if (reused) return reused;

    const buffer = this.device.createBuffer({ size, usage: this.usage, label: `${this.label}:${size}` });
    this.allocatedBytes += size;
    this.peakAllocatedBytes = Math.max(this.peakAllocatedBytes, this.allocatedBytes);
    return buffer;
  }

  /** Returns a buffer to the pool once the pending commands have been submitted. */
  release(buffer: GPUBuffer): void {
    this.deferred.push(buffer);
    this.deferredBytes += buffer.size;
  }

  pendingBytes(): number {
    return this.deferredBytes;
  }

  /** Call after `queue.submit`: released buffers can be reused by later commands. */
  onSubmitted(): void {
    for (const buffer of this.deferred) {
      const list = this.free.get(buffer.size);
      if (list) list.push(buffer);
      else this.free.set(buffer.size, [buffer]);
    }
    this.deferred = [];
    this.deferredBytes = 0;
  }

  /** Destroys the free buffers. */
  emptyCache(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) {
        this.allocatedBytes -= buffer.size;
        buffer.destroy();
      }
    }
    this.free.clear();
  }
}
