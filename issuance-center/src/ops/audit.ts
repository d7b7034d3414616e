import type { SqlDb } from '../ledger/db.js';

/**
 * An audit event for an operator's or a city's action: who, what, on what, when,
 * and how it ended. Ids and codes only; never personal data (a card serial is
 * kept as a short hash).
 */
export interface AuditEvent {
  at: string;
  /** `operator:<name>`, `city:<code>`, or `anonymous` for a refused login name that does not exist. */
  actor: string;
  action: string;
  target?: string;
  outcome: 'ok' | 'refused';
  code?: string;
}

export interface AuditLog {
  record(e: AuditEvent): Promise<void>;
  /** Several events in one write, in their order (a city's batch of card link changes). */
  recordMany(events: AuditEvent[]): Promise<void>;
  /** Newest first. */
  list(q?: { limit?: number; actor?: string; action?: string }): Promise<AuditEvent[]>;
}

export class MemoryAudit implements AuditLog {
  private readonly events: AuditEvent[] = [];
  async record(e: AuditEvent): Promise<void> {
    this.events.push({ ...e });
  }
  async recordMany(events: AuditEvent[]): Promise<void> {
    for (const e of events) this.events.push({ ...e });
  }
  async list(q: { limit?: number; actor?: string; action?: string } = {}): Promise<AuditEvent[]> {
    return this.events
      .filter((e) => (!q.actor || e.actor === q.actor) && (!q.action || e.action === q.action))
      .slice(-(q.limit ?? 200))
      .reverse();
  }
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS ops_audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  outcome text NOT NULL CHECK (outcome IN ('ok', 'refused')),
  code text
)`;

/** The audit log in the centre's database: every instance writes to one log. */
export class SqlAudit implements AuditLog {
  private constructor(private readonly db: SqlDb) {}

  static async open(db: SqlDb): Promise<SqlAudit> {
    await db.transaction(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [7_444_003]);
      await q.query(SCHEMA);
    });
    return new SqlAudit(db);
  }

  async record(e: AuditEvent): Promise<void> {
    await this.db.query('INSERT INTO ops_audit (at, actor, action, target, outcome, code) VALUES ($1, $2, $3, $4, $5, $6)', [
      e.at,
      e.actor.slice(0, 80),
      e.action,
      e.target?.slice(0, 120) ?? null,
      e.outcome,
      e.code ?? null,
    ]);
  }

  async recordMany(events: AuditEvent[]): Promise<void> {
    if (!events.length) return;
    const col = <K extends keyof AuditEvent>(k: K, max?: number) => events.map((e) => (e[k] === undefined ? null : max ? String(e[k]).slice(0, max) : e[k]));
    // ORDER BY ordinality: the ids follow the batch's order, as the list shows them.
    await this.db.query(
      `INSERT INTO ops_audit (at, actor, action, target, outcome, code)
       SELECT at, actor, action, target, outcome, code
       FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS x(at, actor, action, target, outcome, code, n)
       ORDER BY n`,
      [col('at'), col('actor', 80), col('action'), col('target', 120), col('outcome'), col('code')],
    );
  }

  async list(q: { limit?: number; actor?: string; action?: string } = {}): Promise<AuditEvent[]> {
    const { rows } = await this.db.query(
      `SELECT at, actor, action, target, outcome, code FROM ops_audit
       WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) ORDER BY id DESC LIMIT $3`,
      [q.actor ?? null, q.action ?? null, Math.min(Math.max(q.limit ?? 200, 1), 1000)],
    );
    return rows.map((r) => ({
      at: new Date(r.at as string).toISOString(),
      actor: String(r.actor),
      action: String(r.action),
      ...(r.target !== null ? { target: String(r.target) } : {}),
      outcome: r.outcome === 'refused' ? 'refused' : 'ok',
      ...(r.code !== null ? { code: String(r.code) } : {}),
    }));
  }
}
