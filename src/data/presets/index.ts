// The preset registry: schemas of the real data sets and the synthetic generators.

import type { Schema } from '../schema.js';
import type { RowSource } from '../source.js';
import { Foodio, foodioSchema } from '../synthetic/foodio.js';
import { MmoeSynthetic } from '../synthetic/mmoe.js';
import { YoutubeSim, youtubeSimSchema } from '../synthetic/youtube-sim.js';
import { adultSchema } from './adult.js';
import { censusKddSchema } from './census-kdd.js';
import { movielensSchema } from './movielens.js';

/** Options of a synthetic preset's generator. */
export interface GenerateOptions {
  rows?: number;
  seed?: number;
}

/** A named schema, with the default files of a real data set or the generator of a synthetic one. */
export interface Preset {
  name: string;
  description: string;
  schema: Schema;
  /** Real data: the training file and, when the data set ships one, the test file, relative to the data directory. */
  files?: { train: string; test?: string };
  /** Real data shipped as one file: the default split fractions (train, validation, test). */
  defaultSplit?: number[];
  /** Synthetic data: sources of training and test rows (disjoint rows of one seed). */
  generate?: (options: GenerateOptions) => { train: RowSource; test: RowSource };
}

const mmoeDefaults = new MmoeSynthetic();

export const PRESETS: Record<string, Preset> = {
  adult: {
    name: 'adult',
    description: adultSchema.description!,
    schema: adultSchema,
    files: { train: 'adult/adult.data', test: 'adult/adult.test' },
  },
  'census-kdd': {
    name: 'census-kdd',
    description: censusKddSchema.description!,
    schema: censusKddSchema,
    files: { train: 'census-income-kdd/census-income.test.gz' },
    defaultSplit: [0.5, 0.25, 0.25],
  },
  movielens: {
    name: 'movielens',
    description: movielensSchema.description!,
    schema: movielensSchema,
    files: { train: 'movielens-100k/u.data' },
    defaultSplit: [0.8, 0.1, 0.1],
  },
  foodio: {
    name: 'foodio',
    description: foodioSchema.description!,
    schema: foodioSchema,
    generate: ({ rows = 20_000, seed }) => ({
      train: new Foodio({ rows, seed, part: 'train' }).source(),
      test: new Foodio({ rows: Math.max(1, Math.round(rows / 4)), seed, part: 'test' }).source(),
    }),
  },
  'mmoe-synthetic': {
    name: 'mmoe-synthetic',
    description: mmoeDefaults.schema().description!,
    schema: mmoeDefaults.schema(),
    generate: ({ rows = 10_000, seed }) => ({
      train: new MmoeSynthetic({ rows, seed }).source(),
      test: new MmoeSynthetic({ rows: Math.max(1, Math.round(rows / 4)), seed, offset: rows }).source(),
    }),
  },
  'youtube-sim': {
    name: 'youtube-sim',
    description: youtubeSimSchema.description!,
    schema: youtubeSimSchema,
    generate: ({ rows = 20_000, seed }) => ({
      train: new YoutubeSim({ rows, seed }).source(),
      test: new YoutubeSim({ rows: Math.max(1, Math.round(rows / 4)), seed, offset: rows }).source(),
    }),
  },
};

/** Returns a preset by name, or throws naming the available presets. */
export function getPreset(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new RangeError(`preset "${name}" not found; available presets: ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}
