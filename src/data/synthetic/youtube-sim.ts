// Generator `youtube-sim`: a multi-objective ranking log from hidden factors, with a planted position bias on clicks.

import { SeededRandom } from '../random.js';
import type { Schema } from '../schema.js';
import type { RowSource } from '../source.js';
import { checkCount, generatedSource } from './generated.js';

export interface YoutubeSimOptions {
  /** Number of impressions (rows); default 20,000. */
  rows?: number;
  seed?: number;
  users?: number;
  items?: number;
  /** Item categories (the centers of item factors); default 20. */
  categories?: number;
  /** Dimension k of the hidden factors; default 8. */
  factors?: number;
  /** Number of slots on the page; default 10. */
  positions?: number;
  /** Index of the first row, so that disjoint ranges of one seed make train and test sets; default 0. */
  offset?: number;
}

export const YOUTUBE_SIM_COLUMNS = [
  'user', 'item', 'item_category', 'position', 'device',
  'click', 'watch_time', 'like', 'dismiss', 'rating', 'true_relevance', 'examination',
];

/** Devices with their share of impressions and their position bias: examination = scale / position^decay. */
export const YOUTUBE_SIM_DEVICES = [
  { name: 'mobile', share: 0.6, scale: 1.0, decay: 1.0 },
  { name: 'desktop', share: 0.3, scale: 0.9, decay: 0.6 },
  { name: 'tv', share: 0.1, scale: 0.8, decay: 0.3 },
];

/**
 * Hidden state, drawn once per seed (k = factors): user factors and category centers have
 * independent N(0, 1/sqrt(k)) coordinates, so u.v has variance about 1; an item's factors
 * are its category's center plus N(0, 0.25/sqrt(k)) noise per coordinate; item quality b ~ N(0, 0.5^2); item duration uniform in 60..1200 s.
 * Per impression, with affinity a = u.v: true relevance r = sigmoid(1.5 a + b - 0.5);
 * examination e = scale(device) / position^decay(device); click ~ Bernoulli(r e). A click
 * gives watch_time = duration * sigmoid(2 a + N(0, 0.5^2)), like ~ Bernoulli(sigmoid(3 a - 1.5))
 * and rating = clamp(round(1 + 4 sigmoid(2 a + N(0, 0.5^2))), 1, 5); no click gives
 * watch_time 0, like 0, an empty rating, and dismiss ~ Bernoulli(0.3 e (1 - r)).
 */
export class YoutubeSim {
  readonly options: Required<YoutubeSimOptions>;
  readonly userFactors: Float64Array[];
  readonly itemFactors: Float64Array[];
  readonly itemCategory: Int32Array;
  readonly itemQuality: Float64Array;
  readonly itemDuration: Float64Array;

  constructor(options: YoutubeSimOptions = {}) {
    this.options = { rows: 20_000, seed: 0, offset: 0, users: 500, items: 1000, categories: 20, factors: 8, positions: 10, ...options };
    const o = this.options;
    for (const name of ['users', 'items', 'categories', 'factors', 'positions'] as const) checkCount('youtube-sim', name, o[name], 1);
    checkCount('youtube-sim', 'offset', o.offset, 0);

    const random = new SeededRandom(o.seed, 0);
    const sd = 1 / Math.sqrt(Math.sqrt(o.factors));
    const vector = (scale: number) => Float64Array.from({ length: o.factors }, () => scale * random.normal());
    this.userFactors = Array.from({ length: o.users }, () => vector(sd));
    const centers = Array.from({ length: o.categories }, () => vector(sd));
    this.itemCategory = Int32Array.from({ length: o.items }, () => random.int(o.categories));
    this.itemFactors = Array.from(this.itemCategory, (category) => {
      const noise = vector(0.5 * sd);
      return centers[category].map((value, i) => value + noise[i]);
    });
    this.itemQuality = Float64Array.from({ length: o.items }, () => 0.5 * random.normal());
    this.itemDuration = Float64Array.from({ length: o.items }, () => 60 + 1140 * random.next());
  }

