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

/** A kiosk's late report of an outcome (issue.late-outcome), with the kiosk id from its mTLS identity. */
export interface LateOutcome {
  issuanceId: string;
  kioskId: string;
  outcome: 'printed' | 'failed';
  copiesPrinted: number;
  at: Date;
}

/**
 * What became of a late report: `recorded` now (charged as a timely one would be),
 * `repeated` (already recorded the same way: the same answer, never a second
 * charge), or `expired` (closed as failed after the grace period, while the kiosk
 * says it printed: a sheet may be out uncharged, which the operator must see).
 */
export interface LateOutcomeResult {
  status: 'recorded' | 'repeated' | 'expired';
  record: LedgerRecord;
}

/**
 * An issuance closed failed (not charged) because its kiosk left holding the
 * delivered document and never reported within the grace period. Ids and times
 * only. A late "printed" report after the closing (`lateReportAt`, with the copies
 * the kiosk says it printed) is the one needing action: a sheet went out uncharged.
 */
export interface UnreportedIssuance {
  issuanceId: string;
  kioskId: string;
  /** The city of the issuance, from its ledger record (null if the ledger lacks it). */
  cityCode: string | null;
  closedAt: string;
  lateReportAt: string | null;
  lateCopiesPrinted: number | null;
}

/** One page of the operator's list, newest closed first, with the counts over all of it. */
export interface UnreportedPage {
  total: number;
  /** How many of all (not only this page) have a late "printed" report. */
  needingAction: number;
  limit: number;
  offset: number;
  items: UnreportedIssuance[];
}

export const UNREPORTED_PAGE_MAX = 500;

/** A page as operators see it (console API, CLI --json): each issuance with a late "printed" report needs action. */
export function withNeedsAction(page: UnreportedPage): UnreportedPage & { items: (UnreportedIssuance & { needsAction: boolean })[] } {
  return { ...page, items: page.items.map((u) => ({ ...u, needsAction: u.lateReportAt !== null })) };
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
  /**
   * The kiosk went away holding this delivered document without a report: it stays
   * open (delivered, unreported) for the kiosk's late report, until `closeUnreported`
   * records it failed once the grace period has passed.
   */
  kioskLeft?(issuanceId: string, at: Date): Promise<void>;
  /** Delivered issuances whose kiosk left more than `graceMs` ago without a report: recorded failed (not charged). */
  closeUnreported?(graceMs: number, now?: Date): Promise<LedgerRecord[]>;
  /**
   * A late report. Refused: ISSUANCE_UNKNOWN (no such issuance), LATE_OUTCOME_WRONG_KIOSK
   * (delivered to another kiosk), COPIES_OUT_OF_RANGE (printed 0 or more than ordered),
   * LATE_OUTCOME_CONFLICT (recorded otherwise already), MESSAGE_OUT_OF_ORDER (never delivered).
   */
  lateOutcome?(r: LateOutcome): Promise<LateOutcomeResult>;
  /** The issuances `closeUnreported` closed, newest first, a page at a time (the operator's list). */
  listUnreported?(page: { limit: number; offset: number }): Promise<UnreportedPage>;
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
  /** Delivered issuances whose kiosk left without a report: when it left. */
  private readonly left = new Map<string, Date>();
  /** Closed failed without a report although a document had been delivered. */
  private readonly unreported = new Map<string, { closedAt: string; lateReportAt: string | null; lateCopiesPrinted: number | null }>();

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

  async kioskLeft(issuanceId: string, at: Date): Promise<void> {
    const rec = this.records.get(issuanceId);
    if (rec?.outcome === 'delivered' && !this.left.has(issuanceId)) this.left.set(issuanceId, at);
  }

  async closeUnreported(graceMs: number, now: Date = new Date()): Promise<LedgerRecord[]> {
    const out: LedgerRecord[] = [];
    for (const [id, at] of [...this.left]) {
      if (now.getTime() - at.getTime() < graceMs) continue;
      this.left.delete(id);
      const rec = this.records.get(id);
      if (rec?.outcome !== 'delivered') continue;
      this.unreported.set(id, { closedAt: now.toISOString(), lateReportAt: null, lateCopiesPrinted: null });
      out.push(await this.outcome(id, 'failed', 0, now));
    }
    return out;
  }

  async lateOutcome(r: LateOutcome): Promise<LateOutcomeResult> {
    const rec = this.must(r.issuanceId);
    const closed = this.unreported.get(r.issuanceId);
    const final = checkLate(rec, r, closed !== undefined);
    if (final?.status === 'expired' && closed) Object.assign(closed, { lateReportAt: closed.lateReportAt ?? r.at.toISOString(), lateCopiesPrinted: r.copiesPrinted });
    if (final) return final;
    this.left.delete(r.issuanceId);
    return { status: 'recorded', record: await this.outcome(r.issuanceId, r.outcome, r.copiesPrinted, r.at) };
  }

  async listUnreported(page: { limit: number; offset: number }): Promise<UnreportedPage> {
    const all = [...this.unreported]
      .map(([issuanceId, u]) => ({ issuanceId, kioskId: this.records.get(issuanceId)!.kioskId, cityCode: this.records.get(issuanceId)!.cityCode, ...u }))
      .sort((a, b) => b.closedAt.localeCompare(a.closedAt) || b.issuanceId.localeCompare(a.issuanceId));
    return {
      total: all.length,
      needingAction: all.filter((u) => u.lateReportAt !== null).length,
      limit: page.limit,
      offset: page.offset,
      items: all.slice(page.offset, page.offset + page.limit),
    };
  }

  private must(issuanceId: string): LedgerRecord {
    const rec = this.records.get(issuanceId);
    if (!rec) throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId });
    return rec;
  }
}

/**
 * The checks on a late report against what the ledger holds, the same for every
 * ledger: a refusal (thrown), a final answer for an issuance already recorded, or
 * undefined when the report may be recorded now.
 */
export function checkLate(rec: LedgerRecord, r: LateOutcome, closedUnreported: boolean): LateOutcomeResult | undefined {
  if (rec.kioskId !== r.kioskId) throw new KonbiniError('LATE_OUTCOME_WRONG_KIOSK', { issuanceId: r.issuanceId });
  if (r.outcome === 'printed' && (r.copiesPrinted < 1 || r.copiesPrinted > rec.copies)) {
    throw new KonbiniError('COPIES_OUT_OF_RANGE', { issuanceId: r.issuanceId, reason: 'copies-printed', copiesPrinted: r.copiesPrinted, copies: rec.copies });
  }
  if (rec.outcome === 'printed' || rec.outcome === 'failed') {
    if (closedUnreported && r.outcome === 'printed' && rec.outcome === 'failed') return { status: 'expired', record: rec };
    const same = rec.outcome === r.outcome && (r.outcome === 'failed' || rec.copiesPrinted === r.copiesPrinted);
    if (same) return { status: 'repeated', record: rec };
    throw new KonbiniError('LATE_OUTCOME_CONFLICT', { issuanceId: r.issuanceId, reason: `recorded-${rec.outcome}` });
  }
  // Only a delivered document can have been printed (or be reported on at all).
  if (rec.outcome !== 'delivered') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { issuanceId: r.issuanceId, reason: 'not-delivered' });
  return undefined;
}
