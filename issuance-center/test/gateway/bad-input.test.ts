import t from 'tap';
import { MemoryLedger } from '../../src/ledger/ledger.js';
import { goodPdf, sendPdf, startCentre, type TestCentre } from '../helpers/centre.js';

/**
 * Bad input from a kiosk or a city: each gets a stable code, a clean close where
 * the peer cannot be trusted to go on, and an audit event. (Schema failures, bad
 * JSON, an unknown type and issue-before-auth are in test/e2e/issuance.test.ts.)
 */

const audits = (c: TestCentre, code: string) => c.logs.filter((l) => l.event === 'audit' && l.code === code);

let centre: TestCentre;
const ledger = new MemoryLedger();
t.before(async () => {
  centre = await startCentre({ centre: { ledger } });
});
t.teardown(() => centre.close());

t.test('a text frame over 16 KiB: MESSAGE_TOO_LARGE, then a clean close 1009', async (t) => {
  const k = await centre.kiosk();
  k.send(JSON.stringify({ type: 'session.start', authCert: 'A'.repeat(20 * 1024) }));
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_TOO_LARGE' });
  t.same(await k.closed, { code: 1009, reason: 'MESSAGE_TOO_LARGE' });
  t.equal(audits(centre, 'MESSAGE_TOO_LARGE').length, 1, 'audited');
});

t.test('a frame over the 64 KiB hard limit is never buffered: closed 1009 by the WebSocket layer, audited', async (t) => {
  const k = await centre.kiosk();
  k.send('x'.repeat(200 * 1024));
  t.equal((await k.closed).code, 1009);
  await new Promise((r) => setTimeout(r, 50));
  t.match(audits(centre, 'MESSAGE_TOO_LARGE').at(-1), { action: 'kiosk-frame', reason: 'frame', kioskId: 'K0001' });
});

t.test('a text frame that is not UTF-8: closed 1007, audited MESSAGE_INVALID', async (t) => {
  const k = await centre.kiosk();
  k.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  t.equal((await k.closed).code, 1007);
  await new Promise((r) => setTimeout(r, 50));
  t.match(audits(centre, 'MESSAGE_INVALID').at(-1), { action: 'kiosk-frame', reason: 'invalid_utf8' });
});

t.test('a binary frame or a JSON array from a kiosk: MESSAGE_INVALID, and the session can go on', async (t) => {
  const k = await centre.kiosk();
  k.ws.send(Buffer.from('{"type":"session.start"}'), { binary: true });
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_INVALID' });
  k.send('[{"type":"session.start"}]');
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_INVALID' });
  k.send('null');
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_INVALID' });
  const { answer } = await k.login(centre.kit, centre.card);
  t.equal(answer?.type, 'session.menu', 'still serves the kiosk');
  k.ws.close();
});

t.test("a centre message type sent by a kiosk: MESSAGE_UNKNOWN_TYPE", async (t) => {
  const k = await centre.kiosk();
  k.send({ type: 'session.menu', sessionId: '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f' });
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_UNKNOWN_TYPE' });
  t.ok(audits(centre, 'MESSAGE_UNKNOWN_TYPE').length >= 1);
  k.ws.close();
});

t.test('out of order: auth without start, another session id, an outcome before any document', async (t) => {
  const k = await centre.kiosk();
  k.send({ type: 'session.auth', sessionId: '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f', signature: 'AAAA' });
  t.match(await k.message(), { type: 'error', code: 'CHALLENGE_UNKNOWN' }, 'no challenge was issued for it');
  const { sessionId, answer } = await k.login(centre.kit, centre.card);
  t.equal(answer?.type, 'session.menu');
  k.send({ type: 'issue.request', sessionId: '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f', certType: 'resident-record', options: {}, copies: 1 });
  t.match(await k.message(), { type: 'error', code: 'SESSION_UNKNOWN' });
  k.send({ type: 'issue.outcome', sessionId, issuanceId: '11111111-2222-4333-8444-555555555555', outcome: 'printed', copiesPrinted: 1 });
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_OUT_OF_ORDER', sessionId });
  t.match(audits(centre, 'MESSAGE_OUT_OF_ORDER').at(-1), { kioskId: 'K0001', sessionId, step: 'authenticated', cityCode: '991015' });
  k.ws.close();
});

async function issueOnce(k: Awaited<ReturnType<TestCentre['kiosk']>>, sessionId: string) {
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  const chunks: Buffer[] = [];
  const first = await k.message(chunks);
  const second = first?.type === 'issue.accepted' ? await k.message(chunks) : undefined;
  return { first, second, bytes: chunks.reduce((n, c) => n + c.length - 16, 0) };
}

t.test('a city answering with the wrong content type: CITY_PROTOCOL, nothing relayed, recorded failed, the menu still works', async (t) => {
  const k = await centre.kiosk();
  const { sessionId } = await k.login(centre.kit, centre.card);
  centre.city.issue = sendPdf(Buffer.from('<html>maintenance</html>'), { contentType: 'text/html' });
  const bad = await issueOnce(k, sessionId!);
  t.match(bad.first, { type: 'error', code: 'CITY_PROTOCOL', sessionId });
  t.equal(bad.bytes, 0, 'no byte went to the kiosk');
  const issuanceId = bad.first!.issuanceId as string;
  t.match(await ledger.get(issuanceId), { outcome: 'failed', charged: 0 });
  t.match(audits(centre, 'CITY_PROTOCOL').at(-1), { issuanceId, reason: 'content-type', cityCode: '991015' });
  centre.city.issue = sendPdf(goodPdf);
  const good = await issueOnce(k, sessionId!);
  t.equal(good.first?.type, 'issue.accepted', 'the next request is served');
  t.match(good.second, { type: 'issue.document', bytes: goodPdf.length });
  t.equal(good.bytes, goodPdf.length);
  k.ws.close();
});

