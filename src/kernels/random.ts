// The counter-based hash behind seeded random ops, in WGSL; the CPU twin is in ops/random.ts.

/**
 * PCG-style hash of one u32 (the "PCG hash" output permutation of O'Neill's PCG family). The
 * value at element `i` of a random tensor is `sparrow_hash(sparrow_hash(i) ^ seed)`, so every
 * element is independent of the grid and the CPU computes the same bits.
 */
export const WGSL_HASH = `fn sparrow_hash(input: u32) -> u32 {
  let state = input * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn sparrow_uniform(seed: u32, i: u32) -> f32 {
  // 24 random bits, mapped to [0, 1).
  return f32(sparrow_hash(sparrow_hash(i) ^ seed) >> 8u) * (1.0 / 16777216.0);
}`;
