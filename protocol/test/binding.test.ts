import t from 'tap';
import { BINDING_PLACEHOLDER, cardSerialHmac, KonbiniError, readBinding, sealBinding, signatureByteRange, verifyBinding } from '../src/index.js';

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

/** A fake signed PDF: binding first, then a signature /ByteRange covering all but one `<hex>` gap. */
function fakeSignedPdf(): Buffer {
  const head = `%PDF-1.7\n1 0 obj\n<< /KonbiniBinding (${BINDING_PLACEHOLDER}) >>\nendobj\nstream-bytes-of-the-page\n2 0 obj\n<< /Type /Sig /ByteRange `;
  const br = (a: number, b: number, c: number) => `[0 ${a} ${b} ${c}]`.padEnd(40, ' ');
  const gap = `<${'0'.repeat(64)}>`;
  const tail = '\n>>\nendobj\n%%EOF\n';
  const a = head.length + 40 + ' /Contents '.length;
  const b = a + gap.length;
  return Buffer.from(head + br(a, b, tail.length) + ' /Contents ' + gap + tail, 'latin1');
}

t.test('signed PDF: the hash leaves out the signature gap, so signing after sealing keeps the binding', async (t) => {
  const raw = fakeSignedPdf();
  const range = signatureByteRange(raw)!;
  t.ok(range, 'the byte range is found and covers the file');
  const { pdf, binding } = sealBinding(raw, IID, cardSerialHmac(IID, SERIAL));
  const signed = Buffer.from(pdf);
  signed.write('AB'.repeat(32), range[1] + 1, 'latin1'); // the CMS lands in the gap
  t.same(verifyBinding(signed, { issuanceId: IID, cardSerial: SERIAL }, { requireSignature: true }), binding);

  const edited = Buffer.from(signed);
  edited[edited.indexOf('page')] = 0x50;
  t.equal(codeOf(() => readBinding(edited)), 'DOCUMENT_HASH_MISMATCH', 'a byte in the signed part');
  const appended = Buffer.concat([signed, Buffer.from('more')]);
  t.equal(codeOf(() => readBinding(appended)), 'DOCUMENT_BINDING_MISMATCH', 'bytes after the signed part');
  const notHex = Buffer.from(signed);
  notHex[range[1] + 3] = 0x78;
  t.equal(codeOf(() => readBinding(notHex)), 'DOCUMENT_BINDING_MISMATCH', 'the gap is only a hex string');
  t.equal(codeOf(() => verifyBinding(sealBinding(fakePdf(), IID, cardSerialHmac(IID, SERIAL)).pdf, { issuanceId: IID, cardSerial: SERIAL }, { requireSignature: true })), 'DOCUMENT_BINDING_MISMATCH', 'unsigned, when a signature is required');
  t.equal(signatureByteRange(fakePdf()), null, 'unsigned PDF: no range');
});
