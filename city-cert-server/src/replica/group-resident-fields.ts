import type { Db } from './db.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { asBytes, type FieldCipher } from '../crypto/field-cipher.js';
import { KonbiniError } from '@konbini/protocol';
import { SYNC_LOCK } from './sync-state.js';
import { applyChangesSealingSexAndRelationship } from './seal-sex-relationship.js';
import { sealGroup, type ResidentGroup } from './sealed-fields.js';

/*
 * Migration 0007: a resident's personal fields as two envelopes, `names` and
 * `attributes` (replica/sealed-fields.ts), instead of eleven. A full load sealed
 * ≈ 10.3 values per resident and sealing was most of its CPU; now ≈ 2.55.
 *
 * SQL cannot seal (the key is not in SQL), so the SQL part only adds the two columns,
 * lets the old ones be NULL (new rows leave them so) and replaces konbini_apply_changes.
 * regroupLeftovers() below, run by migrate() right after the unlock (and after 0006's
 * sealLeftovers, which reads sex and 続柄 in those old columns), opens each old row's
 * eleven envelopes, seals the two groups, and drops the old columns, all in one
 * transaction under the sync lock. Nothing is lost, unlike 0004.
 *
 * A row whose old value fails its tag (tampered, or moved from another row) is not
 * re-sealed: laundering it into a valid envelope would hide the tampering. Its group
 * stays NULL and reading that resident fails with REPLICA_FIELD_UNREADABLE, as it did
 * before; every other resident reads as before.
 */

/** konbini_apply_changes of 0006 storing the two groups. */
function applyChangesGrouped(): string {
  const edits: [string, string][] = [
    [
      `family_name, given_name, family_name_kana, given_name_kana,
          birth_date, sex, relationship, resident_since, address_since, notified_on, previous_address,
          honseki, koseki_head, foreign_info, status, flags)`,
      `names, attributes, resident_since, address_since, notified_on, status, flags)`,
    ],
    [
      `decode(r->>'familyName', 'base64'), decode(r->>'givenName', 'base64'),
          decode(r->>'familyNameKana', 'base64'), decode(r->>'givenNameKana', 'base64'),
          decode(r->>'birthDate', 'base64'), decode(r->>'sex', 'base64'), decode(r->>'relationship', 'base64'), (r->>'residentSince')::date, (r->>'addressSince')::date,
          (c->>'notifiedOn')::date, decode(r->>'previousAddress', 'base64'), decode(r->>'honseki', 'base64'),
          decode(r->>'kosekiHead', 'base64'), decode(r->>'foreign', 'base64'),`,
      `decode(r->>'names', 'base64'), decode(r->>'attributes', 'base64'), (r->>'residentSince')::date, (r->>'addressSince')::date,
          (c->>'notifiedOn')::date,`,
    ],
    [
      // the caller sends all four names merged with the stored ones (sync/delta.ts), or none
      `family_name = coalesce(decode(c->>'familyName', 'base64'), family_name),
          given_name = coalesce(decode(c->>'givenName', 'base64'), given_name),
          family_name_kana = coalesce(decode(c->>'familyNameKana', 'base64'), family_name_kana),
          given_name_kana = coalesce(decode(c->>'givenNameKana', 'base64'), given_name_kana),`,
      `names = coalesce(decode(c->>'names', 'base64'), names),`,
    ],
    // 続柄 lives in the attributes group: the caller re-sealed it with the new 続柄
    [`relationship = decode(c->>'relationship', 'base64')`, `attributes = coalesce(decode(c->>'attributes', 'base64'), attributes)`],
  ];
  let sql = applyChangesSealingSexAndRelationship();
  for (const [from, to] of edits) {
    if (sql.split(from).length !== 2) throw new Error(`migration 0007: "${from.slice(0, 60)}…" not found once in konbini_apply_changes`);
    sql = sql.replace(from, to);
  }
  return sql;
}

/** The per-field columns of 0004/0006 that the groups replace. */
const OLD_TEXT: [field: string, column: string][] = [
  ['familyName', 'family_name'], ['givenName', 'given_name'], ['familyNameKana', 'family_name_kana'], ['givenNameKana', 'given_name_kana'],
  ['birthDate', 'birth_date'], ['sex', 'sex'], ['relationship', 'relationship'], ['previousAddress', 'previous_address'],
  ['honseki', 'honseki'], ['kosekiHead', 'koseki_head'],
];
const OLD_COLUMNS = [...OLD_TEXT.map(([, c]) => c), 'foreign_info'];

