export type { Db, Queryable, PgliteDbOptions } from './db.js';
export { openPgliteDb } from './db.js';
export { migrate, MIGRATIONS } from './migrations.js';
export { loadDataset, loadDatasetIfChanged, type LoadSummary } from './load.js';
export * from './queries.js';
export type { CityDataset, CityInfo, Household, Resident, CardLink } from './dataset.js';
