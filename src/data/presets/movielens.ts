// Preset `movielens`: MovieLens 100K ratings joined with user and item features, two tasks.

import type { Schema } from '../schema.js';

/** Genre flag columns of u.item, in u.genre order. */
export const MOVIELENS_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

/**
 * The main file is u.data (TAB-separated ratings); u.user and u.item are `|`-separated
 * lookup tables beside it, joined on user_id and item_id. u.item is Latin-1 and its titles
 * contain quotes, so quotes are ordinary characters there.
 */
export const movielensSchema: Schema = {
  name: 'movielens',
  description: 'MovieLens 100K: predict rating >= 4 and the rating from user and movie features',
  csv: { delimiter: '\t', header: false, columns: ['user_id', 'item_id', 'rating', 'timestamp'], trim: true, quote: false },
  missingMarkers: [''],
  hashSeed: 0,
  lookups: [
    { file: 'u.user', key: 'user_id', csv: { delimiter: '|', columns: ['user_id', 'age', 'gender', 'occupation', 'zip_code'], quote: false } },
    {
      file: 'u.item',
      key: 'item_id',
      csv: {
        delimiter: '|',
        columns: ['item_id', 'title', 'release_date', 'video_release_date', 'imdb_url', ...MOVIELENS_GENRES],
        encoding: 'latin1',
        quote: false,
      },
    },
  ],
  features: [
    { name: 'user_id', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'item_id', type: 'categorical', feeds: 'both', embeddingDim: 16 },
    { name: 'age', type: 'numeric', normalize: 'standardize', feeds: 'deep' },
    { name: 'age-buckets', column: 'age', type: 'bucketized', boundaries: [18, 25, 35, 45, 50, 56], feeds: 'wide' },
    { name: 'gender', type: 'categorical', feeds: 'both', embeddingDim: 2 },
    { name: 'occupation', type: 'categorical', feeds: 'both', embeddingDim: 4 },
    { name: 'zip_code', type: 'categorical', hashBuckets: 1000, feeds: 'deep', embeddingDim: 4 },
    { name: 'genres', type: 'categorical', flags: MOVIELENS_GENRES, feeds: 'both', embeddingDim: 8, combiner: 'mean' },
    { name: 'gender-x-genres', type: 'cross', features: ['gender', 'genres'], buckets: 100, feeds: 'wide' },
    { name: 'age-buckets-x-genres', type: 'cross', features: ['age-buckets', 'genres'], buckets: 500, feeds: 'wide' },
  ],
  labels: [
    { name: 'like', column: 'rating', type: 'binary', threshold: 4 },
    { name: 'rating', type: 'numeric' },
  ],
};
