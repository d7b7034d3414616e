import { KonbiniError } from '@konbini/protocol';
import type { Db, Queryable } from '../replica/db.js';
import { syncState, takeSyncLock } from '../replica/sync-state.js';
import type { Resident } from '../replica/dataset.js';
import { SyncRefusal } from './errors.js';
import type { Change, DeltaBatch } from './delta-format.js';

export interface DeltaResult {
  batchId: string;
  /** Changes applied now. */
  applied: number;
  /** Changes already applied earlier (a re-sent batch, or its overlap), skipped. */
  alreadyApplied: number;
  /** Sequence number the replica stands at afterwards (before, for a dry run). */
  lastSeq: number;
  dryRun: boolean;
  byKind: Record<string, number>;
}

class DryRunRollback extends Error {
  constructor(readonly result: DeltaResult) {
    super('dry run');
  }
}

/**
 * Applies one batch in one transaction under the sync lock: all of it or none.
 * Issuance reads in its own snapshot, so it sees the replica before or after the
 * batch, never in between (DESIGN §5 invariant 4).
 *
 * Changes whose sequence number is already applied are checked against the hash
 * recorded then: equal is a harmless re-send, different is SYNC_SEQUENCE_CONFLICT.
 * The first new change must follow the replica's last one exactly (SYNC_GAP).
 * An empty batch is a heartbeat: it applies nothing and records that the replica
 * is current.
 */
export async function applyDelta(db: Db, batch: DeltaBatch, options: { dryRun?: boolean; now?: Date } = {}): Promise<DeltaResult> {
  try {
    return await db.transaction(
      async (tx) => {
        await takeSyncLock(tx);
        const city = await tx.query<{ code: string }>('SELECT code FROM city');
        if (city.length !== 1) throw new SyncRefusal('SYNC_UNKNOWN_RECORD', [{ line: 1, field: '/cityCode', reason: 'the replica is empty: run a full load first' }]);
        if (city[0]!.code !== batch.cityCode) throw new SyncRefusal('SYNC_CITY_MISMATCH', [{ line: 1, field: '/cityCode', reason: `this replica is city ${city[0]!.code}` }]);
        const state = await syncState(tx, true);

        const old = batch.changes.filter((c) => c.seq <= state.lastSeq);
        const fresh = batch.changes.filter((c) => c.seq > state.lastSeq);
        if (old.length) {
          const known = new Map(
            (await tx.query<{ seq: string; sha256: string }>('SELECT seq::text AS seq, sha256 FROM sync_changes WHERE seq = ANY($1::bigint[])', [old.map((c) => c.seq)])).map(
              (r) => [Number(r.seq), r.sha256],
            ),
          );
          for (const c of old) {
            const h = known.get(c.seq);
            // no record: the change predates the last full load, which already contains it
            if (h !== undefined && h !== c.sha256) {
              throw new SyncRefusal('SYNC_SEQUENCE_CONFLICT', [{ line: c.line, field: '/seq', reason: `sequence ${c.seq} was applied with other content` }], { seq: c.seq });
            }
          }
        }
        if (fresh.length && fresh[0]!.seq !== state.lastSeq + 1) {
          const c = fresh[0]!;
          throw new SyncRefusal('SYNC_GAP', [{ line: c.line, field: '/seq', reason: `the replica is at ${state.lastSeq}: expected ${state.lastSeq + 1}, found ${c.seq}` }], {
            expected: state.lastSeq + 1,
            found: c.seq,
          });
        }

        const byKind: Record<string, number> = {};
        for (const c of fresh) {
          await applyChange(tx, c);
          byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
        }
        if (fresh.length) {
          await tx.query(
            `INSERT INTO sync_changes (seq, kind, sha256, batch_id)
             SELECT seq, kind, sha256, $2 FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, kind text, sha256 text)`,
            [JSON.stringify(fresh.map((c) => ({ seq: c.seq, kind: c.kind, sha256: c.sha256 }))), batch.batchId],
          );
        }
        const lastSeq = fresh.length ? fresh[fresh.length - 1]!.seq : state.lastSeq;
        await tx.query('UPDATE sync_state SET last_seq = $1, last_sync_at = $2, last_batch_id = $3 WHERE id = 1', [
          lastSeq,
          (options.now ?? new Date()).toISOString(),
          batch.batchId,
        ]);
        const result: DeltaResult = { batchId: batch.batchId, applied: fresh.length, alreadyApplied: old.length, lastSeq, dryRun: !!options.dryRun, byKind };
        if (options.dryRun) {
          // deferred constraints are checked now, so a dry run finds what a commit would
          await tx.exec('SET CONSTRAINTS ALL IMMEDIATE');
          throw new DryRunRollback({ ...result, lastSeq: state.lastSeq });
        }
        return result;
      },
      { isolation: 'read-committed' },
    );
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result;
    if (err instanceof KonbiniError) throw err;
    const code = (err as { code?: string }).code;
    if (code === '23503') throw new SyncRefusal('SYNC_UNKNOWN_RECORD', [{ line: 0, field: '', reason: 'a change refers to a record the replica does not hold (foreign key)' }]);
    if (code === '23505') throw new SyncRefusal('SYNC_RECORD_CONFLICT', [{ line: 0, field: '', reason: 'a change creates a record that exists already (unique key)' }]);
    if (code === '23514') throw new SyncRefusal('SYNC_RECORD_CONFLICT', [{ line: 0, field: '', reason: 'a change breaks a check constraint' }]);
    throw err;
  }
}

