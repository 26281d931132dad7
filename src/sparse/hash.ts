// The 32-bit hash of hashed categorical columns and feature crosses (MurmurHash3 x86_32).

/**
 * MurmurHash3 x86_32 (Austin Appleby's public-domain reference) of a sequence of 32-bit
 * words, each taken as its little-endian 4 bytes. Negative numbers are hashed by their
 * two's-complement bits and numbers of 2^32 and above by their low 32 bits, so the WGSL
 * version, which sees u32 words, gives the same result.
 */
export function murmur3Words(words: ArrayLike<number>, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < words.length; i++) h = mixWord(h, lowBits(words[i]));
  return finalize(h, words.length * 4);
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `text`, for hashing raw string values into buckets. */
export function murmur3String(text: string, seed: number): number {
  const bytes = new TextEncoder().encode(text);
  let h = seed >>> 0;
  const whole = bytes.length - (bytes.length % 4);
  for (let i = 0; i < whole; i += 4) {
    h = mixWord(h, (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0);
  }

  const rest = bytes.length & 3;
  if (rest > 0) {
    let tail = 0;
    if (rest === 3) tail ^= bytes[whole + 2] << 16;
    if (rest >= 2) tail ^= bytes[whole + 1] << 8;
    tail ^= bytes[whole];
    h ^= scramble(tail >>> 0);
  }
  return finalize(h, bytes.length);
}

/** Hash of the crossed ids, reduced to `[0, buckets)`. */
export function crossBucket(ids: ArrayLike<number>, seed: number, buckets: number): number {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 4294967295) {
    throw new RangeError(`crossBucket: buckets ${buckets} must be an integer from 1 to 2^32 - 1`);
  }
  return murmur3Words(ids, seed) % buckets;
}

function lowBits(value: number): number {
  if (!Number.isInteger(value)) throw new RangeError(`murmur3Words: ${value} is not an integer`);
  // ToUint32 takes any integer modulo 2^32 exactly, negative ones to their two's-complement bits.
  return value >>> 0;
}

function scramble(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593) >>> 0;
}

function mixWord(h: number, word: number): number {
  h ^= scramble(word);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
