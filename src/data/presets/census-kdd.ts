// Preset `census-kdd`: UCI Census-Income (KDD) with the two tasks of the MMoE paper's first group.

import type { FeatureSpec, Schema } from '../schema.js';

/** The 42 columns, with the short names most MMoE code uses. */
const COLUMNS = [
  'age', 'class_worker', 'det_ind_code', 'det_occ_code', 'education', 'wage_per_hour', 'hs_college', 'marital_stat',
  'major_ind_code', 'major_occ_code', 'race', 'hisp_origin', 'sex', 'union_member', 'unemp_reason', 'full_or_part_emp',
  'capital_gains', 'capital_losses', 'stock_dividends', 'tax_filer_stat', 'region_prev_res', 'state_prev_res',
  'det_hh_fam_stat', 'det_hh_summ', 'instance_weight', 'mig_chg_msa', 'mig_chg_reg', 'mig_move_reg', 'mig_same',
  'mig_prev_sunbelt', 'num_emp', 'fam_under_18', 'country_father', 'country_mother', 'country_self', 'citizenship',
  'own_or_self', 'vet_question', 'vet_benefits', 'weeks_worked', 'year', 'income_50k',
];

const NUMERIC = ['age', 'wage_per_hour', 'capital_gains', 'capital_losses', 'stock_dividends', 'num_emp', 'weeks_worked'];

/** Not features: the two label columns, and the census sampling weight (census-income.names asks classifiers to ignore it). */
const EXCLUDED = ['marital_stat', 'income_50k', 'instance_weight'];

const features: FeatureSpec[] = [
  ...NUMERIC.map((name): FeatureSpec => ({ name, type: 'numeric', normalize: 'standardize', feeds: 'deep' })),
  ...COLUMNS.filter((name) => !NUMERIC.includes(name) && !EXCLUDED.includes(name)).map(
    (name): FeatureSpec => ({ name, type: 'categorical', feeds: 'both', embeddingDim: 4 }),
  ),
];

/**
 * Fields are separated by ", " (trimmed, which also drops the trailing space of some
 * citizenship values); "?" marks a missing value. Only the official test file is available
 * here, so a run from it uses a seeded split.
 */
export const censusKddSchema: Schema = {
  name: 'census-kdd',
  description: 'UCI Census-Income (KDD): two tasks, income > 50K and marital status "Never married"',
  csv: { delimiter: ',', header: false, columns: COLUMNS, trim: true },
  missingMarkers: ['?'],
  hashSeed: 0,
  features,
  labels: [
    { name: 'income', column: 'income_50k', type: 'binary', positive: ['50000+.'], negative: ['- 50000.'] },
    { name: 'never_married', column: 'marital_stat', type: 'binary', positive: ['Never married'] },
  ],
};
