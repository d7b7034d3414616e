import { timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../replica/db.js';
import { normalizeVerificationNumber } from './mark.js';

export async function insertMark(db: Queryable, issuanceId: string, verificationNumber: string, contentSha256: string): Promise<void> {
  await db.query('INSERT INTO verification_marks (issuance_id, verification_number, content_sha256) VALUES ($1, $2, $3)', [issuanceId, verificationNumber, contentSha256]);
}

const sameHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

/**
 * Authentic: an issuance this city sent (document hash recorded), not reported as
 * failed (never printed), found by its 確認番号 (or issuance id), whose document hash
 * or content hash is the one given. The answer is a yes or a no, nothing else.
 */
export async function isAuthentic(db: Queryable, number: string, sha256: string): Promise<boolean> {
  const hash = sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hash)) return false;
  const vn = normalizeVerificationNumber(number);
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(number.toLowerCase());
  if (!vn && !byId) return false;
  const rows = await db.query<{ status: string; document_sha256: string | null; content_sha256: string }>(
    `SELECT r.status, r.document_sha256, m.content_sha256
       FROM verification_marks m JOIN issuance_records r ON r.issuance_id = m.issuance_id
      WHERE ${vn ? 'm.verification_number = $1' : 'm.issuance_id = $1::uuid'}`,
    [vn ?? number.toLowerCase()],
  );
  const r = rows[0];
  if (!r || r.status === 'failed' || !r.document_sha256) return false;
  return sameHex(r.document_sha256, hash) || sameHex(r.content_sha256, hash);
}
