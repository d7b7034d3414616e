import type { Db } from './db.js';
import { APPLY_CHANGES_SEALED_SQL } from './apply-changes-sealed.sql.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { asBytes, ENVELOPE_OVERHEAD } from '../crypto/field-cipher.js';
import { SYNC_LOCK } from './sync-state.js';

/*
 * Migration 0006: 性別 (sex) and 続柄 (relationship) sealed like the other personal
 * fields (docs/PROTECTION-AT-REST.md). SQL cannot seal (the key is not in SQL), so
 * the migration turns both columns into bytea holding the plaintext bytes for now,
 * lists the rows so converted in replica_unsealed, and sealLeftovers() below seals
 * them with the data key right after the replica is unlocked (migrate()). No resident
 * data is lost, unlike 0004. A row is sealed only while its sex is shorter than any
 * envelope ('male', 'female'; sex and 続柄 were converted together): a resident
 * written by a load or batch meanwhile is already sealed and never sealed twice.
 */

/** konbini_apply_changes of 0004 with sex and 続柄 decoded like the other sealed fields (0007 edits this one in turn). */
export function applyChangesSealingSexAndRelationship(): string {
  const edits: [string, string][] = [
    [`r->>'sex', r->>'relationship'`, `decode(r->>'sex', 'base64'), decode(r->>'relationship', 'base64')`],
    [`relationship = c->>'relationship'`, `relationship = decode(c->>'relationship', 'base64')`],
  ];
  let sql = APPLY_CHANGES_SEALED_SQL;
  for (const [from, to] of edits) {
    if (sql.split(from).length !== 2) throw new Error(`migration 0006: "${from}" not found once in konbini_apply_changes`);
    sql = sql.replace(from, to);
  }
  return sql;
}

export const SEAL_SEX_RELATIONSHIP_SQL = `
  ALTER TABLE residents DROP CONSTRAINT IF EXISTS residents_sex_check;
  ALTER TABLE residents
    ALTER COLUMN sex TYPE bytea USING convert_to(sex, 'UTF8'),
    ALTER COLUMN relationship TYPE bytea USING convert_to(relationship, 'UTF8');
  -- residents whose sex and 続柄 are still plaintext bytes, until sealLeftovers() has sealed them
  CREATE TABLE replica_unsealed (resident_id text PRIMARY KEY);
  INSERT INTO replica_unsealed (resident_id) SELECT id FROM residents;
  ${applyChangesSealingSexAndRelationship()}
`;

const BATCH = 10_000;

/**
 * Seals what migration 0006 left in plaintext, in one transaction under the sync lock
 * (a load or batch waits for it; two workers starting at once seal once). Returns the
 * residents sealed.
 */
export async function sealLeftovers(db: Db): Promise<number> {
  const [left] = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM replica_unsealed');
  if (!Number(left?.n)) return 0;
  return db.transaction(
    async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [SYNC_LOCK]);
      const cipher = cipherOf(tx);
      let done = 0;
      for (;;) {
        const rows = await tx.query<{ id: string; sex: unknown; relationship: unknown }>(
          `SELECT r.id, r.sex, r.relationship FROM residents r JOIN replica_unsealed u ON u.resident_id = r.id
           WHERE octet_length(r.sex) < ${ENVELOPE_OVERHEAD} ORDER BY r.id LIMIT ${BATCH}`,
        );
        if (!rows.length) break;
        const sealed = rows.map((r) => ({
          id: r.id,
          sex: cipher.sealText('residents', 'sex', r.id, asBytes(r.sex)!.toString('utf8')).toString('base64'),
          relationship: cipher.sealText('residents', 'relationship', r.id, asBytes(r.relationship)!.toString('utf8')).toString('base64'),
        }));
        await tx.query(
          `UPDATE residents SET sex = decode(x.sex, 'base64'), relationship = decode(x.relationship, 'base64')
           FROM jsonb_to_recordset($1::jsonb) AS x(id text, sex text, relationship text) WHERE residents.id = x.id`,
          [JSON.stringify(sealed)],
        );
        done += rows.length;
      }
      await tx.query('DELETE FROM replica_unsealed');
      return done;
    },
    { isolation: 'read-committed' },
  );
}
