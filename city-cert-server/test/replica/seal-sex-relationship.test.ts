import t from 'tap';
import { householdOfResident, migrate, residentById } from '../../src/index.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { testDataset } from '../helpers/dataset.js';
import { backends } from './backends.js';
import { oldReplica } from './old-rows.js';
import { deltaFile, eachBackend } from '../sync/helpers.js';

/*
 * 性別 and 続柄 sealed at rest (migration 0006). A replica written before it, with
 * both in clear, keeps its residents: the next start seals them in place (0006), then
 * groups every resident's fields into two envelopes (0007), the certificates read the
 * same, and 世帯変更 deltas keep working afterwards.
 */

const { dataset } = testDataset(new Date());
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

eachBackend(list, async (t, db) => {

  // the replica as it was before 0006: sex and 続柄 as text in clear
  await oldReplica(db, dataset, '0005-centre-outbox');
  const r1 = dataset.residents.find((r) => r.id === 'R0001')!;
  t.same((await db.query<{ sex: string }>(`SELECT sex FROM residents WHERE id = 'R0001'`))[0]?.sex, r1.sex, 'in clear before');

  t.same(await migrate(db), ['0006-seal-sex-relationship', '0007-group-resident-fields'], 'the next start migrates');
  const stored = await db.query<{ id: string; names: Uint8Array; attributes: Uint8Array }>('SELECT id, names, attributes FROM residents ORDER BY id');
  t.equal(stored.length, dataset.residents.length, 'no resident lost');
  const clear = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  t.ok(stored.every((r) => r.names && r.attributes && !clear(r.attributes).includes('male') && !Buffer.from(r.attributes).includes(Buffer.from('世帯主'))), 'every one sealed');
  const columns = await db.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'residents'`);
  t.notOk(columns.some((c) => ['sex', 'relationship', 'family_name'].includes(c.column_name)), 'the per-field columns are gone');
  for (const r of dataset.residents) {
    t.same(await residentById(db, r.id), r, `${r.id} reads back field for field`);
  }
  t.same(await migrate(db), [], 'sealed once: a second start changes nothing');
  t.same((await residentById(db, 'R0001'))?.sex, r1.sex);

  // 世帯変更 after the migration: the new 続柄 is sealed on its way in, the rest of the group kept
  const mover = dataset.residents.find((r) => r.status === 'active' && r.relationship === '子')!;
  const target = dataset.households.find((h) => h.id !== mover.householdId)!;
  const r = await applyDelta(db, await parseDelta(deltaFile('rel-1', [{ seq: 1, kind: 'household-change', notifiedOn: '2026-11-05', residentId: mover.id, householdId: target.id, relationship: '同居人', effectiveOn: '2026-11-05' }])));
  t.equal(r.applied, 1);
  const moved = (await residentById(db, mover.id))!;
  t.same(moved, { ...mover, householdId: target.id, relationship: '同居人', notifiedOn: '2026-11-05' }, 'only household, 続柄 and notified date changed');
  t.ok((await householdOfResident(db, moved))?.members.some((m) => m.id === mover.id && m.relationship === '同居人'), 'the household record shows the new 続柄');
  const [after] = await db.query<{ attributes: Uint8Array }>('SELECT attributes FROM residents WHERE id = $1', [mover.id]);
  t.notOk(Buffer.from(after!.attributes).includes(Buffer.from('同居人')), 'stored sealed');
});
