// Generator `youtube-sim`: a multi-objective ranking log from hidden factors, written by a logging policy that confounds position with promotion.

import { SeededRandom } from '../random.js';
import type { Schema } from '../schema.js';
import type { RowSource } from '../source.js';
import { checkCount, checkFraction, generatedSource } from './generated.js';

export interface YoutubeSimOptions {
  /** Number of impressions (rows); default 20,000. Each request fills `positions` consecutive rows. */
  rows?: number;
  /** Seed of the hidden state and of every request; default 0. */
  seed?: number;
  /** Number of users; default 500. */
  users?: number;
  /** Number of items; default 200, so that 20,000 impressions show each item about 100 times. */
  items?: number;
  /** Item categories (the centers of item factors); default 20. */
  categories?: number;
  /** Dimension k of the hidden factors; default 8. */
  factors?: number;
  /** Number of slots on a page, which is also the number of candidates per request; default 10, at most `items`. */
  positions?: number;
  /** Constant c of the relevance logit l = 1.5 a + b + c, which sets the click rate; default -0.5. */
  baseLogit?: number;
  /** Standard deviation of item quality b, the part of relevance that is the same for every user; default 1. */
  qualitySd?: number;
  /** Share of items that the logging policy promotes, independently of their relevance; default 0.3. */
  promotedShare?: number;
  /** Amount added to a promoted item's logging score, in logits of relevance; default 6. */
  promotionBoost?: number;
  /** Standard deviation of the logging policy's error on the relevance logit; default 2. */
  policyNoise?: number;
  /**
   * Weight of the user-item affinity term 1.5 a in the logging policy's estimate of the
   * relevance logit, in [0, 1]; default 1. At 1 the policy's estimate contains the whole
   * affinity term; at 0 it contains only the item's quality, like a popularity ranker.
   */
  policyAffinity?: number;
  /**
   * Index of the first row, so that disjoint ranges of one seed make train and test sets;
   * default 0. Rows belong to requests by absolute index, so an offset that is not a
   * multiple of `positions` starts inside a request.
   */
  offset?: number;
}

export const YOUTUBE_SIM_COLUMNS = [
  'user', 'request', 'item', 'item_category', 'promoted', 'position', 'device',
  'click', 'watch_time', 'like', 'dismiss', 'rating', 'true_relevance', 'examination',
];

/** Devices with their share of requests and their position bias: examination = scale / position^decay. */
export const YOUTUBE_SIM_DEVICES = [
  { name: 'mobile', share: 0.6, scale: 1.0, decay: 1.0 },
  { name: 'desktop', share: 0.3, scale: 0.9, decay: 0.6 },
  { name: 'tv', share: 0.1, scale: 0.8, decay: 0.3 },
];

/**
 * Hidden state, drawn once per seed from stream 0, in this order (k = factors; N(m, v) has
 * variance v): user factors and category centers with independent N(0, 1/sqrt(k))
 * coordinates, so u.v has variance about 1; each item's category, uniform; its factors, the
 * category's center plus N(0, 0.25/sqrt(k)) noise per coordinate; item quality
 * b ~ N(0, qualitySd^2); item duration uniform in 60..1200 s; and whether the item is
 * promoted, with probability promotedShare, apart from everything else. With affinity
 * a = u.v, the true relevance of an item to a user is r = sigmoid(l), l = 1.5 a + b + baseLogit.
 *
 * The log is written by a logging policy (the previous ranker), request by request. Request
 * q fills rows q P .. q P + P - 1 (P = positions) and draws from stream q + 1: a uniform
 * user, a device (mobile 60 %, desktop 30 %, tv 10 %), P distinct uniform candidate items,
 * then one z ~ N(0, 1) per candidate. The policy scores each candidate with
 * s = policyAffinity 1.5 a + b + baseLogit + policyNoise z + promotionBoost [promoted]: a
 * noisy estimate of relevance plus a boost that has nothing to do with relevance. It shows
 * the candidates by decreasing s at positions 1..P (ties by draw order), and row q P + j is
 * the impression at position j + 1. So position is confounded twice: relevant items and
 * promoted items both sit near the top, and promoted items get more clicks than their
 * relevance earns.
 *
 * Then each impression, in position order: examination e = scale(device) /
 * position^decay(device); click ~ Bernoulli(r e). A click gives watch_time = duration *
 * sigmoid(2 a + N(0, 0.5^2)), like ~ Bernoulli(sigmoid(3 a - 1.5)) and rating =
 * clamp(round(1 + 4 sigmoid(2 a + N(0, 0.5^2))), 1, 5); no click gives watch_time 0, like
 * 0, an empty rating, and dismiss ~ Bernoulli(0.3 e (1 - r)). A row depends only on the seed
 * and its index.
 */
export class YoutubeSim {
  readonly options: Required<YoutubeSimOptions>;
  readonly userFactors: Float64Array[];
  readonly itemFactors: Float64Array[];
  readonly itemCategory: Int32Array;
  readonly itemQuality: Float64Array;
  readonly itemDuration: Float64Array;
  /** 1 for the items that the logging policy promotes, else 0. */
  readonly itemPromoted: Uint8Array;
  private cachedRequest = -1;
  private cachedRows: (string | number)[][] = [];

