import { KonbiniError, type CertType } from '@konbini/protocol';

/**
 * The evidence record of one issuance: who asked through which kiosk, for what,
 * what was delivered (by hash) and what happened to it. No personal data: the
 * card appears only as an HMAC keyed by the issuance id.
 */
export interface LedgerRecord {
  issuanceId: string;
  cityCode: string;
  kioskId: string;
  storeId: string;
  certType: CertType;
  copies: number;
  /** Fee for all copies, yen. */
  fee: number;
  documentSha256: string | null;
  cardSerialHmac: string;
  outcome: 'requested' | 'delivered' | 'printed' | 'failed';
  copiesPrinted: number;
  /** What was charged: only printed copies (DESIGN §5 invariant 6). */
  charged: number;
  requestedAt: string;
  /** When the whole document reached the kiosk. */
  deliveredAt: string | null;
  outcomeAt: string | null;
}

/** An outcome the city has not yet confirmed. */
export interface CityNotice {
  issuanceId: string;
  cityCode: string;
  outcome: 'printed' | 'failed';
  copiesPrinted: number;
  attempts: number;
}

export type LedgerStart = Omit<LedgerRecord, 'documentSha256' | 'fee' | 'outcome' | 'copiesPrinted' | 'charged' | 'deliveredAt' | 'outcomeAt'>;

export interface Ledger {
  begin(r: LedgerStart): Promise<void>;
  /** The document reached the kiosk whole; the fee is what the city quoted for all copies. */
  delivered(issuanceId: string, documentSha256: string, fee: number, at?: Date): Promise<void>;
  /** Idempotent by issuance id: a repeated outcome returns the first one unchanged. */
  outcome(issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<LedgerRecord>;
  get(issuanceId: string): Promise<LedgerRecord | undefined>;
  /**
   * A durable ledger keeps each outcome's notice to the city until the city has it
   * (`claimCityNotices` hands out the ones due, `cityNoticeDone` forgets one); and
   * closes issuances left open by a centre instance that died (`closeAbandoned`).
   * The in-memory ledger has none of these: its notices are sent once.
   */
  cityNoticeDone?(issuanceId: string): Promise<void>;
  claimCityNotices?(limit?: number, leaseMs?: number): Promise<CityNotice[]>;
  cityNoticeFailed?(issuanceId: string, attempts: number, error: string): Promise<void>;
  closeAbandoned?(olderThanMs: number, now?: Date): Promise<LedgerRecord[]>;
  /** Release connections (no-op in memory). */
  close?(): Promise<void>;
}

/** Charged for the printed copies only (DESIGN §5 invariant 6). */
export function chargeFor(fee: number, copies: number, copiesPrinted: number): number {
  return copies > 0 ? Math.round((fee / copies) * copiesPrinted) : 0;
}

/**
 * In-memory ledger for the walking skeleton; the PostgreSQL, hash-chained one
 * implements the same interface.
 */
export class MemoryLedger implements Ledger {
  private readonly records = new Map<string, LedgerRecord>();

  async begin(r: LedgerStart): Promise<void> {
    if (this.records.has(r.issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'duplicate-issuance', issuanceId: r.issuanceId });
    this.records.set(r.issuanceId, { ...r, fee: 0, documentSha256: null, outcome: 'requested', copiesPrinted: 0, charged: 0, deliveredAt: null, outcomeAt: null });
  }

  async delivered(issuanceId: string, documentSha256: string, fee: number, at: Date = new Date()): Promise<void> {
    const rec = this.must(issuanceId);
    if (rec.outcome === 'requested') Object.assign(rec, { outcome: 'delivered', documentSha256, fee, deliveredAt: at.toISOString() });
  }

  async outcome(issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number, at: Date): Promise<LedgerRecord> {
    const rec = this.must(issuanceId);
    if (rec.outcome === 'printed' || rec.outcome === 'failed') return { ...rec };
    const printed = outcome === 'printed' ? Math.min(copiesPrinted, rec.copies) : 0;
    Object.assign(rec, {
      outcome,
      copiesPrinted: printed,
      charged: chargeFor(rec.fee, rec.copies, printed),
      outcomeAt: at.toISOString(),
    });
    return { ...rec };
  }

  async get(issuanceId: string): Promise<LedgerRecord | undefined> {
    const rec = this.records.get(issuanceId);
    return rec && { ...rec };
  }

  private must(issuanceId: string): LedgerRecord {
    const rec = this.records.get(issuanceId);
    if (!rec) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId });
    return rec;
  }
}
