import t from 'tap';
import { KonbiniError } from '@konbini/protocol';
import { householdOfResident, migrate, residentById } from '../../src/index.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { testDataset } from '../helpers/dataset.js';
import { backends } from './backends.js';
import { oldReplica } from './old-rows.js';
import { deltaFile, eachBackend, refusal } from '../sync/helpers.js';

/*
 * Migration 0007: a resident's personal fields as two envelopes (names, attributes)
 * instead of one per field. A replica sealed field by field keeps every resident and
 * reads the same afterwards; a row tampered with before the upgrade stays unreadable
 * (never re-sealed into a valid envelope); 氏名変更 carrying only some names and 世帯変更
 * re-seal the stored group of that one resident, merged.
 */

const { dataset } = testDataset(new Date());
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof KonbiniError ? err.code : `not a KonbiniError: ${String(err)}`;
  }
  return undefined;
}

const byId = (id: string) => dataset.residents.find((r) => r.id === id)!;

eachBackend(list, async (t, db) => {

  await oldReplica(db, dataset, '0006-seal-sex-relationship');
  // before the upgrade someone copied R0002's sealed family name onto R0003
  await db.query(`UPDATE residents SET family_name = (SELECT family_name FROM residents WHERE id = 'R0002') WHERE id = 'R0003'`);

  t.same(await migrate(db), ['0007-group-resident-fields'], 'the next start migrates');
  t.equal(await codeOf(residentById(db, 'R0003')), 'REPLICA_FIELD_UNREADABLE', 'the tampered row was not laundered into a valid envelope');
  t.equal(await codeOf(householdOfResident(db, byId('R0001'))), 'REPLICA_FIELD_UNREADABLE', 'nor printed on its household record');
  for (const r of dataset.residents.filter((r) => r.id !== 'R0003')) t.same(await residentById(db, r.id), r, `${r.id} reads back field for field`);
  t.same(await migrate(db), [], 'a second start changes nothing');
  t.equal((await db.query('SELECT 1 FROM residents WHERE names IS NULL AND id <> $1', ['R0003'])).length, 0, 'every other row grouped');

  // a 氏名変更 with only the family name: the other three names stay as stored
  const r1 = byId('R0001');
  let res = await applyDelta(db, await parseDelta(deltaFile('names-1', [{ seq: 1, kind: 'name-change', notifiedOn: '2026-11-05', residentId: 'R0001', familyName: '高橋', effectiveOn: '2026-11-05' }])));
  t.equal(res.applied, 1);
  t.same(await residentById(db, 'R0001'), { ...r1, familyName: '高橋', notifiedOn: '2026-11-05' }, 'partial 氏名変更: one name changed, three kept, nothing else');

  // in one batch: a move-in, then two partial 氏名変更 of the newcomer and a 世帯変更 of it, and a 世帯変更 of a stored resident
  const newcomer = {
    id: 'R0900', householdId: 'H002', familyName: '渡辺', givenName: '新', familyNameKana: 'ワタナベ', givenNameKana: 'アラタ', birthDate: '1999-09-09', sex: 'male',
    relationship: '同居人', residentSince: '2026-11-06', addressSince: null, notifiedOn: '2026-11-06', previousAddress: '東京都千代田区丸の内一丁目1番1号',
    honseki: null, kosekiHead: null, foreign: { nationality: 'ブラジル', alphabetName: 'WATANABE ARATA', residenceStatus: '定住者', periodOfStay: '5年', periodExpiry: '2030-03-31', residenceCardNumber: 'AB12345679CD', category: '中長期在留者', becameResidentOn: '2026-11-06' }, status: 'active', flags: [],
  };
  res = await applyDelta(db, await parseDelta(deltaFile('names-2', [
    { seq: 2, kind: 'move-in', notifiedOn: '2026-11-06', resident: newcomer },
    { seq: 3, kind: 'name-change', notifiedOn: '2026-11-06', residentId: 'R0900', givenName: '新一', effectiveOn: '2026-11-06' },
    { seq: 4, kind: 'name-change', notifiedOn: '2026-11-06', residentId: 'R0900', givenNameKana: 'シンイチ', effectiveOn: '2026-11-06' },
    { seq: 5, kind: 'household-change', notifiedOn: '2026-11-06', residentId: 'R0900', householdId: 'H003', relationship: '縁故者', effectiveOn: '2026-11-06' },
    { seq: 6, kind: 'name-change', notifiedOn: '2026-11-06', residentId: 'R0001', givenName: '壱郎', familyNameKana: 'タカハシ', effectiveOn: '2026-11-06' },
    { seq: 7, kind: 'household-change', notifiedOn: '2026-11-06', residentId: 'R0001', householdId: 'H004', relationship: '同居人', effectiveOn: '2026-11-06' },
  ])));
  t.equal(res.applied, 6);
  t.match(await residentById(db, 'R0900'), { ...newcomer, givenName: '新一', givenNameKana: 'シンイチ', householdId: 'H003', relationship: '縁故者' }, 'changes in one batch build on each other');
  t.same(await residentById(db, 'R0001'), { ...r1, familyName: '高橋', givenName: '壱郎', householdId: 'H004', relationship: '同居人', notifiedOn: '2026-11-06' }, 'a stored resident: both groups merged');

  // a 氏名変更 of nobody is refused as before; one of the tampered resident fails on its stored names, nothing applied
  t.match(await refusal(applyDelta(db, await parseDelta(deltaFile('names-3', [{ seq: 8, kind: 'name-change', notifiedOn: '2026-11-07', residentId: 'R9999', givenName: '無', effectiveOn: '2026-11-07' }])))), { code: 'SYNC_UNKNOWN_RECORD', field: '/residentId' });
  t.match(await refusal(applyDelta(db, await parseDelta(deltaFile('rel-3', [{ seq: 8, kind: 'household-change', notifiedOn: '2026-11-07', residentId: 'R9999', householdId: 'H001', relationship: '子', effectiveOn: '2026-11-07' }])))), { code: 'SYNC_UNKNOWN_RECORD', field: '/residentId' }, 'a 世帯変更 of nobody too');
  t.equal(
    await codeOf(applyDelta(db, await parseDelta(deltaFile('names-4', [{ seq: 8, kind: 'name-change', notifiedOn: '2026-11-07', residentId: 'R0003', givenName: '三郎', effectiveOn: '2026-11-07' }])))),
    'REPLICA_FIELD_UNREADABLE',
    'a partial 氏名変更 never merges into names that fail their tag',
  );
  // all four names: nothing stored is needed, so the tampered row gets readable names (its attributes were fine)
  const r3 = byId('R0003');
  res = await applyDelta(db, await parseDelta(deltaFile('names-5', [{ seq: 8, kind: 'name-change', notifiedOn: '2026-11-07', residentId: 'R0003', familyName: '髙橋', givenName: '次郎', familyNameKana: r3.familyNameKana, givenNameKana: r3.givenNameKana, effectiveOn: '2026-11-07' }])));
  t.equal(res.applied, 1);
  t.same(await residentById(db, 'R0003'), { ...r3, notifiedOn: '2026-11-07' }, 'a full 氏名変更 restores a row whose only bad group was the names');
});
