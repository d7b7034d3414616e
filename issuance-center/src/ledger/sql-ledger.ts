import { KonbiniError, type CertType } from '@konbini/protocol';
import { GENESIS_HASH, recordFields, recordHash, verifyChain, type ChainedRecord, type VerifyReport } from './chain.js';
import { openDb, type DbConfig, type Queryable, type SqlDb } from './db.js';
import { settle, settlementRows, type CommissionRates, type Settlement } from './settlement.js';
import { chargeFor, type Ledger, type LedgerRecord, type LedgerStart } from './ledger.js';

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
    await this.db.transaction(async (q) => {
      const done = await q.query('SELECT 1 FROM ledger_record WHERE issuance_id = $1', [r.issuanceId]);
      const ins = done.rows.length
        ? { rows: [] }
        : await q.query(
            `INSERT INTO ledger_pending (issuance_id, city_code, kiosk_id, store_id, cert_type, copies, card_serial_hmac, status, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8) ON CONFLICT (issuance_id) DO NOTHING RETURNING 1`,
            [r.issuanceId, r.cityCode, r.kioskId, r.storeId, r.certType, r.copies, r.cardSerialHmac, r.requestedAt],
          );
      if (ins.rows.length === 0) throw new KonbiniError('INTERNAL', { reason: 'duplicate-issuance', issuanceId: r.issuanceId });
    });
  }

  async delivered(issuanceId: string, documentSha256: string, fee: number, at: Date = new Date()): Promise<void> {
    const res = await this.db.query(
      `UPDATE ledger_pending SET status = 'delivered', document_sha256 = $2, fee = $3, delivered_at = $4
       WHERE issuance_id = $1 AND status = 'requested' RETURNING 1`,
      [issuanceId, documentSha256, fee, at.toISOString()],
    );
    if (res.rows.length === 0 && !(await this.get(issuanceId))) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId });
  }

  async outcome(issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<ChainedRecord> {
    return this.db.transaction(async (q) => {
      // The chain lock first: every check below happens with the chain held.
      const head = (await q.query('SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE')).rows[0];
      if (!head) throw new KonbiniError('INTERNAL', { reason: 'ledger-head-missing' });
      const existing = await q.query('SELECT * FROM ledger_record WHERE issuance_id = $1', [issuanceId]);
      if (existing.rows[0]) return fromRecordRow(existing.rows[0]);
      const pending = await q.query('SELECT * FROM ledger_pending WHERE issuance_id = $1', [issuanceId]);
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
        seq: Number(head.seq) + 1,
        prevHash: String(head.hash),
      };
      const rec: ChainedRecord = { ...unhashed, hash: recordHash(unhashed) };
      await insertRecord(q, rec);
      await q.query('DELETE FROM ledger_pending WHERE issuance_id = $1', [issuanceId]);
      await q.query('UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1', [rec.seq, rec.hash]);
      return rec;
    });
  }

  async get(issuanceId: string): Promise<LedgerRecord | undefined> {
    const done = await this.db.query('SELECT * FROM ledger_record WHERE issuance_id = $1', [issuanceId]);
    if (done.rows[0]) return fromRecordRow(done.rows[0]);
    const pending = await this.db.query('SELECT * FROM ledger_pending WHERE issuance_id = $1', [issuanceId]);
    return pending.rows[0] ? fromPendingRow(pending.rows[0]) : undefined;
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

async function insertRecord(q: Queryable, r: ChainedRecord): Promise<void> {
  await q.query(
    `INSERT INTO ledger_record (seq, issuance_id, city_code, kiosk_id, store_id, cert_type, copies, copies_printed, fee, charged,
       document_sha256, card_serial_hmac, outcome, requested_at, delivered_at, outcome_at, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [r.seq, ...recordFields(r), r.prevHash, r.hash],
  );
}
