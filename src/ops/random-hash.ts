// CPU twin of the WGSL hash in kernels/random.ts: same integer steps, same bits.

export function hashU32(input: number): number {
  const state = (Math.imul(input >>> 0, 747796405) + 2891336453) >>> 0;
  const shift = ((state >>> 28) + 4) & 31;
  const word = Math.imul(((state >>> shift) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform float in [0, 1) for element `i` of stream `seed`. */
export function uniformAt(seed: number, i: number): number {
  return (hashU32((hashU32(i) ^ seed) >>> 0) >>> 8) / 16777216;
}

/** Folds any integer seed into a u32 stream id. */
export function seedToU32(seed: number): number {
  if (!Number.isInteger(seed)) throw new RangeError(`seed: ${seed} is not an integer`);
  return hashU32((seed >>> 0) ^ hashU32(Math.floor(seed / 4294967296) >>> 0));
}
