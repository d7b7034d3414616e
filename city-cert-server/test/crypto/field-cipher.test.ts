import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import t from 'tap';
import { KonbiniError } from '@konbini/protocol';
import { FieldCipher } from '../../src/crypto/field-cipher.js';
import { householdOfResident, loadDataset, migrate, openPgliteDb, residentById, sealRegistrationOf } from '../../src/index.js';
import { taxRecordOf } from '../../src/replica/cert-queries.js';
import { testDataset } from '../helpers/dataset.js';

/*
 * A sealed value is bound to its table, column and row (AES-GCM associated data):
 * copied anywhere else it does not open, and the refusal has one stable code,
 * REPLICA_FIELD_UNREADABLE, with ids only in its detail.
 */

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof KonbiniError ? err.code : `not a KonbiniError: ${String(err)}`;
  }
  return undefined;
}

t.test('seal/open: round trip, random nonce, bound to table, column and row', async (t) => {
  const c = new FieldCipher(randomBytes(32));
  const a = c.sealText('residents', 'family_name', 'R1', '髙橋');
  const b = c.sealText('residents', 'family_name', 'R1', '髙橋');
  t.equal(c.openText('residents', 'family_name', 'R1', a), '髙橋');
  t.not(a.toString('hex'), b.toString('hex'), 'a fresh nonce each time: equal names do not look equal');
  t.equal(a.length, 1 + 12 + Buffer.byteLength('髙橋') + 16);
  t.equal(await codeOf(() => c.openText('residents', 'family_name', 'R2', a)), 'REPLICA_FIELD_UNREADABLE', 'another row');
  t.equal(await codeOf(() => c.openText('residents', 'given_name', 'R1', a)), 'REPLICA_FIELD_UNREADABLE', 'another column');
  t.equal(await codeOf(() => c.openText('households', 'family_name', 'R1', a)), 'REPLICA_FIELD_UNREADABLE', 'another table');
  const flipped = Buffer.from(a);
  flipped[14]! ^= 1;
  t.equal(await codeOf(() => c.openText('residents', 'family_name', 'R1', flipped)), 'REPLICA_FIELD_UNREADABLE', 'one bit changed');
  t.equal(await codeOf(() => new FieldCipher(randomBytes(32)).openText('residents', 'family_name', 'R1', a)), 'REPLICA_FIELD_UNREADABLE', 'another key');
  t.equal(await codeOf(() => c.openText('residents', 'family_name', 'R1', Buffer.from('髙橋'))), 'REPLICA_FIELD_UNREADABLE', 'plaintext is not a value');
  try {
    c.openText('residents', 'family_name', 'R2', a);
  } catch (err) {
    t.same((err as KonbiniError).detail, { table: 'residents', column: 'family_name', rowId: 'R2', reason: 'tag' }, 'ids only, never the value');
  }
  t.notMatch(inspect(c) + JSON.stringify({ c }), /[0-9a-f]{64}/, 'the key is never printed');
});

