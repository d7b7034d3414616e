export { buildApp, KIOSK_PATH, type CentreOptions, type CentreApp } from './http/app.js';
export { Directory, tokyoDate, type CityEntry, type CardEntry, type KioskEntry } from './routing/directory.js';
export { fingerprintOf } from './routing/city-client.js';
export { MemoryLedger, type Ledger, type LedgerRecord } from './ledger/ledger.js';
export { ChallengeStore } from './auth/challenge-store.js';
export { parseCrl } from './auth/crl.js';
