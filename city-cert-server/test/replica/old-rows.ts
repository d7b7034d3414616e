import type { CityDataset } from '@konbini/protocol';
import type { Db } from '../../src/index.js';
import { applyMigrations } from '../../src/replica/migrations.js';
import { cipherOf, unlockReplica } from '../../src/crypto/replica-keys.js';

/*
 * A replica as an older release left it, for the migration tests: the migrations up
 * to `until` only, and the dataset's city, households and residents written the way
 * that release wrote them: one envelope per field (0004), 性別 and 続柄 in clear
 * before 0006 and sealed from 0006 on. This is the old writers' code, kept here
 * because the replica code no longer writes that format.
 */
export async function oldReplica(db: Db, dataset: CityDataset, until: '0005-centre-outbox' | '0006-seal-sex-relationship'): Promise<void> {
  await applyMigrations(db, until);
  await unlockReplica(db);
  const cipher = cipherOf(db);
  const sexSealed = until === '0006-seal-sex-relationship';
  const { city } = dataset;
  await db.query('INSERT INTO city (code, name, prefecture, mayor_name) VALUES ($1, $2, $3, $4)', [city.code, city.name, city.prefecture, city.mayorName]);
  const b64 = (b: Buffer | null) => b && b.toString('base64');
  await db.query(
    `INSERT INTO households (id, address, head_id) SELECT id, decode(address, 'base64'), "headId" FROM jsonb_to_recordset($1::jsonb) AS x(id text, address text, "headId" text)`,
    [JSON.stringify(dataset.households.map((h) => ({ ...h, address: b64(cipher.sealText('households', 'address', h.id, h.address)) })))],
  );
  const rows = dataset.residents.map((r) => {
    const s = (column: string, v: string | null) => b64(cipher.sealText('residents', column, r.id, v));
    return {
      id: r.id, householdId: r.householdId,
      familyName: s('family_name', r.familyName), givenName: s('given_name', r.givenName),
      familyNameKana: s('family_name_kana', r.familyNameKana), givenNameKana: s('given_name_kana', r.givenNameKana),
      birthDate: s('birth_date', r.birthDate),
      sex: sexSealed ? s('sex', r.sex) : Buffer.from(r.sex).toString('base64'),
      relationship: sexSealed ? s('relationship', r.relationship) : Buffer.from(r.relationship).toString('base64'),
      residentSince: r.residentSince, addressSince: r.addressSince, notifiedOn: r.notifiedOn,
      previousAddress: s('previous_address', r.previousAddress), honseki: s('honseki', r.honseki), kosekiHead: s('koseki_head', r.kosekiHead),
      foreign: b64(cipher.sealJson('residents', 'foreign_info', r.id, r.foreign)),
      status: r.status, flags: r.flags, removedOn: r.removedOn ?? null,
    };
  });
  // before 0006 sex and relationship were text columns: the clear bytes go in as text
  const sexIn = sexSealed ? `decode(sex, 'base64'), decode(relationship, 'base64')` : `convert_from(decode(sex, 'base64'), 'UTF8'), convert_from(decode(relationship, 'base64'), 'UTF8')`;
  await db.query(
    `INSERT INTO residents (id, household_id, family_name, given_name, family_name_kana, given_name_kana,
        birth_date, sex, relationship, resident_since, address_since, notified_on, previous_address,
        honseki, koseki_head, foreign_info, status, flags, removed_on)
      SELECT id, "householdId", decode("familyName", 'base64'), decode("givenName", 'base64'),
        decode("familyNameKana", 'base64'), decode("givenNameKana", 'base64'), decode("birthDate", 'base64'), ${sexIn},
        "residentSince", "addressSince", "notifiedOn", decode("previousAddress", 'base64'), decode(honseki, 'base64'),
        decode("kosekiHead", 'base64'), decode("foreign", 'base64'), status, ARRAY(SELECT jsonb_array_elements_text(flags)), "removedOn"
      FROM jsonb_to_recordset($1::jsonb) AS x(id text, "householdId" text, "familyName" text, "givenName" text,
        "familyNameKana" text, "givenNameKana" text, "birthDate" text, sex text, relationship text,
        "residentSince" date, "addressSince" date, "notifiedOn" date, "previousAddress" text,
        honseki text, "kosekiHead" text, "foreign" text, status text, flags jsonb, "removedOn" date)`,
    [JSON.stringify(rows)],
  );
}
