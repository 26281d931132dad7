// Preset `adult`: UCI Adult with the feature columns of TensorFlow's wide & deep census example.

import type { Schema } from '../schema.js';

const COLUMNS = [
  'age', 'workclass', 'fnlwgt', 'education', 'education-num', 'marital-status', 'occupation', 'relationship',
  'race', 'sex', 'capital-gain', 'capital-loss', 'hours-per-week', 'native-country', 'income',
];

const BASE_CATEGORICAL = ['workclass', 'education', 'marital-status', 'occupation', 'relationship', 'race', 'sex', 'native-country'];

/**
 * Fields are separated by ", " (trimmed), and "?" marks a missing value. adult.test starts
 * with the line "|1x3 Cross validator", which is skipped as a comment. Its labels end with
 * "." (">50K."), so both spellings are listed.
 */
export const adultSchema: Schema = {
  name: 'adult',
  description: 'UCI Adult (census income): predict income > 50K from 1994 census attributes',
  csv: { delimiter: ',', header: false, columns: COLUMNS, trim: true, comment: '|' },
  missingMarkers: ['?'],
  hashSeed: 0,
  features: [
    ...['age', 'education-num', 'capital-gain', 'capital-loss', 'hours-per-week'].map((name) => ({
      name, type: 'numeric' as const, normalize: 'standardize' as const, feeds: 'deep' as const,
    })),
    { name: 'age-buckets', column: 'age', type: 'bucketized', boundaries: [18, 25, 30, 35, 40, 45, 50, 55, 60, 65], feeds: 'wide' },
    ...BASE_CATEGORICAL.map((name) => ({ name, type: 'categorical' as const, feeds: 'both' as const, embeddingDim: 8 })),
    { name: 'education-x-occupation', type: 'cross', features: ['education', 'occupation'], buckets: 1000, feeds: 'wide' },
    { name: 'age-buckets-x-education-x-occupation', type: 'cross', features: ['age-buckets', 'education', 'occupation'], buckets: 1000, feeds: 'wide' },
    { name: 'native-country-x-occupation', type: 'cross', features: ['native-country', 'occupation'], buckets: 1000, feeds: 'wide' },
  ],
  labels: [{ name: 'income', type: 'binary', positive: ['>50K', '>50K.'], negative: ['<=50K', '<=50K.'] }],
};
