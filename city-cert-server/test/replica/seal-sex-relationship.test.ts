import t from 'tap';
import { householdOfResident, loadDataset, migrate, residentById } from '../../src/index.js';
import { APPLY_CHANGES_SEALED_SQL } from '../../src/replica/apply-changes-sealed.sql.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { ENVELOPE_OVERHEAD } from '../../src/crypto/field-cipher.js';
import { testDataset } from '../helpers/dataset.js';
import { backends } from './backends.js';
import { deltaFile, perBackend } from '../sync/helpers.js';

/*
 * 性別 and 続柄 sealed at rest (migration 0006). A replica written before it, with
 * both in clear, keeps its residents: the next start seals them in place, the
 * certificates read the same, and 世帯変更 deltas keep working afterwards.
 */

const { dataset } = testDataset(new Date());
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

perBackend(list, null, async (t, db) => {
  await loadDataset(db, dataset);
  const raw = async () => db.query<{ id: string; sex: Uint8Array; relationship: Uint8Array }>('SELECT id, sex, relationship FROM residents ORDER BY id');
  t.ok((await raw()).every((r) => r.sex.length >= ENVELOPE_OVERHEAD && r.relationship.length >= ENVELOPE_OVERHEAD), 'a new load stores both sealed');

  // the replica as it was before 0006: sex and 続柄 as text in clear, the function that stores them so
  await db.exec(`
    DROP TABLE replica_unsealed;
    DELETE FROM schema_migrations WHERE id = '0006-seal-sex-relationship';
    ALTER TABLE residents ALTER COLUMN sex TYPE text USING '', ALTER COLUMN relationship TYPE text USING '';
    ${APPLY_CHANGES_SEALED_SQL}`);
  await db.query(
    `UPDATE residents SET sex = x.sex, relationship = x.relationship FROM jsonb_to_recordset($1::jsonb) AS x(id text, sex text, relationship text) WHERE residents.id = x.id`,
    [JSON.stringify(dataset.residents.map((r) => ({ id: r.id, sex: r.sex, relationship: r.relationship })))],
  );
  t.same((await db.query<{ sex: string }>(`SELECT sex FROM residents WHERE id = 'R0001'`))[0]?.sex, dataset.residents.find((r) => r.id === 'R0001')!.sex, 'in clear before');

  t.same(await migrate(db), ['0006-seal-sex-relationship'], 'the next start migrates');
  const rows = await raw();
  t.equal(rows.length, dataset.residents.length, 'no resident lost');
  t.ok(rows.every((r) => r.sex.length >= ENVELOPE_OVERHEAD && r.relationship.length >= ENVELOPE_OVERHEAD), 'every one sealed');
  for (const r of dataset.residents) {
    t.same(await residentById(db, r.id), r, `${r.id} reads back field for field`);
  }
  t.same(await migrate(db), [], 'sealed once: a second start changes nothing');
  t.same((await residentById(db, 'R0001'))?.sex, dataset.residents.find((r) => r.id === 'R0001')!.sex);

  // 世帯変更 after the migration: the new 続柄 is sealed on its way in
  const mover = dataset.residents.find((r) => r.status === 'active' && r.relationship === '子')!;
  const target = dataset.households.find((h) => h.id !== mover.householdId)!;
  const r = await applyDelta(db, await parseDelta(deltaFile('rel-1', [{ seq: 1, kind: 'household-change', notifiedOn: '2026-11-05', residentId: mover.id, householdId: target.id, relationship: '同居人', effectiveOn: '2026-11-05' }])));
  t.equal(r.applied, 1);
  const moved = (await residentById(db, mover.id))!;
  t.match(moved, { householdId: target.id, relationship: '同居人', sex: mover.sex });
  t.ok((await householdOfResident(db, moved))?.members.some((m) => m.id === mover.id && m.relationship === '同居人'), 'the household record shows the new 続柄');
  const [stored] = await db.query<{ relationship: Uint8Array }>('SELECT relationship FROM residents WHERE id = $1', [mover.id]);
  t.notOk(Buffer.from(stored!.relationship).includes(Buffer.from('同居人')), 'stored sealed');
});