t.test('a truncated stream from the city: DOCUMENT_TRUNCATED after the bytes that came, recorded failed', async (t) => {
  const k = await centre.kiosk();
  const { sessionId } = await k.login(centre.kit, centre.card);
  centre.city.issue = sendPdf(goodPdf, { truncateAt: 100_000 });
  const r = await issueOnce(k, sessionId!);
  t.equal(r.first?.type, 'issue.accepted');
  t.match(r.second, { type: 'error', code: 'DOCUMENT_TRUNCATED', sessionId });
  t.ok(r.bytes < goodPdf.length, `relayed ${r.bytes} of ${goodPdf.length} bytes, never issue.document`);
  t.match(await ledger.get(r.second!.issuanceId as string), { outcome: 'failed', charged: 0 });
  t.ok(audits(centre, 'DOCUMENT_TRUNCATED').length >= 1);
  centre.city.issue = sendPdf(goodPdf);
  k.ws.close();
});

t.test('a city presenting a certificate other than its pinned one: CITY_CERT_MISMATCH, and it never sees a request', async (t) => {
  // Same LGWAN-sim CA, same city name, another key: CA trust alone would accept it.
  const impostor = await startCentre({ kit: centre.kit, cityCert: 'lgwan-impostor-991015' });
  t.teardown(() => impostor.close());
  const k = await impostor.kiosk();
  const { answer } = await k.login(impostor.kit, impostor.card);
  t.match(answer, { type: 'error', code: 'CITY_CERT_MISMATCH' });
  t.same(impostor.city.calls, [], 'no request body reached the impostor');
  t.match(audits(impostor, 'CITY_CERT_MISMATCH').at(-1), { kioskId: 'K0001', cityCode: '991015' });
});

t.test('a revoked kiosk is refused at connect with its code and a 4403 close, audited', async (t) => {
  const k = await centre.kiosk('kiosk-K0003').catch(() => undefined);
  if (!k) {
    t.pass('the TLS layer refused it (certificate revoked by the kiosk-line CRL)');
    return;
  }
  t.match(await k.message(), { type: 'error', code: 'KIOSK_REVOKED' });
  t.equal((await k.closed).code, 4403);
  t.match(audits(centre, 'KIOSK_REVOKED').at(-1), { action: 'kiosk-connect', kioskId: 'K0003' });
});

t.test('audit events carry ids and codes only', async (t) => {
  const allowed = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'event', 'action', 'outcome', 'code', 'kioskId', 'sessionId', 'issuanceId', 'cityCode', 'reason', 'step']);
  const events = centre.logs.filter((l) => l.event === 'audit');
  t.ok(events.length >= 8, `${events.length} audit events`);
  for (const e of events) t.same(Object.keys(e).filter((k) => !allowed.has(k)), [], `${String(e.code)}: no other field`);
  const all = JSON.stringify(centre.logs);
  t.notMatch(all, centre.card.serial, 'the card serial is in no log line');
  t.notMatch(all, centre.card.b64.slice(0, 60), 'nor the certificate');
});

t.test('a ledger that cannot record: INTERNAL, nothing asked of the city, and the session stays usable', async (t) => {
  const inner = new MemoryLedger();
  let down = true;
  const flaky = {
    begin: async (r: Parameters<MemoryLedger['begin']>[0]) => {
      if (down) throw new Error('database unavailable');
      return inner.begin(r);
    },
    delivered: inner.delivered.bind(inner),
    outcome: inner.outcome.bind(inner),
    get: inner.get.bind(inner),
  };
  const c = await startCentre({ kit: centre.kit, centre: { ledger: flaky } });
  t.teardown(() => c.close());
  const k = await c.kiosk();
  const { sessionId } = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  t.match(await k.message(), { type: 'error', code: 'INTERNAL', sessionId });
  t.same(c.city.calls, ['/v1/menu'], 'the city was never asked to render');
  down = false;
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  t.match(await k.message(), { type: 'issue.accepted', sessionId }, 'served once the ledger is back');
  k.ws.close();
});

t.test('a kiosk flooding the centre: KIOSK_RATE_LIMITED per kiosk id, across its connections; other kiosks unaffected', async (t) => {
  const c = await startCentre({ kit: centre.kit, centre: { kioskRate: { burst: 5, perSecond: 0.001 } } });
  t.teardown(() => c.close());
  const k = await c.kiosk();
  for (let i = 0; i < 8; i++) k.send('null');
  const codes: string[] = [];
  for (let i = 0; i < 8; i++) codes.push(String((await k.message())?.code));
  t.same(codes, [...Array(5).fill('MESSAGE_INVALID'), ...Array(3).fill('KIOSK_RATE_LIMITED')]);
  const again = await c.kiosk();
  again.send('null');
  t.match(await again.message(), { code: 'KIOSK_RATE_LIMITED' }, 'a new connection of the same kiosk is still limited');
  const other = await c.kiosk('kiosk-K0002');
  other.send('null');
  t.match(await other.message(), { code: 'MESSAGE_INVALID' }, 'K0002 has its own bucket');
  t.equal(c.logs.filter((l) => l.event === 'audit' && l.code === 'KIOSK_RATE_LIMITED').length, 4, 'each refusal audited');
});
