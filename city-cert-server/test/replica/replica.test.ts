import t, { type Test } from 'tap';

import {
  cardLinkBySerial,
  cityOf,
  feeTable,
  householdOfResident,
  loadDataset,
  loadDatasetIfChanged,
  migrate,
  MIGRATIONS,
  replicaState,
  syncState,
  residentById,
  type Db,
} from '../../src/index.js';
import { cipherOf } from '../../src/crypto/replica-keys.js';
import { sealGroup } from '../../src/replica/sealed-fields.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { backends, type Backend } from './backends.js';

const { dataset } = testDataset(new Date());
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

for (const { name, make } of list) {
  t.test(name, async (t) => {
    const backend: Backend = await make();
    t.teardown(() => backend.cleanup());
    const started = performance.now();
    const db = await backend.open();
    t.teardown(() => db.close());
    t.comment(`${backend.name} open: ${Math.round(performance.now() - started)} ms`);
    const m = performance.now();
    t.same(await migrate(db), MIGRATIONS.map((m) => m.id));
    t.comment(`migrations: ${Math.round(performance.now() - m)} ms`);
    await replicaTests(t, db, backend);
  });
}

async function replicaTests(t: Test, db: Db, backend: Backend): Promise<void> {

t.test('migrations apply once', async (t) => {
  t.same(await migrate(db), []);
  const rows = await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
  t.same(rows.map((r) => r.id), MIGRATIONS.map((m) => m.id).sort());
});

t.test('full load, then lookups by serial and id only', async (t) => {
  const started = performance.now();
  t.same(await loadDataset(db, dataset), { households: 9, residents: 16, cardLinks: 11 });
  t.comment(`load: ${Math.round(performance.now() - started)} ms`);
  t.same(await cityOf(db), { code: '999997', name: '星見市', prefecture: '東雲県', mayorName: '星見　太陽' });
  t.same(Object.fromEntries(await feeTable(db)), dataset.city.fees);
  const link = await cardLinkBySerial(db, SERIAL.takahashi.toUpperCase());
  t.same(link, { serial: SERIAL.takahashi, residentId: 'R0001', validFrom: '2020-01-01' });
  const holder = await residentById(db, 'R0001');
  t.same(holder, dataset.residents.find((r) => r.id === 'R0001'), 'resident round-trips field for field');
  const foreign = await residentById(db, 'R0050');
  t.same(foreign?.foreign, dataset.residents.find((r) => r.id === 'R0050')?.foreign);
  t.same((await residentById(db, 'R0021'))?.flags, ['moving-out']);
  const view = await householdOfResident(db, holder!);
  t.equal(view?.members.length, 6, 'removed members are in the replica (rules and history), rendering filters them');
  t.equal(await cardLinkBySerial(db, SERIAL.unknown), null);
  t.match(await replicaState(db), { datasetSeed: 42, cityCode: '999997', datasetVersion: 1 });
  const sync = await syncState(db);
  t.equal(sync.lastSeq, 0, 'a full load starts the change sequence afresh');
  t.ok(sync.lastSyncAt && Date.now() - Date.parse(sync.lastSyncAt) < 60_000, 'a full load counts as a sync');
});

t.test('a reload replaces everything and keeps the 交付記録', async (t) => {
  await db.query(
    `INSERT INTO issuance_records (issuance_id, kiosk_id, cert_type, copies, fee, card_serial_hmac, status)
     VALUES ('00000000-0000-4000-8000-000000000001', 'K1', 'resident-record', 1, 200, $1, 'issued')`,
    ['a'.repeat(64)],
  );
  const smaller = { ...dataset, generatedWithSeed: 43, residents: dataset.residents.filter((r) => r.householdId === 'H001'), households: dataset.households.slice(0, 1), cardLinks: dataset.cardLinks.slice(0, 1) };
  t.same(await loadDatasetIfChanged(db, smaller), { households: 1, residents: 6, cardLinks: 1 });
  t.equal(await loadDatasetIfChanged(db, smaller), null, 'same city and seed: nothing to do');
  t.equal(await cardLinkBySerial(db, SERIAL.yoshida), null);
  t.equal((await db.query('SELECT 1 FROM issuance_records')).length, 1);
  await loadDataset(db, dataset);
});

t.test('a failed load changes nothing', async (t) => {
  const broken = { ...dataset, generatedWithSeed: 44, cardLinks: [...dataset.cardLinks, { serial: 'abc', residentId: 'R9999', validFrom: '2020-01-01' }] };
  await t.rejects(loadDataset(db, broken));
  t.match(await replicaState(db), { datasetSeed: 42 });
  t.ok(await cardLinkBySerial(db, SERIAL.yoshida));
});

t.test('access is serialized: a query never runs inside another caller\'s transaction', { skip: backend.name !== 'pglite' && 'PGlite only (one connection)' }, async (t) => {
  let inside = false;
  const seen: boolean[] = [];
  const tx = db.transaction(async (q) => {
    inside = true;
    await q.query('SELECT pg_sleep(0.05)');
    await q.query('SELECT 1');
    inside = false;
  });
  const outside = db.query('SELECT 1').then(() => seen.push(inside));
  await Promise.all([tx, outside]);
  t.same(seen, [false]);
  // a failing transaction rolls back and does not block the queue
  await t.rejects(db.transaction(async (q) => {
    await q.query(`DELETE FROM fees`);
    throw new Error('boom');
  }));
  t.equal((await feeTable(db)).size, 3);
});

t.test('a transaction reads one snapshot: a change committed meanwhile is not half seen', { skip: backend.name !== 'postgres' && 'PostgreSQL only (PGlite runs one transaction at a time)' }, async (t) => {
  let release!: () => void;
  const paused = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const reading = db.transaction(async (q) => {
    const before = await residentById(q, 'R0001');
    entered();
    await paused;
    const after = await residentById(q, 'R0001');
    return [before!.familyName, after!.familyName];
  });
  await inside;
  // the names are stored sealed together for their row (replica/sealed-fields.ts)
  const r1 = dataset.residents.find((r) => r.id === 'R0001')!;
  const sealed = (familyName: string) => sealGroup(cipherOf(db), 'names', 'R0001', { ...r1, familyName });
  await db.query('UPDATE residents SET names = $1 WHERE id = $2', [sealed('高橋'), 'R0001']);
  release();
  t.same(await reading, ['髙橋', '髙橋']);
  t.equal((await residentById(db, 'R0001'))?.familyName, '高橋');
  await db.query('UPDATE residents SET names = $1 WHERE id = $2', [sealed('髙橋'), 'R0001']);
});

t.test('two workers migrate one database at once: each migration applied once', { skip: backend.name !== 'postgres' && 'PostgreSQL only' }, async (t) => {
  const [a, b] = await Promise.all([backend.open(), backend.open()]);
  const applied = await Promise.all([migrate(a), migrate(b)]);
  t.same(applied, [[], []]);
});
}
