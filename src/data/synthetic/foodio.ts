// Generator `foodio`: search logs of a food app, where crosses solve targeted queries and embeddings exploratory ones.

import { hashU32, seedToU32 } from '../../ops/random-hash.js';
import { SeededRandom } from '../random.js';
import type { Schema } from '../schema.js';
import type { RowSource } from '../source.js';
import { checkCount, checkFraction, generatedSource } from './generated.js';

const CATEGORY_NAMES = [
  'seafood', 'pizza', 'noodles', 'burgers', 'salads', 'desserts', 'curry', 'sushi', 'tacos', 'soups', 'barbecue', 'breakfast',
  'sandwiches', 'dumplings', 'pasta', 'vegan',
];

export interface FoodioOptions {
  /** Number of rows; default 20,000. */
  rows?: number;
  seed?: number;
  /** train: held-out items never appear with an exploratory query; test: they can. Default train. */
  part?: 'train' | 'test';
  /** Number of categories, 2 to 16; default 8. */
  categories?: number;
  /** Items per category; default 12. */
  itemsPerCategory?: number;
  /** Share of rows with a targeted query; default 0.5. */
  targetedShare?: number;
  /** Share of items held out from every exploratory query in training; default 0.25. */
  holdoutFraction?: number;
  /** Probability of consumption when the item satisfies the query; default 0.9. */
  consumeRelevant?: number;
  /** Probability of consumption when it does not; default 0.05. */
  consumeIrrelevant?: number;
}

export const FOODIO_COLUMNS = ['query', 'query_kind', 'item', 'item_category', 'price', 'consumed', 'relevant', 'pair_in_train'];

/**
 * Structure of foodio (docs/datasets.md states it in full). Item k of category c is named
 * "c/k". A targeted query "order c/k" is satisfied by item c/k only; an exploratory query
 * "c" by every item of category c. A seeded subset of the items never appears with any
 * exploratory query in the train part (only with targeted ones), so the test part has
 * exploratory pairs, relevant and irrelevant, that never occur in training.
 * `relevant` is the truth; `consumed`, the label, is a noisy draw.
 */
export class Foodio {
  readonly options: Required<FoodioOptions>;
  /** Per item: whether the item is held out of the exploratory rows of the train part. */
  readonly heldOut: boolean[];
  /** Per item: its price, drawn once per seed. */
  readonly prices: number[];

  constructor(options: FoodioOptions = {}) {
    this.options = {
      rows: 20_000, seed: 0, part: 'train', categories: 8, itemsPerCategory: 12, targetedShare: 0.5, holdoutFraction: 0.25,
      consumeRelevant: 0.9, consumeIrrelevant: 0.05, ...options,
    };
    const o = this.options;
    checkCount('foodio', 'categories', o.categories, 2);
    if (o.categories > CATEGORY_NAMES.length) throw new RangeError(`foodio: categories ${o.categories} must be at most ${CATEGORY_NAMES.length}`);
    checkCount('foodio', 'itemsPerCategory', o.itemsPerCategory, 2);
    for (const name of ['targetedShare', 'holdoutFraction', 'consumeRelevant', 'consumeIrrelevant'] as const) checkFraction('foodio', name, o[name]);
    if (o.part !== 'train' && o.part !== 'test') throw new RangeError(`foodio: part "${String(o.part)}" must be train or test`);

    const seed = seedToU32(o.seed);
    this.heldOut = [];
    this.prices = [];
    for (let item = 0; item < this.itemCount; item++) {
      this.heldOut.push(hashU32((seed ^ hashU32(item * 2 + 1)) >>> 0) / 4294967296 < o.holdoutFraction);
      this.prices.push(Math.round(500 + 2500 * (hashU32((seed ^ hashU32(item * 2 + 2)) >>> 0) / 4294967296)) / 100);
    }
    // Every category keeps its first item in training, so its exploratory query has positives to learn from.
    for (let category = 0; category < o.categories; category++) this.heldOut[category * o.itemsPerCategory] = false;
  }

  get itemCount(): number {
    return this.options.categories * this.options.itemsPerCategory;
  }

