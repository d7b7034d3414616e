import type { Queryable } from '../replica/db.js';

/**
 * Migration 0005: card link changes for the centre's card directory (issue 5 item 4).
 * A delta batch with card-issue / card-revoke writes one row per change in its own
 * transaction; the delivery loop (outbox/centre-notifier.ts) sends them to the
 * centre's city API in id order and deletes a row once the centre has it.
 */
export const CENTRE_OUTBOX_SQL = `
  CREATE TABLE centre_outbox (
    id              bigserial PRIMARY KEY,
    -- the 異動 sequence number the change came with
    seq             bigint NOT NULL,
    op              text NOT NULL CHECK (op IN ('add', 'remove')),
    serial          text NOT NULL CHECK (serial ~ '^[0-9a-f]{1,64}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- a stable code (KonbiniError code, http-<status> or a network error code), never a value
    last_error      text,
    -- one worker at a time delivers the head row (several workers may share a PostgreSQL replica)
    leased_until    timestamptz,
    leased_by       text
  );
`;

export type OutboxOp = 'add' | 'remove';

/** Queues the centre notifications of a batch's card changes; called inside the batch's transaction. */
export async function enqueueCardChanges(tx: Queryable, changes: { seq: number; kind: string; serial?: string }[]): Promise<number> {
  const rows = changes
    .filter((c) => (c.kind === 'card-issue' || c.kind === 'card-revoke') && typeof c.serial === 'string')
    .map((c) => ({ seq: c.seq, op: c.kind === 'card-issue' ? 'add' : 'remove', serial: c.serial!.toLowerCase() }));
  if (!rows.length) return 0;
  await tx.query(
    `INSERT INTO centre_outbox (seq, op, serial)
     SELECT seq, op, serial FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, op text, serial text) ORDER BY seq`,
    [JSON.stringify(rows)],
  );
  return rows.length;
}

/**
 * After a full load, inside its transaction: the centre's card directory is brought
 * to the loaded replica. `full_load_old_links` holds the links active before the load
 * (made by the load before it emptied the replica). In delivery order:
 * 1. a remove for each link the load dropped;
 * 2. an add for each link the load brought that was not active before;
 * 3. an add for every other link the load holds: the centre has them already if
 *    nothing drifted (adding again changes nothing there), and a full load is when a
 *    directory that drifted is put right. Last, so new cards do not wait behind them.
 * Removals first, so a card is never missing at the centre while it is linked here.
 */
export async function enqueueFullLoadLinks(tx: Queryable, seq: number): Promise<{ add: number; remove: number }> {
  const count = async (sql: string) => Number((await tx.query<{ n: string }>(`WITH q AS (${sql} RETURNING 1) SELECT count(*)::text AS n FROM q`, [seq]))[0]?.n ?? 0);
  const remove = await count(`INSERT INTO centre_outbox (seq, op, serial)
    SELECT $1, 'remove', o.serial FROM full_load_old_links o
    WHERE NOT EXISTS (SELECT 1 FROM card_links c WHERE c.serial = o.serial AND c.revoked_on IS NULL) ORDER BY o.serial`);
  const fresh = await count(`INSERT INTO centre_outbox (seq, op, serial)
    SELECT $1, 'add', c.serial FROM card_links c
    WHERE c.revoked_on IS NULL AND NOT EXISTS (SELECT 1 FROM full_load_old_links o WHERE o.serial = c.serial) ORDER BY c.serial`);
  const kept = await count(`INSERT INTO centre_outbox (seq, op, serial)
    SELECT $1, 'add', c.serial FROM card_links c JOIN full_load_old_links o ON o.serial = c.serial
    WHERE c.revoked_on IS NULL ORDER BY c.serial`);
  return { add: fresh + kept, remove };
}

export interface OutboxStatus {
  /** Notifications not yet acknowledged by the centre. */
  pending: number;
  oldestAt: string | null;
  /** The head row: delivery is in order, so it is what everything waits for. */
  head: { id: number; seq: number; op: OutboxOp; attempts: number; lastError: string | null; nextAttemptAt: string } | null;
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}

export async function outboxStatus(db: Queryable): Promise<OutboxStatus> {
  const [agg] = await db.query<{ pending: string; oldest: unknown }>('SELECT count(*)::text AS pending, min(created_at) AS oldest FROM centre_outbox');
  const [h] = await db.query<{ id: string; seq: string; op: OutboxOp; attempts: number; last_error: string | null; next_attempt_at: unknown }>(
    'SELECT id::text AS id, seq::text AS seq, op, attempts, last_error, next_attempt_at FROM centre_outbox ORDER BY centre_outbox.id LIMIT 1',
  );
  return {
    pending: Number(agg?.pending ?? 0),
    oldestAt: iso(agg?.oldest),
    head: h ? { id: Number(h.id), seq: Number(h.seq), op: h.op, attempts: Number(h.attempts), lastError: h.last_error, nextAttemptAt: iso(h.next_attempt_at)! } : null,
  };
}
