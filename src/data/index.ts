// The data layer's public API: schemas, CSV streaming, fitting, encoding to sparse batches, presets, generators.

export * from './errors.js';
export * from './schema.js';
export { BadRows, openCsv, type Row, type CsvFile } from './csv.js';
export * from './source.js';
export * from './batch.js';
export { fit, DISTINCT_CAP, type FitOptions, type DataSummary, type FeatureSummary, type LabelSummary, type NumericStats } from './fit.js';
export * from './state.js';
export * from './state-file.js';
export { Encoder, BatchBuilder, upperBound } from './encode.js';
export * from './batches.js';
export * from './dataset.js';
export * from './describe.js';
export { dataDir, dataPath } from './paths.js';
export { SeededRandom } from './random.js';
export { PRESETS, getPreset, type Preset, type GenerateOptions } from './presets/index.js';
export { MOVIELENS_GENRES } from './presets/movielens.js';
export { Foodio, foodioSchema, FOODIO_COLUMNS, type FoodioOptions } from './synthetic/foodio.js';
export { MmoeSynthetic, type MmoeSyntheticOptions } from './synthetic/mmoe.js';
export { YoutubeSim, youtubeSimSchema, YOUTUBE_SIM_COLUMNS, YOUTUBE_SIM_DEVICES, type YoutubeSimOptions } from './synthetic/youtube-sim.js';