function unknown(c: Change, field: string, what: string): SyncRefusal {
  return new SyncRefusal('SYNC_UNKNOWN_RECORD', [{ line: c.line, field, reason: `no such ${what}` }], { seq: c.seq });
}
function conflict(c: Change, field: string, reason: string): SyncRefusal {
  return new SyncRefusal('SYNC_RECORD_CONFLICT', [{ line: c.line, field, reason }], { seq: c.seq });
}

async function residentStatus(tx: Queryable, c: Change & { residentId: string }): Promise<{ status: Resident['status']; flags: string[] }> {
  const rows = await tx.query<{ status: Resident['status']; flags: string[] }>('SELECT status, flags FROM residents WHERE id = $1 FOR UPDATE', [c.residentId]);
  if (!rows[0]) throw unknown(c, '/residentId', 'resident');
  return rows[0];
}

async function activeResident(tx: Queryable, c: Change & { residentId: string }): Promise<void> {
  const r = await residentStatus(tx, c);
  if (r.status !== 'active') throw conflict(c, '/residentId', `the resident is ${r.status}`);
}

async function insertHousehold(tx: Queryable, c: Change, h: { id: string; address: string; headId: string }): Promise<void> {
  const rows = await tx.query('INSERT INTO households (id, address, head_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id', [h.id, h.address, h.headId]);
  if (!rows.length) throw conflict(c, '/household/id', 'the household exists already');
}

async function householdExists(tx: Queryable, c: Change, id: string, field: string): Promise<void> {
  const rows = await tx.query('SELECT 1 FROM households WHERE id = $1', [id]);
  if (!rows.length) throw unknown(c, field, 'household');
}

/**
 * One UPDATE of an active resident (`AND status = 'active'` in sql, $1 the id); the
 * reason it matched nothing is looked up only then: one round trip per change normally.
 */
async function updateActive(tx: Queryable, c: Change & { residentId: string }, sql: string, params: unknown[]): Promise<void> {
  const rows = await tx.query(sql, params);
  if (!rows.length) {
    await activeResident(tx, c); // throws the precise refusal
    throw conflict(c, '/residentId', 'the resident did not change');
  }
}

async function setFlag(tx: Queryable, c: Change & { residentId: string }, flag: string, on: boolean, activeOnly: boolean): Promise<void> {
  const sql = on
    ? `UPDATE residents SET flags = CASE WHEN $2 = ANY(flags) THEN flags ELSE array_append(flags, $2) END, notified_on = $3 WHERE id = $1`
    : `UPDATE residents SET flags = array_remove(flags, $2), notified_on = $3 WHERE id = $1`;
  const params = [c.residentId, flag, c.notifiedOn];
  if (activeOnly) return updateActive(tx, c, `${sql} AND status = 'active' RETURNING id`, params);
  const rows = await tx.query(`${sql} RETURNING id`, params);
  if (!rows.length) throw unknown(c, '/residentId', 'resident');
}

