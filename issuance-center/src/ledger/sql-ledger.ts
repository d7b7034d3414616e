import { KonbiniError, type CertType } from '@konbini/protocol';
import { GENESIS_HASH, recordFields, recordHash, verifyChain, type ChainedRecord, type VerifyReport } from './chain.js';
import { openDb, retryLostConnection, type DbConfig, type Queryable, type SqlDb } from './db.js';
import { settle, settlementRows, type CommissionRates, type Settlement } from './settlement.js';
import {
  chargeFor,
  checkLate,
  type CityNotice,
  type LateOutcome,
  type LateOutcomeResult,
  type Ledger,
  type LedgerRecord,
  type LedgerStart,
  type UnreportedPage,
} from './ledger.js';

/** Any constant: the key of the advisory lock that serialises schema setup across instances. */
const MIGRATION_LOCK = 7_444_001;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ledger_head (
  id smallint PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}') ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS ledger_record (
  seq bigint PRIMARY KEY,
  issuance_id uuid NOT NULL UNIQUE,
  city_code text NOT NULL,
  kiosk_id text NOT NULL,
  store_id text NOT NULL,
  cert_type text NOT NULL,
  copies integer NOT NULL,
  copies_printed integer NOT NULL,
  fee integer NOT NULL,
  charged integer NOT NULL,
  document_sha256 text,
  card_serial_hmac text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('printed', 'failed')),
  requested_at timestamptz NOT NULL,
  delivered_at timestamptz,
  outcome_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_record_city_month ON ledger_record (city_code, outcome_at);
CREATE TABLE IF NOT EXISTS ledger_pending (
  issuance_id uuid PRIMARY KEY,
  city_code text NOT NULL,
  kiosk_id text NOT NULL,
  store_id text NOT NULL,
  cert_type text NOT NULL,
  copies integer NOT NULL,
  card_serial_hmac text NOT NULL,
  status text NOT NULL CHECK (status IN ('requested', 'delivered')),
  fee integer NOT NULL DEFAULT 0,
  document_sha256 text,
  requested_at timestamptz NOT NULL,
  delivered_at timestamptz
);
ALTER TABLE ledger_pending ADD COLUMN IF NOT EXISTS kiosk_left_at timestamptz;
CREATE TABLE IF NOT EXISTS ledger_unreported (
  issuance_id uuid PRIMARY KEY,
  kiosk_id text NOT NULL,
  closed_at timestamptz NOT NULL,
  late_report_at timestamptz,
  late_copies_printed integer
);
CREATE TABLE IF NOT EXISTS ledger_city_notice (
  issuance_id uuid PRIMARY KEY,
  city_code text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('printed', 'failed')),
  copies_printed integer NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);
