export type { Db, Queryable, PgliteDbOptions, TransactionOptions } from './db.js';
export { openDb, openPgliteDb } from './db.js';
export { openPgDb, isPostgresUrl, type PgDbOptions } from './pg.js';
export { migrate, MIGRATIONS } from './migrations.js';
export { loadDataset, loadDatasetIfChanged, type LoadSummary } from './load.js';
export * from './queries.js';
export type { CityDataset, CityInfo, Household, Resident, CardLink } from './dataset.js';
export * from './sync-state.js';
export * from './seal.js';
