import t from 'tap';
import { createHash } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { goodPdf, startCentre, type TestCentre } from '../helpers/centre.js';

function scrapeHttps(c: TestCentre): Promise<{ status: number; type: string; body: string }> {
  const e = c.kit.pki.entry('kiosk-K0002');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: c.port, path: '/metrics', key: e.keyPem, cert: e.certPem, ca: c.kit.pki.kioskLine.ca.certPem, servername: 'localhost' },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function scrapeHttp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The value of one sample line, e.g. metric('x_total{code="A"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}

t.test('metrics and the SQL ledger follow a whole issuance and a refusal', async (t) => {
  const ledger = await SqlLedger.open({}); // PGlite in memory
  const centre = await startCentre({ centre: { ledger, metricsListen: { host: '127.0.0.1', port: 0 } } });
  t.teardown(async () => {
    await centre.close();
    await ledger.close();
  });
  const k = await centre.kiosk();
  const { sessionId, answer } = await k.login(centre.kit, centre.card);
  t.equal(answer?.type, 'session.menu');
  let m = await scrapeHttps(centre);
  t.equal(m.status, 200);
  t.match(m.type, /^text\/plain/);
  t.equal(sample(m.body, 'konbini_centre_kiosks_connected'), 1, 'one kiosk connected');
  t.equal(sample(m.body, 'konbini_centre_sessions_total{stage="started"}'), 1);
  t.equal(sample(m.body, 'konbini_centre_sessions_total{stage="authenticated"}'), 1);
  t.equal(sample(m.body, 'konbini_centre_card_validation_seconds_count'), 1, 'card check timed');
  t.equal(sample(m.body, 'konbini_centre_city_request_seconds_count{call="menu",result="200"}'), 1, 'city menu call timed');

  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 2 });
  const chunks: Buffer[] = [];
  const accepted = await k.message(chunks);
  const doc = await k.message(chunks);
  t.match(doc, { type: 'issue.document', bytes: goodPdf.length });
  const issuanceId = accepted!.issuanceId as string;
  k.send({ type: 'issue.outcome', sessionId, issuanceId, outcome: 'printed', copiesPrinted: 2 });
  t.match(await k.message(), { type: 'issue.recorded', issuanceId, outcome: 'printed', charged: 400 });
  // A refusal: a certificate type nobody offers.
  k.send({ type: 'issue.request', sessionId, certType: 'passport', options: {}, copies: 1 });
  t.match(await k.message(), { type: 'error', code: 'CERT_TYPE_UNKNOWN' });

  m = await scrapeHttps(centre);
  for (const outcome of ['requested', 'delivered', 'printed']) {
    t.equal(sample(m.body, `konbini_centre_issuances_total{cert_type="resident-record",outcome="${outcome}"}`), 1, outcome);
  }
  t.equal(sample(m.body, 'konbini_centre_refusals_total{code="CERT_TYPE_UNKNOWN"}'), 1, 'refusal counted by code');
  t.equal(sample(m.body, 'konbini_centre_issuance_delivery_seconds_count'), 1, 'delivery latency');
  t.equal(sample(m.body, 'konbini_centre_city_request_seconds_count{call="issue",result="200"}'), 1);
  const plain = await scrapeHttp((centre.app as unknown as { metricsServer: { address(): AddressInfo } }).metricsServer.address().port);
  t.equal(sample(plain, 'konbini_centre_refusals_total{code="CERT_TYPE_UNKNOWN"}'), 1, 'the same on the plain-HTTP metrics listener');
  t.match(centre.logs.filter((l) => l.event === 'audit').at(-1), { code: 'CERT_TYPE_UNKNOWN', kioskId: 'K0001', sessionId, outcome: 'refused' }, 'and an audit event');

  // The evidence record, chained, with the hash of what went to the kiosk.
  const rec = await ledger.get(issuanceId);
  t.match(rec, { outcome: 'printed', copies: 2, copiesPrinted: 2, fee: 400, charged: 400, kioskId: 'K0001', storeId: 'S0001', cityCode: '991015', documentSha256: createHash('sha256').update(goodPdf).digest('hex') });
  t.match(rec?.cardSerialHmac, /^[0-9a-f]{64}$/);
  t.not(rec?.cardSerialHmac, centre.card.serial);
  t.ok((await ledger.verify()).ok, 'chain verifies');

  k.ws.close();
  await k.closed;
  await new Promise((r) => setTimeout(r, 50));
  m = await scrapeHttps(centre);
  t.equal(sample(m.body, 'konbini_centre_kiosks_connected'), 0, 'the kiosk left: none connected (a scrape is not a kiosk socket)');
});