t.test('in the replica: a value moved to another row fails to decrypt with REPLICA_FIELD_UNREADABLE', async (t) => {
  const { dataset } = testDataset(new Date());
  const db = await openPgliteDb();
  t.teardown(() => db.close());
  await migrate(db);
  await loadDataset(db, dataset);
  const [a, b] = dataset.residents.filter((r) => r.status === 'active');
  t.ok(a && b, 'two residents');
  t.equal((await residentById(db, b!.id))?.familyName, b!.familyName, 'readable before');

  // someone with write access to the database copies one resident's sealed names onto another
  await db.query('UPDATE residents SET names = (SELECT names FROM residents WHERE id = $1) WHERE id = $2', [a!.id, b!.id]);
  t.equal(await codeOf(residentById(db, b!.id)), 'REPLICA_FIELD_UNREADABLE', 'names moved to another resident');
  t.equal((await residentById(db, a!.id))?.familyName, a!.familyName, 'the source row is untouched');
  // the whole group of birth date, 性別, 続柄, 本籍... moved to another resident
  const c = dataset.residents.filter((r) => r.status === 'active')[2]!;
  await db.query('UPDATE residents SET attributes = (SELECT attributes FROM residents WHERE id = $1) WHERE id = $2', [a!.id, c.id]);
  t.equal(await codeOf(residentById(db, c.id)), 'REPLICA_FIELD_UNREADABLE', 'attributes moved to another resident');
  // both envelopes swapped together: still bound to the row
  await db.query(
    `UPDATE residents SET names = s.names, attributes = s.attributes FROM (SELECT names, attributes FROM residents WHERE id = $1) s WHERE residents.id = $2`,
    [a!.id, c.id],
  );
  t.equal(await codeOf(residentById(db, c.id)), 'REPLICA_FIELD_UNREADABLE', 'a whole row\'s envelopes moved to another resident');

  // the attributes moved into the names column of the same row
  await db.query('UPDATE residents SET names = attributes WHERE id = $1', [a!.id]);
  t.equal(await codeOf(residentById(db, a!.id)), 'REPLICA_FIELD_UNREADABLE', 'value moved to another column');
  // a household record with such a member is refused, not printed without them
  await t.rejects(householdOfResident(db, a!), { code: 'REPLICA_FIELD_UNREADABLE' }, 'its household record too');

  // a household address moved to another household
  const [h1, h2] = dataset.households;
  await db.query('UPDATE households SET address = (SELECT address FROM households WHERE id = $1) WHERE id = $2', [h1!.id, h2!.id]);
  const member = dataset.residents.find((r) => r.householdId === h2!.id && r.id !== b!.id && r.id !== a!.id)!;
  t.equal(await codeOf(householdOfResident(db, (await residentById(db, member.id))!)), 'REPLICA_FIELD_UNREADABLE', 'address moved to another household');
});

t.test('seal image and tax record are bound to their rows too', async (t) => {
  const { dataset } = testDataset(new Date());
  const [a, b] = dataset.residents.filter((r) => r.status === 'active');
  const png = Buffer.from('89504e470d0a1a0a', 'hex');
  const withExtras = {
    ...dataset,
    seals: [
      { residentId: a!.id, sealNumber: 'S1', registeredOn: '2020-01-01', status: 'active' as const, abolishedOn: null, imagePng: png.toString('base64') },
      { residentId: b!.id, sealNumber: 'S2', registeredOn: '2020-01-01', status: 'active' as const, abolishedOn: null, imagePng: png.toString('base64') },
    ],
    taxRecords: [
      { residentId: a!.id, fiscalYear: 2026, taxed: true, totalIncome: 5_000_000 },
      { residentId: a!.id, fiscalYear: 2025, taxed: true, totalIncome: 1 },
    ],
  } as unknown as typeof dataset;
  const db = await openPgliteDb();
  t.teardown(() => db.close());
  await migrate(db);
  await loadDataset(db, withExtras);
  t.same((await sealRegistrationOf(db, b!.id))?.imagePng, png);
  t.match(await taxRecordOf(db, a!.id, 2026), { totalIncome: 5_000_000 });
  await db.query('UPDATE seal_registrations SET image_png = (SELECT image_png FROM seal_registrations WHERE resident_id = $1) WHERE resident_id = $2', [a!.id, b!.id]);
  t.equal(await codeOf(sealRegistrationOf(db, b!.id)), 'REPLICA_FIELD_UNREADABLE', '印影 moved to another registrant');
  await db.query('UPDATE tax_records SET record = (SELECT record FROM tax_records WHERE resident_id = $1 AND fiscal_year = 2025) WHERE resident_id = $1 AND fiscal_year = 2026', [a!.id]);
  t.equal(await codeOf(taxRecordOf(db, a!.id, 2026)), 'REPLICA_FIELD_UNREADABLE', 'an old year passed off as the new one');
});