  categoryOf(item: number): number {
    return Math.floor(item / this.options.itemsPerCategory);
  }

  itemName(item: number): string {
    const k = item % this.options.itemsPerCategory;
    return `${CATEGORY_NAMES[this.categoryOf(item)]}/${String(k + 1).padStart(2, '0')}`;
  }

  /** Row `index` of the part: [query, query_kind, item, item_category, price, consumed, relevant, pair_in_train]. */
  row(index: number): (string | number)[] {
    const o = this.options;
    const random = new SeededRandom(o.seed, index * 2 + (o.part === 'test' ? 1 : 0));
    const perCategory = o.itemsPerCategory;
    let query: string;
    let kind: 'targeted' | 'exploratory';
    let item: number;
    let relevant: boolean;
    let pairInTrain = true;

    if (random.chance(o.targetedShare)) {
      kind = 'targeted';
      const target = random.int(this.itemCount);
      query = `order ${this.itemName(target)}`;
      const draw = random.next();
      if (draw < 0.4) item = target;
      else if (draw < 0.8) item = this.otherInCategory(target, random);
      else item = this.outsideCategory(this.categoryOf(target), random);
      relevant = item === target;
    } else {
      kind = 'exploratory';
      const category = random.int(o.categories);
      query = CATEGORY_NAMES[category];
      const inCategory = random.chance(0.5);
      const draw = () => (inCategory ? category * perCategory + random.int(perCategory) : this.outsideCategory(category, random));
      item = draw();
      // In training, redraw held-out items; item 0 of a category is never held out, so this ends.
      while (o.part === 'train' && this.heldOut[item]) item = draw();
      relevant = this.categoryOf(item) === category;
      pairInTrain = !this.heldOut[item];
    }

    const consumed = random.chance(relevant ? o.consumeRelevant : o.consumeIrrelevant);
    return [
      query, kind, this.itemName(item), CATEGORY_NAMES[this.categoryOf(item)], this.prices[item],
      consumed ? '1' : '0', relevant ? '1' : '0', pairInTrain ? '1' : '0',
    ];
  }

  private otherInCategory(item: number, random: SeededRandom): number {
    const start = this.categoryOf(item) * this.options.itemsPerCategory;
    const offset = random.int(this.options.itemsPerCategory - 1);
    const other = start + offset;
    return other >= item ? other + 1 : other;
  }

  private outsideCategory(category: number, random: SeededRandom): number {
    const perCategory = this.options.itemsPerCategory;
    const other = random.int(this.itemCount - perCategory);
    return other >= category * perCategory ? other + perCategory : other;
  }

  /** Returns the rows as a source. */
  source(): RowSource {
    return generatedSource(`foodio(${this.options.part}, seed ${this.options.seed})`, FOODIO_COLUMNS, this.options.rows, (index) => this.row(index));
  }
}

/**
 * The foodio schema. The wide part gets the ids: query, item and the query x item cross,
 * which memorizes pairs. The deep part gets the query and the item's attributes (category,
 * price) but not the item id, so it scores a pair never seen in training by the item's
 * category, as it would score a new dish. query_kind, relevant and pair_in_train are for evaluation, not features.
 */
export const foodioSchema: Schema = {
  name: 'foodio',
  description: 'synthetic food-app search log: targeted queries favor crosses (wide), exploratory ones embeddings (deep)',
  csv: { delimiter: ',', header: true, columns: FOODIO_COLUMNS },
  hashSeed: 0,
  features: [
    { name: 'query', type: 'categorical', feeds: 'both', embeddingDim: 8 },
    { name: 'item', type: 'categorical', feeds: 'wide' },
    { name: 'item_category', type: 'categorical', feeds: 'deep', embeddingDim: 8 },
    { name: 'price', type: 'numeric', normalize: 'standardize', feeds: 'deep' },
    { name: 'query-x-item', type: 'cross', features: ['query', 'item'], buckets: 16384, feeds: 'wide' },
  ],
  labels: [{ name: 'consumed', type: 'binary', positive: ['1'], negative: ['0'] }],
};