  constructor(options: YoutubeSimOptions = {}) {
    this.options = {
      rows: 20_000, seed: 0, offset: 0, users: 500, items: 200, categories: 20, factors: 8, positions: 10,
      baseLogit: -0.5, qualitySd: 1, promotedShare: 0.3, promotionBoost: 6, policyNoise: 2, policyAffinity: 1, ...options,
    };
    const o = this.options;
    for (const name of ['users', 'items', 'categories', 'factors', 'positions'] as const) checkCount('youtube-sim', name, o[name], 1);
    checkCount('youtube-sim', 'offset', o.offset, 0);
    if (o.positions > o.items) throw new RangeError(`youtube-sim: positions ${o.positions} exceeds items ${o.items}; a request shows distinct items, so use at most ${o.items} positions`);
    checkFraction('youtube-sim', 'promotedShare', o.promotedShare);
    checkFraction('youtube-sim', 'policyAffinity', o.policyAffinity);
    if (!Number.isFinite(o.baseLogit)) throw new RangeError(`youtube-sim: baseLogit ${o.baseLogit} must be a finite number`);
    for (const name of ['qualitySd', 'promotionBoost', 'policyNoise'] as const) {
      if (!(Number.isFinite(o[name]) && o[name] >= 0)) throw new RangeError(`youtube-sim: ${name} ${o[name]} must be a finite number >= 0`);
    }

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
    this.itemQuality = Float64Array.from({ length: o.items }, () => o.qualitySd * random.normal());
    this.itemDuration = Float64Array.from({ length: o.items }, () => 60 + 1140 * random.next());
    this.itemPromoted = Uint8Array.from({ length: o.items }, () => (random.chance(o.promotedShare) ? 1 : 0));
  }

  /** True relevance of an item to a user: the probability of a click when the item is examined. */
  relevance(user: number, item: number): number {
    return sigmoid(this.relevanceLogit(user, item));
  }

  /** Probability that an impression at `position` (1-based) on `device` is examined. */
  examination(position: number, device: number): number {
    const { scale, decay } = YOUTUBE_SIM_DEVICES[device];
    return scale / position ** decay;
  }

  /** Computes the logging policy's score of an item for a user, given the policy's error z on the relevance logit. */
  policyScore(user: number, item: number, z: number): number {
    const o = this.options;
    return o.policyAffinity * 1.5 * this.affinity(user, item) + this.itemQuality[item] + o.baseLogit + o.policyNoise * z + o.promotionBoost * this.itemPromoted[item];
  }

  private relevanceLogit(user: number, item: number): number {
    return 1.5 * this.affinity(user, item) + this.itemQuality[item] + this.options.baseLogit;
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
    const request = Math.floor(index / this.options.positions);
    if (request !== this.cachedRequest) {
      this.cachedRows = this.requestRows(request);
      this.cachedRequest = request;
    }
    return [...this.cachedRows[index % this.options.positions]];
  }

  /** Generates the impressions of one request in position order: the policy ranks the candidates, then each impression draws its outcome. */
  private requestRows(request: number): (string | number)[][] {
    const o = this.options;
    const random = new SeededRandom(o.seed, request + 1);
    const user = random.int(o.users);
    const device = pickDevice(random.next());
    const candidates: number[] = [];
    while (candidates.length < o.positions) {
      const item = random.int(o.items);
      if (!candidates.includes(item)) candidates.push(item);
    }
    const scores = candidates.map((item) => this.policyScore(user, item, random.normal()));
    const ranked = candidates.map((item, i) => ({ item, score: scores[i], i })).sort((a, b) => b.score - a.score || a.i - b.i);

    return ranked.map(({ item }, slot) => {
      const position = slot + 1;
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
        `u${user}`, `q${request}`, `i${item}`, `c${this.itemCategory[item]}`, String(this.itemPromoted[item]), String(position), YOUTUBE_SIM_DEVICES[device].name,
        click ? '1' : '0', watchTime, like ? '1' : '0', dismiss ? '1' : '0', rating === '' ? '' : String(rating),
        relevance, examination,
      ];
    });
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
 * The youtube-sim schema: user, item, category and the promoted flag feed both parts;
 * position and device feed only the bias tower. request names the page an impression was
 * shown on (a query column for ranking, not a feature). true_relevance and examination are
 * the hidden truth, not features. rating is missing (masked) without a click.
 */
export const youtubeSimSchema: Schema = {
  name: 'youtube-sim',
  description: 'synthetic multi-objective ranking log from a logging policy that puts relevant and promoted items on top, with a position bias on clicks',
  csv: { delimiter: ',', header: true, columns: YOUTUBE_SIM_COLUMNS },
  missingMarkers: [''],
  hashSeed: 0,
  features: [
    { name: 'user', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'item', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'item_category', type: 'categorical', feeds: 'both', embeddingDim: 8 },
    { name: 'promoted', type: 'categorical', feeds: 'both', embeddingDim: 2 },
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