export const GROUP_RESIDENT_FIELDS_SQL = `
  ALTER TABLE residents ADD COLUMN names bytea, ADD COLUMN attributes bytea;
  -- rows written from now on leave these NULL; regroupLeftovers() drops them once it has re-sealed the old rows
  ALTER TABLE residents
    ${['family_name', 'given_name', 'family_name_kana', 'given_name_kana', 'birth_date', 'sex', 'relationship'].map((c) => `ALTER COLUMN ${c} DROP NOT NULL`).join(',\n    ')};
  ${applyChangesGrouped()}
`;

const BATCH = 5_000;

async function oldColumnsPresent(db: Pick<Db, 'query'>): Promise<boolean> {
  const rows = await db.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'residents' AND column_name = 'family_name'`,
  );
  return rows.length > 0;
}

/** One old group's values opened, or null when one of them fails its tag (left unreadable). */
function openOld(cipher: FieldCipher, group: ResidentGroup, row: Record<string, unknown>): Record<string, unknown> | null {
  const id = String(row.id);
  const out: Record<string, unknown> = {};
  try {
    for (const [field, column] of OLD_TEXT) {
      if ((group === 'names') !== ['familyName', 'givenName', 'familyNameKana', 'givenNameKana'].includes(field)) continue;
      out[field] = cipher.openText('residents', column, id, asBytes(row[column]));
    }
    if (group === 'attributes') out.foreign = cipher.openJson('residents', 'foreign_info', id, asBytes(row.foreign_info));
  } catch (err) {
    if (err instanceof KonbiniError && err.code === 'REPLICA_FIELD_UNREADABLE') return null;
    throw err;
  }
  return out;
}

/**
 * Re-seals what migration 0007 left in the per-field columns, then drops those
 * columns: one transaction under the sync lock (a load or batch waits; two workers
 * starting at once do it once). Returns the residents re-sealed and those left
 * unreadable (ids only: never a value).
 */
export async function regroupLeftovers(db: Db): Promise<{ regrouped: number; unreadable: string[] }> {
  if (!(await oldColumnsPresent(db))) return { regrouped: 0, unreadable: [] };
  return db.transaction(
    async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [SYNC_LOCK]);
      if (!(await oldColumnsPresent(tx))) return { regrouped: 0, unreadable: [] };
      const cipher = cipherOf(tx);
      let regrouped = 0;
      const unreadable: string[] = [];
      let after = '';
      for (;;) {
        // rows written after 0007 have their groups already and nothing in the old columns
        const rows = await tx.query<Record<string, unknown> & { id: string }>(
          `SELECT id, ${OLD_COLUMNS.join(', ')} FROM residents WHERE names IS NULL AND id > $1 ORDER BY id LIMIT ${BATCH}`,
          [after],
        );
        if (!rows.length) break;
        after = rows[rows.length - 1]!.id;
        const sealed = rows.map((r) => {
          const names = openOld(cipher, 'names', r);
          const attributes = openOld(cipher, 'attributes', r);
          if (!names || !attributes) unreadable.push(r.id);
          return {
            id: r.id,
            names: names && sealGroup(cipher, 'names', r.id, names).toString('base64'),
            attributes: attributes && sealGroup(cipher, 'attributes', r.id, attributes).toString('base64'),
          };
        });
        await tx.query(
          `UPDATE residents SET names = decode(x.names, 'base64'), attributes = decode(x.attributes, 'base64')
           FROM jsonb_to_recordset($1::jsonb) AS x(id text, names text, attributes text) WHERE residents.id = x.id`,
          [JSON.stringify(sealed)],
        );
        regrouped += rows.length;
      }
      await tx.exec(`ALTER TABLE residents ${OLD_COLUMNS.map((c) => `DROP COLUMN ${c}`).join(', ')}`);
      return { regrouped: regrouped - unreadable.length, unreadable };
    },
    { isolation: 'read-committed' },
  );
}