  /** True relevance of an item to a user: the probability of a click when the item is examined. */
  relevance(user: number, item: number): number {
    return sigmoid(1.5 * this.affinity(user, item) + this.itemQuality[item] - 0.5);
  }

  /** Probability that an impression at `position` (1-based) on `device` is examined. */
  examination(position: number, device: number): number {
    const { scale, decay } = YOUTUBE_SIM_DEVICES[device];
    return scale / position ** decay;
  }

  private affinity(user: number, item: number): number {
    const u = this.userFactors[user];
    const v = this.itemFactors[item];
    let sum = 0;
    for (let i = 0; i < u.length; i++) sum += u[i] * v[i];
    return sum;
  }

  /** Impression `index`, in YOUTUBE_SIM_COLUMNS order. */
  row(index: number): (string | number)[] {
    const o = this.options;
    const random = new SeededRandom(o.seed, index + 1);
    const user = random.int(o.users);
    const item = random.int(o.items);
    const position = 1 + random.int(o.positions);
    const device = pickDevice(random.next());

    const affinity = this.affinity(user, item);
    const relevance = this.relevance(user, item);
    const examination = this.examination(position, device);
    const click = random.chance(relevance * examination);
    let watchTime = 0;
    let like = false;
    let dismiss = false;
    let rating: number | '' = '';
    if (click) {
      watchTime = Math.round(this.itemDuration[item] * sigmoid(2 * affinity + 0.5 * random.normal()));
      like = random.chance(sigmoid(3 * affinity - 1.5));
      rating = Math.min(5, Math.max(1, Math.round(1 + 4 * sigmoid(2 * affinity + 0.5 * random.normal()))));
    } else {
      dismiss = random.chance(0.3 * examination * (1 - relevance));
    }
    return [
      `u${user}`, `i${item}`, `c${this.itemCategory[item]}`, String(position), YOUTUBE_SIM_DEVICES[device].name,
      click ? '1' : '0', watchTime, like ? '1' : '0', dismiss ? '1' : '0', rating === '' ? '' : String(rating),
      relevance, examination,
    ];
  }

  source(): RowSource {
    return generatedSource(`youtube-sim(seed ${this.options.seed})`, YOUTUBE_SIM_COLUMNS, this.options.rows, (index) => this.row(this.options.offset + index));
  }
}

/** Device index for a uniform draw in [0, 1), by the devices' shares. */
function pickDevice(draw: number): number {
  let cumulative = 0;
  for (let device = 0; device < YOUTUBE_SIM_DEVICES.length; device++) {
    cumulative += YOUTUBE_SIM_DEVICES[device].share;
    if (draw < cumulative) return device;
  }
  return YOUTUBE_SIM_DEVICES.length - 1;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * The youtube-sim schema: user, item and category feed both parts; position and device feed
 * only the bias tower. true_relevance and examination are the hidden truth, not features.
 * rating is missing (masked) without a click.
 */
export const youtubeSimSchema: Schema = {
  name: 'youtube-sim',
  description: 'synthetic multi-objective ranking log with hidden factors and a position bias on clicks',
  csv: { delimiter: ',', header: true, columns: YOUTUBE_SIM_COLUMNS },
  missingMarkers: [''],
  hashSeed: 0,
  features: [
    { name: 'user', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'item', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'item_category', type: 'categorical', feeds: 'both', embeddingDim: 8 },
    { name: 'position', type: 'categorical', feeds: 'bias', embeddingDim: 4 },
    { name: 'device', type: 'categorical', feeds: 'bias', embeddingDim: 2 },
  ],
  labels: [
    { name: 'click', type: 'binary', positive: ['1'], negative: ['0'] },
    { name: 'watch_time', type: 'numeric' },
    { name: 'like', type: 'binary', positive: ['1'], negative: ['0'] },
    { name: 'dismiss', type: 'binary', positive: ['1'], negative: ['0'] },
    { name: 'rating', type: 'numeric', missing: { policy: 'mask' } },
  ],
};
