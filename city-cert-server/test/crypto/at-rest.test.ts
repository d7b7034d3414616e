import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadDataset, migrate, openPgliteDb, residentById, householdOfResident, sealRegistrationOf, type Db } from '../../src/index.js';
import { taxRecordOf } from '../../src/replica/cert-queries.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { fullLoad } from '../../src/sync/full-load.js';
import { cityRows, CITY as GEN_CITY } from '../../src/sync/generate.js';
import { taxRollover } from '../../src/sync/tax.js';
import { testDataset } from '../helpers/dataset.js';
import { postgresBackend, postgresReachable } from '../replica/backends.js';
import { CITY, deltaFile } from '../sync/helpers.js';
import { crc32 } from 'node:zlib';
import { grey4Png } from '../../src/render/tint.js';

/*
 * Protection at rest (issue 5 item 7), read as an attacker with the files or a
 * database login would: after the fixture load, a full load, 異動 deltas and a tax
 * roll-over, no name, ふりがな, address, 本籍, birth date, 印影 or tax figure of the
 * data is anywhere in clear: not in PGlite's data directory (every byte of every
 * file, WAL included), not in any row a SELECT returns on PostgreSQL.
 */

const { dataset } = testDataset(new Date());
const secrets = new Set<string>();
const add = (v: unknown) => {
  if (typeof v === 'string' && v.length >= 2) secrets.add(v);
};
for (const r of dataset.residents) {
  for (const k of ['familyName', 'givenName', 'familyNameKana', 'givenNameKana', 'previousAddress', 'honseki', 'kosekiHead', 'birthDate'] as const) add(r[k]);
}
for (const h of dataset.households) add(h.address);

const generated = [...cityRows({ residents: 120, seed: 7, cityCode: CITY })] as Record<string, unknown>[];
for (const row of generated) {
  if (row.type === 'resident') for (const k of ['familyName', 'givenName', 'familyNameKana', 'givenNameKana', 'previousAddress', 'honseki', 'kosekiHead', 'birthDate']) add(row[k]);
  if (row.type === 'household') add(row.address);
}
const cityJsonl = `${generated.map((r) => JSON.stringify(r)).join('\n')}\n`;
const firstResident = generated.find((r) => r.type === 'resident' && r.status === 'active')!;
const firstHousehold = generated.find((r) => r.type === 'household' && r.id === firstResident.householdId)!;
// someone of another household who joins the first one by a 世帯変更 (its 続柄 written by the delta)
const joiner = generated.find((r) => r.type === 'resident' && r.status === 'active' && r.householdId !== firstResident.householdId)!;
const JOINER_RELATIONSHIP = '同居人検査';

// written by deltas: a move-in with its own household, a 転居, a 氏名変更, a 印影 and a tax figure
const MOVED_IN = { familyName: '暗号化検査', givenName: '転入者', familyNameKana: 'アンゴウカケンサ', givenNameKana: 'テンニュウシャ', address: '東雲県星見市検査町九丁目8番7号' };
const NEW_ADDRESS = '東雲県星見市転居先町五丁目6番';
const NEW_NAME = '氏名変更後姓';
const SEAL_MARKER = 'SEAL-IMAGE-MARKER-0123456789';
/**
 * A real PNG (sync refuses anything else as a 印影) that carries the marker in a tEXt
 * chunk, so the scan below can look for the image's bytes on disk.
 */
function markedPng(): Buffer {
  const png = grey4Png(new Uint8Array(4), 2, 2);
  const data = Buffer.from(`Comment\0${SEAL_MARKER}`, 'latin1');
  const type = Buffer.from('tEXt', 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, data])) >>> 0);
  const afterIhdr = 8 + 8 + 13 + 4; // signature, IHDR length+type, IHDR data, CRC
  return Buffer.concat([png.subarray(0, afterIhdr), len, type, data, crc, png.subarray(afterIhdr)]);
}
const SEAL_PNG = markedPng();
const TAX_MARKER = 'TAX-RECORD-MARKER-9876543210';
for (const s of [...Object.values(MOVED_IN), NEW_ADDRESS, NEW_NAME, SEAL_MARKER, TAX_MARKER, '1990-12-31']) secrets.add(s);

const movedInId = 'R09999999';
const deltas = deltaFile('at-rest-1', [
  {
    seq: 1, kind: 'move-in', notifiedOn: '2026-11-01',
    resident: {
      id: movedInId, householdId: 'H0999999', familyName: MOVED_IN.familyName, givenName: MOVED_IN.givenName,
      familyNameKana: MOVED_IN.familyNameKana, givenNameKana: MOVED_IN.givenNameKana, birthDate: '1990-12-31', sex: 'female',
      relationship: '世帯主', residentSince: '2026-11-01', addressSince: null, notifiedOn: '2026-11-01', previousAddress: null,
      honseki: null, kosekiHead: null, foreign: null, status: 'active', flags: [],
    },
    household: { id: 'H0999999', address: MOVED_IN.address, headId: movedInId },
  },
  { seq: 2, kind: 'address-change', notifiedOn: '2026-11-02', householdId: firstHousehold.id, address: NEW_ADDRESS, effectiveOn: '2026-11-02' },
  { seq: 3, kind: 'name-change', notifiedOn: '2026-11-03', residentId: movedInId, effectiveOn: '2026-11-03', familyName: NEW_NAME },
  { seq: 4, kind: 'seal-register', notifiedOn: '2026-11-04', residentId: movedInId, sealNumber: 'S999999999', effectiveOn: '2026-11-04', imagePng: SEAL_PNG.toString('base64') },
  { seq: 5, kind: 'household-change', notifiedOn: '2026-11-05', residentId: joiner.id, householdId: firstHousehold.id, relationship: JOINER_RELATIONSHIP, effectiveOn: '2026-11-05' },
]);
// 続柄 is sealed too (the single-character ones, 妻 and 子, would match by chance anywhere)
for (const s of ['世帯主', JOINER_RELATIONSHIP]) secrets.add(s);
/** 性別 in clear would be one of these; looked for in the rows (PostgreSQL), not in PGlite's files, where any catalog text may hold "male". */
const SEXES = ['female', 'male'];
const taxFile = [
  JSON.stringify({ type: 'header', format: 'konbini-tax', version: 1, cityCode: CITY, fiscalYear: 2026 }),
  JSON.stringify({ type: 'tax', residentId: movedInId, fiscalYear: 2026, taxed: true, totalIncome: 4_321_987, note: TAX_MARKER }),
  JSON.stringify({ type: 'end', count: 1 }),
  '',
].join('\n');

