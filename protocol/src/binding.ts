import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { KonbiniError } from './errors.js';

/**
 * The binding ties a document to one issuance and one card (DESIGN §4 step 9, §5
 * invariant 2). It travels inside the PDF, in the document information dictionary
 * under /KonbiniBinding, as a fixed-width ASCII string:
 *
 *   v1;iid=<issuance id>;csh=<HMAC of the card serial, 64 hex>;dh=<document hash, 64 hex>
 *
 * The document hash is SHA-256 over the whole PDF except the bytes of that value
 * (the same idea as a PDF signature's /ByteRange), so the PDF can carry the hash
 * of itself. The renderer writes a placeholder of BINDING_WIDTH characters first and
 * seals it after rendering; the kiosk reads it back and compares every field with
 * its own session before it may print.
 *
 * A signed PDF (PAdES) carries the binding inside the signed bytes: the city adds
 * the signature field first (its /ByteRange already final, /Contents a placeholder),
 * then seals the binding, then signs. So the document hash also leaves out the
 * signature's /Contents string (the one gap of its /ByteRange), and the signature
 * covers the binding. The signature must cover the whole file: anything appended
 * after signing breaks the document hash.
 */
export const BINDING_KEY = 'KonbiniBinding';
export const BINDING_WIDTH = 200;
export const BINDING_PLACEHOLDER = '0'.repeat(BINDING_WIDTH);

const MARKER = Buffer.from(`/${BINDING_KEY} (`, 'latin1');

export interface Binding {
  issuanceId: string;
  cardSerialHmac: string;
  documentHash: string;
}

/**
 * HMAC of the card serial, keyed by the issuance id: it lets the kiosk (which knows
 * the serial it read and the issuance id it asked for) check the document is for
 * this card, while records keyed on it cannot be joined across issuances.
 */
export function cardSerialHmac(issuanceId: string, cardSerial: string): string {
  return createHmac('sha256', issuanceId).update(cardSerial.toLowerCase()).digest('hex');
}

function findValue(pdf: Buffer): { start: number; end: number } {
  const at = pdf.lastIndexOf(MARKER);
  if (at < 0) throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'no-binding' });
  const start = at + MARKER.length;
  const end = start + BINDING_WIDTH;
  if (end >= pdf.length || pdf[end] !== 0x29 /* ')' */) {
    throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'binding-width' });
  }
  return { start, end };
}

const BYTE_RANGE = Buffer.from('/ByteRange', 'latin1');

/**
 * The signature's /ByteRange `[0 a b c]` of a signed PDF (the last one in the file),
 * checked to cover the whole file but one `<hex>` gap; null for an unsigned PDF.
 */
export function signatureByteRange(pdf: Buffer): [number, number, number, number] | null {
  const at = pdf.lastIndexOf(BYTE_RANGE);
  if (at < 0) return null;
  const m = /^\/ByteRange\s*\[\s*(\d{1,10})\s+(\d{1,10})\s+(\d{1,10})\s+(\d{1,10})\s*\]/.exec(pdf.subarray(at, at + 80).toString('latin1'));
  const bad = () => new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'signature-byte-range' });
  if (!m) throw bad();
  const [s1, a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  if (s1 !== 0 || !(a < b) || b + c !== pdf.length || pdf[a] !== 0x3c /* < */ || pdf[b - 1] !== 0x3e /* > */) throw bad();
  if (!/^[0-9A-Fa-f]*$/.test(pdf.subarray(a + 1, b - 1).toString('latin1'))) throw bad();
  return [0, a, b, c];
}

/** SHA-256 over the PDF without the binding value and, if signed, without the signature's /Contents. */
export function documentHashOf(pdf: Buffer): string {
  const { start, end } = findValue(pdf);
  const range = signatureByteRange(pdf);
  const hash = createHash('sha256');
  if (!range) return hash.update(pdf.subarray(0, start)).update(pdf.subarray(end)).digest('hex');
  const [, a, b] = range;
  if (end > a) throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'binding-outside-signed-part' });
  return hash.update(pdf.subarray(0, start)).update(pdf.subarray(end, a)).update(pdf.subarray(b)).digest('hex');
}

/** Fill the placeholder in a rendered PDF. Returns a new buffer of the same length. */
export function sealBinding(pdf: Buffer, issuanceId: string, cardSerialHmacHex: string): { pdf: Buffer; binding: Binding } {
  const { start, end } = findValue(pdf);
  if (pdf.subarray(start, end).toString('latin1') !== BINDING_PLACEHOLDER) {
    throw new KonbiniError('INTERNAL', { reason: 'binding-already-sealed' });
  }
  const documentHash = documentHashOf(pdf);
  const value = `v1;iid=${issuanceId};csh=${cardSerialHmacHex};dh=${documentHash}`;
  if (!/^[\x20-\x7e]+$/.test(value) || /[()\\]/.test(value) || value.length > BINDING_WIDTH) {
    throw new KonbiniError('INTERNAL', { reason: 'binding-value' });
  }
  const out = Buffer.from(pdf);
  out.write(value.padEnd(BINDING_WIDTH, ' '), start, 'latin1');
  return { pdf: out, binding: { issuanceId, cardSerialHmac: cardSerialHmacHex, documentHash } };
}

/** Read the binding from a PDF and check it is internally consistent (hash matches). */
export function readBinding(pdf: Buffer): Binding {
  const { start, end } = findValue(pdf);
  const value = pdf.subarray(start, end).toString('latin1').trimEnd();
  const m = /^v1;iid=([A-Za-z0-9-]{1,64});csh=([0-9a-f]{64});dh=([0-9a-f]{64})$/.exec(value);
  if (!m) throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'binding-syntax' });
  const binding = { issuanceId: m[1]!, cardSerialHmac: m[2]!, documentHash: m[3]! };
  const actual = documentHashOf(pdf);
  if (!safeEqualHex(actual, binding.documentHash)) {
    throw new KonbiniError('DOCUMENT_HASH_MISMATCH', { reason: 'binding-document-hash' });
  }
  return binding;
}

/**
 * What the kiosk does before printing: the document must be bound to the issuance
 * it asked for and to the card it read. Any difference is a refusal, never a print.
 */
export function verifyBinding(
  pdf: Buffer,
  expected: { issuanceId: string; cardSerial: string },
  opts: { requireSignature?: boolean } = {},
): Binding {
  const binding = readBinding(pdf);
  if (opts.requireSignature && !signatureByteRange(pdf)) {
    throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'unsigned', issuanceId: expected.issuanceId });
  }
  if (binding.issuanceId !== expected.issuanceId) {
    throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'issuance-id', issuanceId: expected.issuanceId });
  }
  const want = cardSerialHmac(expected.issuanceId, expected.cardSerial);
  if (!safeEqualHex(want, binding.cardSerialHmac)) {
    throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'card', issuanceId: expected.issuanceId });
  }
  return binding;
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
