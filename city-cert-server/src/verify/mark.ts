/**
 * The anti-forgery mark of one issuance: a random 確認番号 (16 digits, printed
 * 1234-5678-9012-3456), the SHA-256 of the certificate's content (the model the
 * renderer printed, in canonical JSON), and the 2D code's text carrying the issuance
 * number, that hash and the city's signature over both (RSASSA-PKCS1-v1_5/SHA-256 by
 * the document-signing key in the HSM).
 *
 * Why a content hash and not the PDF's: the code is printed inside the PDF, so it
 * cannot hold the hash of the PDF that contains it. The city keeps both hashes: the
 * PDF's (issuance_records.document_sha256) for whoever holds the electronic document,
 * the content's (verification_marks) for whoever holds the paper and reads the code.
 */
import { createHash, createPublicKey, randomInt, verify, X509Certificate } from 'node:crypto';
import type { VerificationMark } from '../render/verification-page.js';
import type { DocumentSigner } from '../sign/signer.js';

export const QR_PREFIX = 'KONBINI-VERIFY-1';
const UNSIGNED = 'unsigned';

/** Raw signature by the city's signer over bytes, or null when the server runs unsigned. */
export type MarkSigner = ((data: Buffer) => Buffer) | null;

/** The document signer's signature over the code's text (DocumentSigner.signData), or null when unsigned. */
export function markSignerOf(signer: DocumentSigner | null): MarkSigner {
  if (!signer) return null;
  return (data) => signer.signData(data);
}

export function newVerificationNumber(): string {
  let n = String(randomInt(1, 10));
  while (n.length < 16) n += String(randomInt(0, 10));
  return n;
}

/** 1234567890123456 → 1234-5678-9012-3456 */
export function formatVerificationNumber(n: string): string {
  return n.replace(/(\d{4})(?=\d)/g, '$1-');
}

/** Accepts the printed form (with hyphens or spaces) or the bare digits. */
export function normalizeVerificationNumber(s: string): string | null {
  const d = s.replace(/[\s-]/g, '');
  return /^\d{16}$/.test(d) ? d : null;
}

function canonical(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (k !== 'antiForgery' && (v as Record<string, unknown>)[k] !== undefined) out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** SHA-256 (hex) of the certificate's content: the render model in canonical JSON, marks excluded. */
export function contentSha256(model: object): string {
  return createHash('sha256').update(JSON.stringify(canonical(model))).digest('hex');
}

export interface MarkFields {
  cityCode: string;
  issuanceId: string;
  verificationNumber: string;
  contentSha256: string;
}

const signedPart = (f: MarkFields) => `${QR_PREFIX}|${f.cityCode}|${f.issuanceId}|${f.verificationNumber}|${f.contentSha256}`;

/** What the renderer prints (the code's text and the readable number). */
export function makeMark(f: MarkFields, sign: MarkSigner): VerificationMark {
  const body = signedPart(f);
  const sig = sign ? sign(Buffer.from(body, 'utf8')).toString('base64url') : UNSIGNED;
  return { verificationNumber: formatVerificationNumber(f.verificationNumber), qrText: `${body}|${sig}` };
}

export function parseQrText(text: string): (MarkFields & { signature: string }) | null {
  const p = text.split('|');
  if (p.length !== 6 || p[0] !== QR_PREFIX) return null;
  const [, cityCode, issuanceId, verificationNumber, hash, signature] = p as [string, string, string, string, string, string];
  if (!/^\d{6}$/.test(cityCode) || !/^\d{16}$/.test(verificationNumber) || !/^[0-9a-f]{64}$/.test(hash)) return null;
  return { cityCode, issuanceId, verificationNumber, contentSha256: hash, signature };
}

/** Offline check of the code's signature against the city's document-signing certificate. */
export function qrSignatureValid(text: string, certPem: string): boolean {
  const f = parseQrText(text);
  if (!f || f.signature === UNSIGNED) return false;
  const key = createPublicKey(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'pem' }));
  return verify('sha256', Buffer.from(signedPart(f), 'utf8'), key, Buffer.from(f.signature, 'base64url'));
}
