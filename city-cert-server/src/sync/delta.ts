import { KonbiniError } from '@konbini/protocol';
import type { Db } from '../replica/db.js';
import { syncState, takeSyncLock } from '../replica/sync-state.js';
import { cipherOf } from '../crypto/replica-keys.js';
import type { FieldCipher } from '../crypto/field-cipher.js';
import type { Queryable } from '../replica/db.js';
import { asBytes } from '../crypto/field-cipher.js';
import { NAME_FIELDS, openGroup, sealGroup, sealHouseholdAddress, sealHouseholdRow, sealResidentRow, sealSealImage } from '../replica/sealed-fields.js';
import { SyncRefusal } from './errors.js';
import type { Change, DeltaBatch } from './delta-format.js';
import { enqueueCardChanges } from '../outbox/schema.js';

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

        // the content hash of a change is taken over names and addresses: stored keyed (HMAC under the data key)
        const cipher = cipherOf(tx);
        const stored = (c: Change) => cipher.mac('sync-change', c.sha256);
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
            if (h !== undefined && h !== stored(c)) {
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
        for (const c of fresh) byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
        if (fresh.length) {
          try {
            // konbini_apply_changes (migration 0003): the whole batch in one call, in sequence order
            // personal fields sealed here: the function stores envelopes and never sees a value (migration 0004)
            await tx.query('SELECT konbini_apply_changes($1::jsonb)', [JSON.stringify(await sealChanges(tx, cipher, fresh))]);
          } catch (err) {
            throw refusalFromFunction(err, fresh) ?? err;
          }
        }
        if (fresh.length) {
          await tx.query(
            `INSERT INTO sync_changes (seq, kind, sha256, batch_id)
             SELECT seq, kind, sha256, $2 FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, kind text, sha256 text)`,
            [JSON.stringify(fresh.map((c) => ({ seq: c.seq, kind: c.kind, sha256: stored(c) }))), batch.batchId],
          );
        }
        // card links reach the centre's card directory through the outbox: same transaction, nothing lost
        await enqueueCardChanges(tx, fresh as { seq: number; kind: string; serial?: string }[]);
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

/** KB001/KB002 raised by konbini_refuse: the reason, line and field of the change refused. */
function refusalFromFunction(err: unknown, changes: Change[]): SyncRefusal | null {
  const e = err as { code?: string; message?: string; detail?: string; hint?: string };
  if (e.code !== 'KB001' && e.code !== 'KB002') return null;
  const line = Number(e.detail ?? 0);
  const seq = changes.find((c) => c.line === line)?.seq;
  return new SyncRefusal(e.code === 'KB001' ? 'SYNC_UNKNOWN_RECORD' : 'SYNC_RECORD_CONFLICT', [{ line, field: e.hint ?? '', reason: e.message ?? '' }], { seq });
}

/**
 * The changes with their personal fields sealed for the rows they will be stored in
 * (replica/sealed-fields.ts). The content hash was taken before, on the changes as sent.
 *
 * A resident's names and attributes are one envelope each, so a 氏名変更 that carries
 * only some names, and a 世帯変更 (its 続柄 is an attribute), re-seal the whole group:
 * the group as it stands at that change, i.e. as an earlier change of this batch
 * left it, or else as stored (read by resident id, in this transaction under the
 * sync lock). A change naming a resident that does not exist seals nothing; the
 * function then refuses it as before.
 */
async function sealChanges(tx: Queryable, cipher: FieldCipher, changes: Change[]): Promise<Record<string, unknown>[]> {
  const ordered = [...changes].sort((a, b) => a.seq - b.seq);
  const needs = (c: Change) =>
    c.kind === 'household-change' || (c.kind === 'name-change' && NAME_FIELDS.some((f) => typeof (c as unknown as Record<string, unknown>)[f] !== 'string'));
  const ids = [...new Set(ordered.filter(needs).map((c) => String((c as { residentId: string }).residentId)))];
  const stored = new Map<string, { names: Buffer | null; attributes: Buffer | null }>();
  if (ids.length) {
    for (const r of await tx.query<{ id: string; names: unknown; attributes: unknown }>('SELECT id, names, attributes FROM residents WHERE id = ANY($1::text[])', [ids])) {
      stored.set(r.id, { names: asBytes(r.names), attributes: asBytes(r.attributes) });
    }
  }
  // the groups in clear as this batch has left them so far (opened from `stored` when first needed)
  const current = new Map<string, { names?: Record<string, unknown>; attributes?: Record<string, unknown> }>();
  const groupOf = (id: string, group: 'names' | 'attributes'): Record<string, unknown> | null => {
    const cur = current.get(id) ?? {};
    current.set(id, cur);
    if (!cur[group]) {
      const s = stored.get(id);
      if (!s) return null;
      cur[group] = group === 'names' ? openGroup(cipher, 'names', id, s.names) : openGroup(cipher, 'attributes', id, s.attributes);
    }
    return cur[group]!;
  };
  return ordered.map(({ sha256: _h, ...change }) => {
    const c: Record<string, unknown> = { ...change };
    const household = c.household as { id: string; address: string } | undefined | null;
    if (household && typeof household === 'object') c.household = sealHouseholdRow(cipher, household);
    const rid = String(c.residentId);
    switch (c.kind) {
      case 'move-in':
      case 'birth': {
        const { myNumber: _never, ...resident } = c.resident as Record<string, unknown>;
        current.set(String(resident.id), { names: resident, attributes: resident });
        c.resident = sealResidentRow(cipher, resident);
        break;
      }
      case 'address-change':
        c.address = sealHouseholdAddress(cipher, String(c.householdId), String(c.address));
        break;
      case 'name-change': {
        const given = Object.fromEntries(NAME_FIELDS.filter((f) => typeof c[f] === 'string').map((f) => [f, c[f]]));
        for (const f of NAME_FIELDS) delete c[f];
        const count = Object.keys(given).length;
        if (!count) break; // no name to change
        const names = count === NAME_FIELDS.length ? {} : groupOf(rid, 'names');
        if (!names) break; // no such resident: the function refuses the change
        const merged = { ...names, ...given };
        current.set(rid, { ...current.get(rid), names: merged });
        c.names = sealGroup(cipher, 'names', rid, merged).toString('base64');
        break;
      }
      case 'household-change': {
        const relationship = c.relationship;
        delete c.relationship; // never to SQL in clear, even for a change the function refuses
        const attributes = groupOf(rid, 'attributes');
        if (!attributes) break; // no such resident: the function refuses the change
        const merged = { ...attributes, relationship };
        current.set(rid, { ...current.get(rid), attributes: merged });
        c.attributes = sealGroup(cipher, 'attributes', rid, merged).toString('base64');
        break;
      }
      case 'seal-register':
        c.imagePng = sealSealImage(cipher, String(c.residentId), c.imagePng);
        break;
    }
    return c;
  });
}