`;

type Row = Record<string, unknown>;
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string | Date).toISOString());

function fromRecordRow(r: Row): ChainedRecord {
  return {
    seq: Number(r.seq),
    issuanceId: String(r.issuance_id),
    cityCode: String(r.city_code),
    kioskId: String(r.kiosk_id),
    storeId: String(r.store_id),
    certType: String(r.cert_type) as CertType,
    copies: Number(r.copies),
    copiesPrinted: Number(r.copies_printed),
    fee: Number(r.fee),
    charged: Number(r.charged),
    documentSha256: (r.document_sha256 as string | null) ?? null,
    cardSerialHmac: String(r.card_serial_hmac),
    outcome: String(r.outcome) as 'printed' | 'failed',
    requestedAt: iso(r.requested_at)!,
    deliveredAt: iso(r.delivered_at),
    outcomeAt: iso(r.outcome_at)!,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

function fromPendingRow(r: Row): LedgerRecord {
  return {
    issuanceId: String(r.issuance_id),
    cityCode: String(r.city_code),
    kioskId: String(r.kiosk_id),
    storeId: String(r.store_id),
    certType: String(r.cert_type) as CertType,
    copies: Number(r.copies),
    copiesPrinted: 0,
    fee: Number(r.fee),
    charged: 0,
    documentSha256: (r.document_sha256 as string | null) ?? null,
    cardSerialHmac: String(r.card_serial_hmac),
    outcome: String(r.status) as 'requested' | 'delivered',
    requestedAt: iso(r.requested_at)!,
    deliveredAt: iso(r.delivered_at),
    outcomeAt: null,
  };
}

/**
 * The evidence ledger in PostgreSQL (PGlite or a server). An issuance in flight
 * lives in ledger_pending; its outcome turns it into one final, hash-chained row
 * of ledger_record. Appends from any number of centre instances form one chain:
 * each takes the row lock on the single ledger_head row (SELECT … FOR UPDATE) for
 * the length of its transaction, so the next seq and prev_hash are read and
 * written by one instance at a time. Idempotent by issuance id: a second outcome
 * for the same issuance returns the first record unchanged.
 */
export class SqlLedger implements Ledger {
  private constructor(readonly db: SqlDb) {}

  static async open(cfg: DbConfig | SqlDb): Promise<SqlLedger> {
    const db = 'query' in cfg ? cfg : await openDb(cfg);
    await db.transaction(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      for (const stmt of SCHEMA.split(';').map((s) => s.trim()).filter(Boolean)) await q.query(stmt);
    });
    return new SqlLedger(db);
  }

  async begin(r: LedgerStart): Promise<void> {
    // One statement, no transaction: pending unless a final record already has this id.
    // Retried after a lost connection: a retry that finds its own row (same kiosk,
    // same card HMAC, a fresh issuance id) is the first attempt having committed.
    let attempt = 0;
    await retryLostConnection(async () => {
      attempt++;
      const ins = await this.db.query(
        `INSERT INTO ledger_pending (issuance_id, city_code, kiosk_id, store_id, cert_type, copies, card_serial_hmac, status, requested_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, 'requested', $8 WHERE NOT EXISTS (SELECT 1 FROM ledger_record WHERE issuance_id = $1)
         ON CONFLICT (issuance_id) DO NOTHING RETURNING 1`,
        [r.issuanceId, r.cityCode, r.kioskId, r.storeId, r.certType, r.copies, r.cardSerialHmac, r.requestedAt],
      );
      if (ins.rows.length === 0) {
        if (attempt > 1) {
          const mine = await this.db.query(`SELECT 1 FROM ledger_pending WHERE issuance_id = $1 AND kiosk_id = $2 AND card_serial_hmac = $3 AND status = 'requested'`, [r.issuanceId, r.kioskId, r.cardSerialHmac]);
          if (mine.rows.length) return;
        }
        throw new KonbiniError('INTERNAL', { reason: 'duplicate-issuance', issuanceId: r.issuanceId });
      }
    });
  }

  async delivered(issuanceId: string, documentSha256: string, fee: number, at: Date = new Date()): Promise<void> {
    const res = await retryLostConnection(() => this.db.query(
      `UPDATE ledger_pending SET status = 'delivered', document_sha256 = $2, fee = $3, delivered_at = $4
       WHERE issuance_id = $1 AND status = 'requested' RETURNING 1`,
      [issuanceId, documentSha256, fee, at.toISOString()],
    ));
    if (res.rows.length === 0 && !(await this.get(issuanceId))) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId });
  }

  async outcome(issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<ChainedRecord> {
    // Idempotent by issuance id, so safe to run again after a lost connection (even
    // one lost during COMMIT: the second run finds the record and returns it).
    return retryLostConnection(() => this.outcomeOnce(issuanceId, outcome, copiesPrinted, at));
  }

  private outcomeOnce(issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<ChainedRecord> {
    return this.db.transaction(async (q) => {
      // The chain lock first: every check below happens with the chain held.
      const head = await lockHead(q);
      const existing = await q.query('SELECT * FROM ledger_record WHERE issuance_id = $1', [issuanceId]);
      if (existing.rows[0]) return fromRecordRow(existing.rows[0]);
      return append(q, head, issuanceId, outcome, copiesPrinted, at);
    });
  }

  /**
   * A kiosk's late report (after its line dropped or it restarted). Decided with
   * the chain lock held, so any number of centre instances, and the grace sweep on
   * any of them, see one order: recorded once, then every repeat answered alike.
   */
  async lateOutcome(r: LateOutcome): Promise<LateOutcomeResult> {
    return retryLostConnection(() =>
      this.db.transaction(async (q) => {
        const head = await lockHead(q);
        const existing = (await q.query('SELECT * FROM ledger_record WHERE issuance_id = $1', [r.issuanceId])).rows[0];
        if (existing) {
          const rec = fromRecordRow(existing);
          const closed = (await q.query('SELECT 1 FROM ledger_unreported WHERE issuance_id = $1', [r.issuanceId])).rows.length > 0;
          const answer = checkLate(rec, r, closed)!;
          if (answer.status === 'expired') {
            // Kept beside the record (which stays as it was: the chain is append-only) for the operator.
            await q.query('UPDATE ledger_unreported SET late_report_at = COALESCE(late_report_at, $2), late_copies_printed = $3 WHERE issuance_id = $1', [r.issuanceId, r.at.toISOString(), r.copiesPrinted]);
          }
          return answer;
        }
        const pending = (await q.query('SELECT * FROM ledger_pending WHERE issuance_id = $1', [r.issuanceId])).rows[0];
        if (!pending) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId: r.issuanceId });
        checkLate(fromPendingRow(pending), r, false);
        return { status: 'recorded', record: await append(q, head, r.issuanceId, r.outcome, r.copiesPrinted, r.at) };
      }),
    );
  }

  /** The kiosk left holding the delivered document, unreported: open for its late report during the grace period. */
  async kioskLeft(issuanceId: string, at: Date): Promise<void> {
    await retryLostConnection(() =>
      this.db.query(`UPDATE ledger_pending SET kiosk_left_at = $2 WHERE issuance_id = $1 AND status = 'delivered' AND kiosk_left_at IS NULL`, [issuanceId, at.toISOString()]),
    );
  }

  /**
   * Delivered issuances whose kiosk left over `graceMs` ago and never reported:
   * recorded failed, not charged (DESIGN §5 invariant 6), and kept in
   * ledger_unreported: a sheet may be out, so a later "printed" is an alarm.
   */
  async closeUnreported(graceMs: number, now: Date = new Date()): Promise<ChainedRecord[]> {
    return this.closeOpenOlderThan('kiosk_left_at', 'kiosk_left_at IS NOT NULL', graceMs, now);
  }

  /** Closes (failed) up to 50 open issuances whose `since` is older than `ms`, oldest first. */
  private async closeOpenOlderThan(since: 'kiosk_left_at' | 'requested_at', which: string, ms: number, now: Date): Promise<ChainedRecord[]> {
    const { rows } = await this.db.query(`SELECT issuance_id FROM ledger_pending WHERE ${which} AND ${since} < $1 ORDER BY ${since} LIMIT 50`, [new Date(now.getTime() - ms).toISOString()]);
    const out: ChainedRecord[] = [];
    for (const r of rows) {
      const rec = await this.closeOpen(String(r.issuance_id), now);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Record an open issuance failed without a report; null when someone recorded it first. */
  private closeOpen(issuanceId: string, now: Date): Promise<ChainedRecord | null> {
    return retryLostConnection(() =>
      this.db.transaction(async (q) => {
        const head = await lockHead(q);
        const existing = await q.query('SELECT 1 FROM ledger_record WHERE issuance_id = $1', [issuanceId]);
        if (existing.rows.length) return null;
        const rec = await append(q, head, issuanceId, 'failed', 0, now);
        if (rec.deliveredAt) {
          await q.query('INSERT INTO ledger_unreported (issuance_id, kiosk_id, closed_at) VALUES ($1, $2, $3) ON CONFLICT (issuance_id) DO NOTHING', [issuanceId, rec.kioskId, now.toISOString()]);
        }
        return rec;
      }),
    );
  }

  /** Issuances closed failed without a report though a document was delivered (the operator's list). */
  async unreported(): Promise<{ issuanceId: string; kioskId: string; closedAt: string; lateReportAt: string | null; lateCopiesPrinted: number | null }[]> {
    const rows = (await this.db.query('SELECT * FROM ledger_unreported ORDER BY closed_at')).rows;
    return rows.map((r) => ({
      issuanceId: String(r.issuance_id),
      kioskId: String(r.kiosk_id),
      closedAt: iso(r.closed_at)!,
      lateReportAt: iso(r.late_report_at),
      lateCopiesPrinted: r.late_copies_printed === null ? null : Number(r.late_copies_printed),
    }));
  }

  /**
   * The operator's list: newest closed first, a page at a time, with the city from
   * the ledger record (the closing wrote one in the same transaction). Read in one
   * snapshot, so the counts and the page agree.
   */
  async listUnreported(page: { limit: number; offset: number }): Promise<UnreportedPage> {
    return this.db.transaction(async (q) => {
      if (this.db.kind === 'postgres') await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const counts = (await q.query('SELECT count(*) AS total, count(late_report_at) AS late FROM ledger_unreported')).rows[0];
      const rows = (
        await q.query(
          `SELECT u.issuance_id, u.kiosk_id, r.city_code, u.closed_at, u.late_report_at, u.late_copies_printed
           FROM ledger_unreported u LEFT JOIN ledger_record r ON r.issuance_id = u.issuance_id
           ORDER BY u.closed_at DESC, u.issuance_id DESC LIMIT $1 OFFSET $2`,
          [page.limit, page.offset],
        )
      ).rows;
      return {
        total: Number(counts?.total ?? 0),
        needingAction: Number(counts?.late ?? 0),
        limit: page.limit,
        offset: page.offset,
        items: rows.map((r) => ({
          issuanceId: String(r.issuance_id),
          kioskId: String(r.kiosk_id),
          cityCode: r.city_code === null || r.city_code === undefined ? null : String(r.city_code),
          closedAt: iso(r.closed_at)!,
          lateReportAt: iso(r.late_report_at),
          lateCopiesPrinted: r.late_copies_printed === null ? null : Number(r.late_copies_printed),
        })),
      };
    });
  }

  async get(issuanceId: string): Promise<LedgerRecord | undefined> {
    return retryLostConnection(async () => {
      const done = await this.db.query('SELECT * FROM ledger_record WHERE issuance_id = $1', [issuanceId]);
      if (done.rows[0]) return fromRecordRow(done.rows[0]);
      const pending = await this.db.query('SELECT * FROM ledger_pending WHERE issuance_id = $1', [issuanceId]);
      return pending.rows[0] ? fromPendingRow(pending.rows[0]) : undefined;
    });
  }

  /** The city confirmed (or cannot ever take) this outcome: forget the notice. */
  async cityNoticeDone(issuanceId: string): Promise<void> {
    await retryLostConnection(() => this.db.query('DELETE FROM ledger_city_notice WHERE issuance_id = $1', [issuanceId]));
  }

  /**
   * Notices due for another attempt, leased to this caller for `leaseMs` (another
   * instance does not take them meanwhile; a crash only delays them by the lease).
   */
  async claimCityNotices(limit = 20, leaseMs = 30_000): Promise<CityNotice[]> {
    const rows = (
      await this.db.query(
        `UPDATE ledger_city_notice SET next_at = now() + ($2::int * interval '1 millisecond'), attempts = attempts + 1
         WHERE issuance_id IN (SELECT issuance_id FROM ledger_city_notice WHERE next_at <= now() ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING issuance_id, city_code, outcome, copies_printed, attempts`,
        [limit, leaseMs],
      )
    ).rows;
    return rows.map((r) => ({
      issuanceId: String(r.issuance_id),
      cityCode: String(r.city_code),
      outcome: String(r.outcome) as 'printed' | 'failed',
      copiesPrinted: Number(r.copies_printed),
      attempts: Number(r.attempts),
    }));
  }

  /** Try again later: back off with the attempts, at most a minute. */
  async cityNoticeFailed(issuanceId: string, attempts: number, error: string): Promise<void> {
    const delay = Math.min(1000 * 2 ** Math.min(attempts, 6), 60_000);
    await this.db.query(`UPDATE ledger_city_notice SET next_at = now() + ($2::int * interval '1 millisecond'), last_error = $3 WHERE issuance_id = $1`, [issuanceId, delay, error.slice(0, 64)]);
  }

  /**
   * Issuances still open long after any kiosk session could have ended (the
   * centre instance that held it died): recorded failed, never charged, and the
   * city told (DESIGN §5 invariant 6: charged only when a printed outcome came).
   */
  async closeAbandoned(olderThanMs: number, now: Date = new Date()): Promise<ChainedRecord[]> {
    return this.closeOpenOlderThan('requested_at', 'kiosk_left_at IS NULL', olderThanMs, now);
  }

  /** Final records in chain order, optionally for outcomes in [from, to). */
  async records(range?: { from: Date; to: Date }): Promise<ChainedRecord[]> {
    const res = range
      ? await this.db.query('SELECT * FROM ledger_record WHERE outcome_at >= $1 AND outcome_at < $2 ORDER BY seq', [range.from.toISOString(), range.to.toISOString()])
      : await this.db.query('SELECT * FROM ledger_record ORDER BY seq');
    return res.rows.map(fromRecordRow);
  }

  async head(): Promise<{ seq: number; hash: string }> {
    const r = (await this.db.query('SELECT seq, hash FROM ledger_head WHERE id = 1')).rows[0];
    return { seq: Number(r?.seq ?? 0), hash: String(r?.hash ?? GENESIS_HASH) };
  }

  /** Check every record's hash and link, and the head. Read in one snapshot. */
  async verify(): Promise<VerifyReport> {
    return this.db.transaction(async (q) => {
      if (this.db.kind === 'postgres') await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const head = (await q.query('SELECT seq, hash FROM ledger_head WHERE id = 1')).rows[0];
      const rows = (await q.query('SELECT * FROM ledger_record ORDER BY seq')).rows.map(fromRecordRow);
      return verifyChain(rows, { seq: Number(head?.seq ?? 0), hash: String(head?.hash ?? GENESIS_HASH) });
    });
  }

  /** Issuances requested but with no outcome yet (in flight, or abandoned by a kiosk that went away). */
  async pendingCount(): Promise<number> {
    return Number((await this.db.query('SELECT count(*) AS n FROM ledger_pending')).rows[0]?.n ?? 0);
  }

  /** The month's settlement per city (Asia/Tokyo month of the outcome). */
  async settlement(month: string, rates: CommissionRates): Promise<Settlement> {
    return settle(month, await settlementRows(this.db, month), rates);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

async function lockHead(q: Queryable): Promise<{ seq: number; hash: string }> {
  const head = (await q.query('SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE')).rows[0];
  if (!head) throw new KonbiniError('INTERNAL', { reason: 'ledger-head-missing' });
  return { seq: Number(head.seq), hash: String(head.hash) };
}

/**
 * Turn a pending issuance into its final, chained record (the caller holds the
 * chain lock and has checked no record exists), and queue its notice to the city.
 */
async function append(q: Queryable, head: { seq: number; hash: string }, issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<ChainedRecord> {
  // Taken out of pending and read in one statement (rolled back with the rest if anything fails).
  const pending = await q.query('DELETE FROM ledger_pending WHERE issuance_id = $1 RETURNING *', [issuanceId]);
  if (!pending.rows[0]) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId });
  const p = fromPendingRow(pending.rows[0]);
  // Only a delivered document can have been printed.
  const printed = outcome === 'printed' && p.outcome === 'delivered' ? Math.min(copiesPrinted, p.copies) : 0;
  const final = outcome === 'printed' && p.outcome === 'delivered' ? 'printed' : 'failed';
  const unhashed: Omit<ChainedRecord, 'hash'> = {
    ...p,
    outcome: final,
    copiesPrinted: printed,
    charged: chargeFor(p.fee, p.copies, printed),
    outcomeAt: at.toISOString(),
    seq: head.seq + 1,
    prevHash: head.hash,
  };
  const rec: ChainedRecord = { ...unhashed, hash: recordHash(unhashed) };
  await insertRecord(q, rec);
  await q.query('UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1', [rec.seq, rec.hash]);
  // The city's 交付記録 must learn this outcome: kept until the city confirms it.
  await q.query(
    `INSERT INTO ledger_city_notice (issuance_id, city_code, outcome, copies_printed, next_at) VALUES ($1, $2, $3, $4, now() + interval '5 seconds')
     ON CONFLICT (issuance_id) DO NOTHING`,
    [rec.issuanceId, rec.cityCode, rec.outcome, rec.copiesPrinted],
  );
  return rec;
}

async function insertRecord(q: Queryable, r: ChainedRecord): Promise<void> {
  await q.query(
    `INSERT INTO ledger_record (seq, issuance_id, city_code, kiosk_id, store_id, cert_type, copies, copies_printed, fee, charged,
       document_sha256, card_serial_hmac, outcome, requested_at, delivered_at, outcome_at, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [r.seq, ...recordFields(r), r.prevHash, r.hash],
  );
}