async function applyChange(tx: Queryable, c: Change): Promise<void> {
  switch (c.kind) {
    case 'move-in':
    case 'birth': {
      const r = c.resident;
      if (r.status !== 'active') throw conflict(c, '/resident/status', 'a person moving in or born is active');
      if (c.household) {
        if (c.household.id !== r.householdId) throw conflict(c, '/household/id', 'must be the resident\'s householdId');
        await insertHousehold(tx, c, c.household);
      } else await householdExists(tx, c, r.householdId, '/resident/householdId');
      const rows = await tx.query(
        `INSERT INTO residents (id, household_id, family_name, given_name, family_name_kana, given_name_kana,
           birth_date, sex, relationship, resident_since, address_since, notified_on, previous_address,
           honseki, koseki_head, foreign_info, status, flags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'active', $17)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [r.id, r.householdId, r.familyName, r.givenName, r.familyNameKana, r.givenNameKana, r.birthDate, r.sex, r.relationship,
          r.residentSince, r.addressSince, c.notifiedOn, r.previousAddress, r.honseki, r.kosekiHead,
          r.foreign ? JSON.stringify(r.foreign) : null, r.flags],
      );
      if (!rows.length) throw conflict(c, '/resident/id', 'the resident exists already');
      return;
    }
    case 'move-out-planned':
      return setFlag(tx, c, 'moving-out', true, true);
    case 'move-out-cancelled':
      return setFlag(tx, c, 'moving-out', false, true);
    case 'move-out':
    case 'death': {
      await updateActive(
        tx,
        c,
        `UPDATE residents SET status = $2, removed_on = $3, notified_on = $4, flags = array_remove(flags, 'moving-out')
         WHERE id = $1 AND status = 'active' RETURNING id`,
        [c.residentId, c.kind === 'death' ? 'deceased' : 'moved-out', c.effectiveOn, c.notifiedOn],
      );
      // a removed person's seal registration ends with the record (印鑑登録の抹消)
      await tx.query(`UPDATE seal_registrations SET status = 'abolished', abolished_on = $2 WHERE resident_id = $1 AND status = 'active'`, [c.residentId, c.effectiveOn]);
      return;
    }
    case 'address-change': {
      const rows = await tx.query('UPDATE households SET address = $2 WHERE id = $1 RETURNING id', [c.householdId, c.address]);
      if (!rows.length) throw unknown(c, '/householdId', 'household');
      await tx.query(`UPDATE residents SET address_since = $2, notified_on = $3 WHERE household_id = $1 AND status = 'active'`, [c.householdId, c.effectiveOn, c.notifiedOn]);
      return;
    }
    case 'name-change': {
      await updateActive(
        tx,
        c,
        `UPDATE residents SET family_name = COALESCE($2, family_name), given_name = COALESCE($3, given_name),
           family_name_kana = COALESCE($4, family_name_kana), given_name_kana = COALESCE($5, given_name_kana), notified_on = $6
         WHERE id = $1 AND status = 'active' RETURNING id`,
        [c.residentId, c.familyName ?? null, c.givenName ?? null, c.familyNameKana ?? null, c.givenNameKana ?? null, c.notifiedOn],
      );
      return;
    }
    case 'household-change': {
      if (c.household) {
        if (c.household.id !== c.householdId) throw conflict(c, '/household/id', 'must be the change\'s householdId');
        await insertHousehold(tx, c, c.household);
      } else await householdExists(tx, c, c.householdId, '/householdId');
      await updateActive(tx, c, `UPDATE residents SET household_id = $2, relationship = $3, notified_on = $4 WHERE id = $1 AND status = 'active' RETURNING id`, [
        c.residentId,
        c.householdId,
        c.relationship,
        c.notifiedOn,
      ]);
      return;
    }
    case 'seal-register': {
      await activeResident(tx, c);
      const rows = await tx.query(
        `INSERT INTO seal_registrations (resident_id, seal_number, image_png, status, registered_on, abolished_on)
         VALUES ($1, $2, decode($3, 'base64'), 'active', $4, NULL)
         ON CONFLICT (resident_id) DO UPDATE SET seal_number = EXCLUDED.seal_number, image_png = EXCLUDED.image_png,
           status = 'active', registered_on = EXCLUDED.registered_on, abolished_on = NULL
         WHERE seal_registrations.status = 'abolished'
         RETURNING resident_id`,
        [c.residentId, c.sealNumber, c.imagePng ?? null, c.effectiveOn],
      );
      if (!rows.length) throw conflict(c, '/residentId', 'a seal is registered already (abolish it first)');
      return;
    }
    case 'seal-abolish': {
      await residentStatus(tx, c);
      const rows = await tx.query(
        `UPDATE seal_registrations SET status = 'abolished', abolished_on = $2 WHERE resident_id = $1 AND status = 'active' RETURNING resident_id`,
        [c.residentId, c.effectiveOn],
      );
      if (!rows.length) throw unknown(c, '/residentId', 'active seal registration');
      return;
    }
    case 'card-issue': {
      await activeResident(tx, c);
      const rows = await tx.query(
        `INSERT INTO card_links (serial, resident_id, valid_from) VALUES (lower($1), $2, $3)
         ON CONFLICT (serial) DO NOTHING RETURNING serial`,
        [c.serial, c.residentId, c.validFrom],
      );
      if (!rows.length) throw conflict(c, '/serial', 'the card is linked already');
      return;
    }
    case 'card-revoke': {
      const rows = await tx.query(
        'UPDATE card_links SET revoked_on = $2 WHERE serial = lower($1) AND revoked_on IS NULL RETURNING serial',
        [c.serial, c.effectiveOn],
      );
      if (!rows.length) throw unknown(c, '/serial', 'linked card');
      return;
    }
    case 'support-measure-set':
    case 'support-measure-cleared':
      // also on removed persons: the measure protects their past records too
      return setFlag(tx, c, 'support-measure', c.kind === 'support-measure-set', false);
  }
}
