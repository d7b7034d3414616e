import t from 'tap';
import { BINDING_PLACEHOLDER, cardSerialHmac, KonbiniError, readBinding, sealBinding, verifyBinding } from '../src/index.js';

const IID = '11111111-2222-4333-8444-555555555555';
const SERIAL = '1a2b3c4d5e6f';

function fakePdf(): Buffer {
  return Buffer.from(`%PDF-1.7\n1 0 obj\n<< /Title (x) /KonbiniBinding (${BINDING_PLACEHOLDER}) >>\nendobj\nstream-bytes-of-the-page\n%%EOF\n`, 'latin1');
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KonbiniError ? err.code : 'not-a-konbini-error';
  }
  return undefined;
}

t.test('seal then verify round-trips, and the length never changes', async (t) => {
  const raw = fakePdf();
  const { pdf, binding } = sealBinding(raw, IID, cardSerialHmac(IID, SERIAL));
  t.equal(pdf.length, raw.length);
  t.same(readBinding(pdf), binding);
  t.same(verifyBinding(pdf, { issuanceId: IID, cardSerial: SERIAL }), binding);
});

t.test('any change to the document, or another session or card, refuses it', async (t) => {
  const { pdf } = sealBinding(fakePdf(), IID, cardSerialHmac(IID, SERIAL));
  const edited = Buffer.from(pdf);
  edited[edited.indexOf('page')] = 0x50;
  t.equal(codeOf(() => readBinding(edited)), 'DOCUMENT_HASH_MISMATCH');
  t.equal(codeOf(() => verifyBinding(pdf, { issuanceId: '11111111-2222-4333-8444-555555555556', cardSerial: SERIAL })), 'DOCUMENT_BINDING_MISMATCH', 'other issuance');
  t.equal(codeOf(() => verifyBinding(pdf, { issuanceId: IID, cardSerial: '1a2b3c4d5e70' })), 'DOCUMENT_BINDING_MISMATCH', 'other card');
  t.equal(codeOf(() => readBinding(fakePdf())), 'DOCUMENT_BINDING_MISMATCH', 'unsealed placeholder');
  t.equal(codeOf(() => readBinding(Buffer.from('%PDF-1.7 nothing here'))), 'DOCUMENT_BINDING_MISMATCH', 'no binding at all');
  t.equal(codeOf(() => sealBinding(pdf, IID, cardSerialHmac(IID, SERIAL))), 'INTERNAL', 'cannot be sealed twice');
});

t.test('the card HMAC differs per issuance, so ledgers cannot join cards', async (t) => {
  t.not(cardSerialHmac(IID, SERIAL), cardSerialHmac('99999999-2222-4333-8444-555555555555', SERIAL));
  t.equal(cardSerialHmac(IID, SERIAL.toUpperCase()), cardSerialHmac(IID, SERIAL), 'serial case does not matter');
});
