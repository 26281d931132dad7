// Seeded pseudo-random numbers for shuffling and the synthetic generators (mulberry32 with a hashed seed).

import { hashU32, seedToU32 } from '../ops/random-hash.js';

/**
 * A small seeded generator: mulberry32 (Tommy Ettinger's public-domain 32-bit generator),
 * started from a hash of the seed and an optional stream number so that streams of nearby
 * seeds do not correlate. The same seed and stream always give the same sequence.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number, stream = 0) {
    this.state = hashU32((seedToU32(seed) ^ hashU32(stream >>> 0)) >>> 0);
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  next(): number {
    const high = this.nextU32() >>> 5;
    const low = this.nextU32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal value (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Draws whether an event of probability p happens. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Shuffles `values` in place (Fisher-Yates). */
  shuffle<T extends { length: number; [index: number]: unknown }>(values: T): T {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const swap = values[i];
      values[i] = values[j];
      values[j] = swap;
    }
    return values;
  }
}
