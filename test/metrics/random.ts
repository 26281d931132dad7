// Seeded random data for the metric tests: scores with many ties, binary labels, weights and masks.

/** Mulberry32: a small seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomRows {
  scores: Float64Array;
  labels: Float64Array;
  weights: Float64Array;
  mask: Float32Array;
}

/**
 * Rows whose scores take only `levels` distinct values, so that many scores tie, and whose
 * labels lean towards higher scores, so that the AUC is far from both 0.5 and 1.
 */
export function randomRows(seed: number, n: number, levels: number): RandomRows {
  const random = seededRandom(seed);
  const rows: RandomRows = { scores: new Float64Array(n), labels: new Float64Array(n), weights: new Float64Array(n), mask: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    const level = Math.floor(random() * levels);
    rows.scores[i] = level / levels;
    rows.labels[i] = random() < 0.25 + 0.5 * (level / levels) ? 1 : 0;
    rows.weights[i] = random() < 0.1 ? 0 : Math.round(random() * 40) / 8;
    rows.mask[i] = random() < 0.85 ? 1 : 0;
  }
  return rows;
}

/** Computes the AUC by definition: every (positive, negative) pair, a tie counting one half, O(n^2). */
export function pairwiseAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): number {
  let area = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      const pairWeight = weights === undefined ? 1 : weights[i] * weights[j];
      pairs += pairWeight;
      if (scores[i] > scores[j]) area += pairWeight;
      else if (scores[i] === scores[j]) area += 0.5 * pairWeight;
    }
  }
  return area / pairs;
}