/** Everything a replica goes through: fixture load, then a full load, deltas and a tax roll-over. */
async function writeEverything(t: Test, db: Db): Promise<void> {
  await migrate(db);
  await loadDataset(db, dataset);
  t.equal((await residentById(db, dataset.residents[0]!.id))?.familyName, dataset.residents[0]!.familyName, 'the fixture reads back through the key');
  const loaded = await fullLoad(db, cityJsonl);
  t.ok(loaded.residents > 100);
  t.equal((await applyDelta(db, await parseDelta(deltas))).applied, 5);
  await taxRollover(db, taxFile);
  // every value is there, for the one resident asked for
  const moved = (await residentById(db, movedInId))!;
  t.same([moved.familyName, moved.givenName, moved.birthDate, moved.sex, moved.relationship], [NEW_NAME, MOVED_IN.givenName, '1990-12-31', 'female', '世帯主']);
  t.match(await residentById(db, String(joiner.id)), { relationship: JOINER_RELATIONSHIP, householdId: firstHousehold.id, sex: joiner.sex }, '続柄 written by the 世帯変更 reads back');
  t.equal((await householdOfResident(db, moved))?.household.address, MOVED_IN.address);
  const first = (await residentById(db, String(firstResident.id)))!;
  t.equal((await householdOfResident(db, first))?.household.address, NEW_ADDRESS);
  t.ok((await sealRegistrationOf(db, movedInId))?.imagePng?.equals(SEAL_PNG), 'the 印影 reads back whole');
  t.match(await taxRecordOf(db, movedInId, 2026), { totalIncome: 4_321_987, note: TAX_MARKER });
}

function found(haystack: Buffer, needles: Iterable<string>): string[] {
  return [...needles].filter((s) => haystack.indexOf(Buffer.from(s, 'utf8')) >= 0);
}

t.test('PGlite: no personal value in clear in any file of the data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-at-rest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'db');
  const db = await openPgliteDb({ dataDir });
  await writeEverything(t, db);
  await db.query('CHECKPOINT');
  await db.close();
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dataDir);
  const all = Buffer.concat(files.map((f) => readFileSync(f)));
  t.ok(all.length > 1_000_000, `scanned ${files.length} files, ${all.length} bytes`);
  // the scan itself works: what is stored in clear on purpose is found
  t.same(found(all, [GEN_CITY.name, dataset.city.name, movedInId, 'S999999999']).length, 4, 'ids and the city name are found in clear');
  t.same(found(all, secrets), [], `none of ${secrets.size} personal values is in clear`);
});

const pgSkip = await postgresReachable();
t.test('PostgreSQL: no personal value in clear in any row of any table', { skip: pgSkip ?? false }, async (t) => {
  const backend = await postgresBackend();
  t.teardown(() => backend.cleanup());
  const db = await backend.open();
  await writeEverything(t, db);
  const tables = (await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).map((r) => r.tablename);
  t.ok(tables.includes('residents') && tables.includes('replica_keys'));
  const chunks: Buffer[] = [];
  for (const table of tables) {
    for (const row of await db.query<Record<string, unknown>>(`SELECT * FROM ${table}`)) {
      for (const v of Object.values(row)) {
        // date columns kept in clear (residentSince, registeredOn...) may equal someone's birth date by chance: not a leak
        if (v instanceof Date) continue;
        if (Buffer.isBuffer(v)) chunks.push(v);
        else if (v !== null && v !== undefined) chunks.push(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
      }
    }
  }
  const all = Buffer.concat(chunks);
  t.same(found(all, [dataset.city.name, movedInId, 'S999999999']).length, 3, 'ids and the city name are found in clear');
  t.same(found(all, secrets), [], `none of ${secrets.size} personal values is in any row`);
  t.same(found(all, SEXES), [], '性別 is in no row in clear');
  // the content hashes of the changes (taken over names and addresses) are stored keyed, not as plain SHA-256
  const plain = (await parseDelta(deltas)).changes.map((c) => c.sha256);
  const keyed = (await db.query<{ sha256: string }>('SELECT sha256 FROM sync_changes ORDER BY seq')).map((r) => r.sha256);
  t.equal(keyed.length, plain.length);
  t.same(keyed.filter((h) => plain.includes(h)), [], 'no plain content hash stored');
  t.equal((await applyDelta(db, await parseDelta(deltas))).alreadyApplied, plain.length, 'a re-sent batch is still recognised');
  // and the wrapped data key is not the data key: 40 bytes of RFC 5649 output, never 32 raw ones
  const [k] = await db.query<{ wrapped_key: Buffer; wrapper: string }>('SELECT wrapped_key, wrapper FROM replica_keys');
  t.equal(k!.wrapped_key.length, 40);
  t.equal(k!.wrapper, 'development');
});

