import { KonbiniError } from '@konbini/protocol';
import type { Queryable } from './db.js';

/** Advisory lock held by whoever changes resident data (full load, delta batch, roll-over). */
export const SYNC_LOCK = 7406002;

/**
 * Takes the sync lock for the rest of the transaction, or refuses at once: two
 * loads never interleave, and the second one says so instead of queueing silently.
 */
export async function takeSyncLock(tx: Queryable): Promise<void> {
  const rows = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SYNC_LOCK]);
  if (!rows[0]?.ok) throw new KonbiniError('SYNC_IN_PROGRESS', {});
}

export interface SyncState {
  lastSeq: number;
  /** ISO instant of the last full load or delta batch (an empty batch counts: it says nothing changed). */
  lastSyncAt: string | null;
  lastBatchId: string | null;
  fullLoadAt: string | null;
}

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export async function syncState(db: Queryable, forUpdate = false): Promise<SyncState> {
  const rows = await db.query<{ last_seq: string; last_sync_at: string | null; last_batch_id: string | null; full_load_at: string | null }>(
    `SELECT last_seq::text AS last_seq, ${ISO('last_sync_at')} AS last_sync_at, last_batch_id, ${ISO('full_load_at')} AS full_load_at
     FROM sync_state WHERE id = 1${forUpdate ? ' FOR UPDATE' : ''}`,
  );
  const r = rows[0];
  if (!r) throw new Error('sync_state row missing: migrations not applied');
  return { lastSeq: Number(r.last_seq), lastSyncAt: r.last_sync_at, lastBatchId: r.last_batch_id, fullLoadAt: r.full_load_at };
}

/** After a full load: the replica stands at `seq` of the core system's sequence, and is fresh now. */
export async function markFullLoad(tx: Queryable, seq: number, at: Date): Promise<void> {
  await tx.query('DELETE FROM sync_changes');
  await tx.query(
    'UPDATE sync_state SET last_seq = $1, last_sync_at = $2, full_load_at = $2, last_batch_id = NULL WHERE id = 1',
    [seq, at.toISOString()],
  );
}

export interface ReplicaCounts {
  households: number;
  residents: number;
  activeResidents: number;
  cardLinks: number;
  activeSeals: number;
  issuanceRecords: number;
}

export async function replicaCounts(db: Queryable): Promise<ReplicaCounts> {
  const rows = await db.query<Record<keyof ReplicaCounts, string>>(
    `SELECT (SELECT count(*) FROM households)::text AS "households",
            (SELECT count(*) FROM residents)::text AS "residents",
            (SELECT count(*) FROM residents WHERE status = 'active')::text AS "activeResidents",
            (SELECT count(*) FROM card_links WHERE revoked_on IS NULL)::text AS "cardLinks",
            (SELECT count(*) FROM seal_registrations WHERE status = 'active')::text AS "activeSeals",
            (SELECT count(*) FROM issuance_records)::text AS "issuanceRecords"`,
  );
  const r = rows[0]!;
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])) as unknown as ReplicaCounts;
}
