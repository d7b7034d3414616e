import t from 'tap';
import {
  decodeDocumentChunk,
  encodeDocumentChunk,
  ERRORS,
  ERROR_CODES,
  errorFromBody,
  KonbiniError,
  parseCentreMessage,
  parseKioskMessage,
} from '../src/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KonbiniError ? err.code : 'not-a-konbini-error';
  }
  return undefined;
}

const SID = '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f';

t.test('every error code has Japanese and English text and an HTTP status', async (t) => {
  t.ok(ERROR_CODES.length > 40);
  for (const code of ERROR_CODES) {
    const info = ERRORS[code];
    t.match(info.ja, /[\u3040-\u30ff\u4e00-\u9fff]/, `${code} ja`);
    t.ok(info.en.length > 5, `${code} en`);
    t.ok(info.status >= 400 && info.status < 600, `${code} status`);
  }
  t.equal(errorFromBody({ code: 'PIN_LOCKED' }).code, 'PIN_LOCKED');
  t.equal(errorFromBody({ code: 'NO_SUCH_THING' }).code, 'INTERNAL', 'unknown codes never pass through as-is');
});

t.test('kiosk messages: valid ones parse, bad ones get stable codes', async (t) => {
  const ok = parseKioskMessage(JSON.stringify({ type: 'session.auth', sessionId: SID, signature: 'AAAA' }));
  t.equal(ok.type, 'session.auth');
  t.equal(codeOf(() => parseKioskMessage('{not json')), 'MESSAGE_INVALID');
  t.equal(codeOf(() => parseKioskMessage('[]')), 'MESSAGE_INVALID');
  t.equal(codeOf(() => parseKioskMessage('{"type":"launch.missiles"}')), 'MESSAGE_UNKNOWN_TYPE');
  t.equal(codeOf(() => parseKioskMessage(JSON.stringify({ type: 'session.auth', sessionId: 'x', signature: 'AAAA' }))), 'MESSAGE_INVALID', 'bad session id');
  t.equal(codeOf(() => parseKioskMessage(JSON.stringify({ type: 'session.end', sessionId: SID, extra: 1 }))), 'MESSAGE_INVALID', 'extra property');
  t.equal(
    codeOf(() => parseKioskMessage(JSON.stringify({ type: 'issue.request', sessionId: SID, certType: 'resident-record', options: { scope: 'everyone' }, copies: 1 }))),
    'MESSAGE_INVALID',
    'option outside its enum',
  );
  t.equal(codeOf(() => parseKioskMessage(JSON.stringify({ type: 'session.start', authCert: 'A'.repeat(20000) }))), 'MESSAGE_TOO_LARGE');
  t.equal(
    codeOf(() => parseKioskMessage(JSON.stringify({ type: 'issue.outcome', sessionId: SID, issuanceId: SID, outcome: 'printed', copiesPrinted: '1' }))),
    'MESSAGE_INVALID',
    'no type coercion',
  );
});

t.test('centre messages are validated on the kiosk side too', async (t) => {
  const m = parseCentreMessage(JSON.stringify({ type: 'error', code: 'PIN_LOCKED', message: 'x', messageJa: 'y' }));
  t.equal(m.type, 'error');
  t.equal(codeOf(() => parseCentreMessage(JSON.stringify({ type: 'error', code: 'MADE_UP', message: 'x', messageJa: 'y' }))), 'MESSAGE_INVALID');
  t.equal(codeOf(() => parseCentreMessage(JSON.stringify({ type: 'issue.document', sessionId: SID, issuanceId: SID, bytes: 10, sha256: 'zz' }))), 'MESSAGE_INVALID');
});

t.test('document chunks carry their issuance id', async (t) => {
  const frame = encodeDocumentChunk(SID, Buffer.from('%PDF-1.7'));
  const { issuanceId, chunk } = decodeDocumentChunk(frame);
  t.equal(issuanceId, SID);
  t.equal(chunk.toString(), '%PDF-1.7');
  t.equal(codeOf(() => decodeDocumentChunk(Buffer.alloc(16))), 'MESSAGE_INVALID', 'a chunk with no bytes is refused');
});
