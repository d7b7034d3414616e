import { createHash } from 'node:crypto';
import type { LedgerRecord } from './ledger.js';

/** prev_hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** A final evidence record as it sits in the chain. */
export interface ChainedRecord extends LedgerRecord {
  outcome: 'printed' | 'failed';
  outcomeAt: string;
  /** Position in the chain, from 1, without gaps. */
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * The hash of a record: SHA-256 over a canonical JSON array of every field in a
 * fixed order, including its position and the previous record's hash. Changing
 * any field, the order, or removing a record breaks the chain from there on.
 */
export function recordHash(r: Omit<ChainedRecord, 'hash'>): string {
  const canonical = JSON.stringify(['konbini-ledger-v1', r.seq, r.prevHash, ...recordFields(r)]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * A record's own fields in their one fixed order: the hash covers them in this order
 * (after seq and the previous hash), and the SQL ledger stores them in it.
 */
export function recordFields(r: Omit<ChainedRecord, 'hash' | 'seq' | 'prevHash'>): unknown[] {
  return [
    r.issuanceId,
    r.cityCode,
    r.kioskId,
    r.storeId,
    r.certType,
    r.copies,
    r.copiesPrinted,
    r.fee,
    r.charged,
    r.documentSha256,
    r.cardSerialHmac,
    r.outcome,
    r.requestedAt,
    r.deliveredAt,
    r.outcomeAt,
  ];
}

export type ChainProblem =
  | { seq: number; issuanceId?: string; problem: 'hash-mismatch' }
  | { seq: number; issuanceId?: string; problem: 'prev-hash-mismatch' }
  | { seq: number; problem: 'missing' }
  | { seq: number; problem: 'head-mismatch' };

export interface VerifyReport {
  ok: boolean;
  records: number;
  head: { seq: number; hash: string };
  problems: ChainProblem[];
}

/**
 * Walk the chain in order. An edited record fails its own hash (or, if its hash
 * was recomputed too, the next record's prev_hash); a deleted record leaves a
 * gap in seq and a prev_hash that no longer matches; a deleted last record
 * leaves the head row pointing past the end.
 */
export function verifyChain(records: Iterable<ChainedRecord>, head: { seq: number; hash: string }): VerifyReport {
  const problems: ChainProblem[] = [];
  let expectSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  for (const r of records) {
    count++;
    if (r.seq > expectSeq) {
      for (let s = expectSeq; s < r.seq; s++) problems.push({ seq: s, problem: 'missing' });
    } else if (r.prevHash !== prevHash) {
      problems.push({ seq: r.seq, issuanceId: r.issuanceId, problem: 'prev-hash-mismatch' });
    }
    if (recordHash(r) !== r.hash) problems.push({ seq: r.seq, issuanceId: r.issuanceId, problem: 'hash-mismatch' });
    prevHash = r.hash;
    expectSeq = r.seq + 1;
  }
  const lastSeq = expectSeq - 1;
  if (head.seq > lastSeq) for (let s = lastSeq + 1; s <= head.seq; s++) problems.push({ seq: s, problem: 'missing' });
  else if (head.seq !== lastSeq || head.hash !== prevHash) problems.push({ seq: head.seq, problem: 'head-mismatch' });
  return { ok: problems.length === 0, records: count, head, problems };
}
