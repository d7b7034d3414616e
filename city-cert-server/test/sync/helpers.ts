import { pino } from 'pino';
import t, { type Test } from 'tap';
import { SyncRefusal, type RowError } from '../../src/sync/errors.js';
import type { Backend } from '../replica/backends.js';
import { loadDataset, migrate } from '../../src/index.js';
import type { CityDataset } from '../../src/replica/dataset.js';
import type { CityMenuResponse } from '@konbini/protocol';
import { menu } from '../../src/issuance/service.js';
import { residentRecordModel } from '../../src/issuance/model.js';
import { cardLinkBySerial, cityOf, householdOfResident, residentById, type Db } from '../../src/index.js';
import type { ResidentRecordModel } from '../../src/render/model.js';

export const CITY = '999997';

/** A delta batch file as the core system would send it. */
export function deltaFile(batchId: string, changes: object[], opts: { cityCode?: string; count?: number; end?: boolean } = {}): string {
  const lines = [
    JSON.stringify({ type: 'header', format: 'konbini-delta', version: 1, cityCode: opts.cityCode ?? CITY, batchId }),
    ...changes.map((c) => JSON.stringify({ type: 'change', ...c })),
  ];
  if (opts.end !== false) lines.push(JSON.stringify({ type: 'end', count: opts.count ?? changes.length }));
  return `${lines.join('\n')}\n`;
}

const silent = pino({ level: 'silent' });

/** What a kiosk would be offered for this card now: the issuance service's own menu. */
export async function menuFor(db: Db, serial: string, now: Date): Promise<{ offered: string[]; refusal: string | undefined; menu: CityMenuResponse }> {
  const m = await menu(
    { db, printable: () => true, now: () => now, render: () => Promise.reject(new Error('not rendering')), log: silent as never },
    { cardSerial: serial, kioskId: 'K0001' },
  );
  return {
    offered: m.items.map((i) => i.certType),
    refusal: m.refusals.find((r) => r.certType === 'resident-record')?.code,
    menu: m,
  };
}

/** The model the next 住民票の写し (whole household) would be rendered from. */
export async function nextCertificate(db: Db, residentId: string, now: Date): Promise<ResidentRecordModel> {
  const holder = (await residentById(db, residentId))!;
  const view = (await householdOfResident(db, holder))!;
  const city = (await cityOf(db))!;
  return residentRecordModel({
    city,
    issuanceId: '00000000-0000-4000-8000-0000000000aa',
    issuedAt: now,
    copies: 1,
    holder,
    view,
    options: { scope: 'household', includeRelationship: true },
  } as Parameters<typeof residentRecordModel>[0]);
}

export { cardLinkBySerial };

/** The refusal's code, all reported rows and the first row's fields, for t.match. */
export async function refusal(p: Promise<unknown>): Promise<{ code: string; rows: RowError[]; line?: number; field?: string; reason?: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SyncRefusal) return { code: err.code, rows: err.rows, ...err.rows[0] };
    throw err;
  }
  throw new Error('expected a refusal');
}

/**
 * One subtest per storage backend (PGlite, PostgreSQL when reachable) with a new, empty
 * database (not migrated: a test may build an older replica first), closed and removed
 * afterwards.
 */
export function eachBackend(list: { name: string; make: () => Promise<Backend> }[], tests: (t: Test, db: Db, backend: Backend) => Promise<void>): void {
  for (const { name, make } of list) {
    t.test(name, async (t) => {
      const backend = await make();
      t.teardown(() => backend.cleanup());
      const db = await backend.open();
      t.teardown(() => db.close());
      await tests(t, db, backend);
    });
  }
}

/** eachBackend with the database migrated, and loaded with `dataset` when given. */
export function perBackend(list: { name: string; make: () => Promise<Backend> }[], dataset: CityDataset | null, tests: (t: Test, db: Db, backend: Backend) => Promise<void>): void {
  eachBackend(list, async (t, db, backend) => {
    await migrate(db);
    if (dataset) await loadDataset(db, dataset);
    await tests(t, db, backend);
  });
}
