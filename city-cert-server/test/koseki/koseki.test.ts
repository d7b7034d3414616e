/**
 * The koseki path end to end, both servers in-process over real mutual TLS: the
 * centre asks the replica, the replica forwards to the koseki server (pinned), the
 * koseki server renders, binds and signs, the replica relays the PDF and records its
 * hash. Koseki-side hours, a pending filing, a register not served here and a koseki
 * server with the wrong certificate are refusals with their codes.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { verifyBinding, type CityMenuResponse } from '@konbini/protocol';
import { buildApp } from '../../src/index.js';
import { buildKosekiApp } from '../../src/koseki/app.js';
import { certSha256 } from '../../src/koseki/client.js';
import { DEFAULT_KOSEKI_HOURS } from '../../src/koseki/hours.js';
import { call } from '../helpers/client.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { kosekiDatasetFor, makeKosekiPki } from './helpers.js';

const pki = makeKosekiPki();
const dir = mkdtempSync(join(tmpdir(), 'koseki-test-'));
const WEDNESDAY = new Date('2026-11-25T02:00:00Z'); // 11:00 in Tokyo
const SATURDAY = new Date('2026-11-28T02:00:00Z');
let kosekiClock = WEDNESDAY;
const { dataset } = testDataset(WEDNESDAY);
dataset.city.fees = { ...dataset.city.fees, 'koseki-full': 450, 'koseki-individual': 450, 'koseki-fuhyo': 300 };
const kosekiData = kosekiDatasetFor(dataset);

const logs: string[] = [];
const sink = () => ({
  level: 'info',
  stream: new Writable({
    write(c: Buffer, _e, done) {
      logs.push(c.toString('utf8'));
      done();
    },
  }),
});

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

const koseki = await buildKosekiApp({ tls: { ...pki.koseki, ca: pki.ca }, allowedClients: ['city-999997'], dataset: kosekiData, hours: DEFAULT_KOSEKI_HOURS, now: () => kosekiClock, log: sink() });
const kosekiPort = await listen(koseki);
const impostor = await buildKosekiApp({ tls: { ...pki.impostor, ca: pki.ca }, allowedClients: ['city-999997'], dataset: kosekiData, now: () => WEDNESDAY, log: sink() });
const impostorPort = await listen(impostor);

const replicaOf = async (port: number) =>
  buildApp({
    tls: { ...pki.replica, ca: pki.ca },
    dataset,
    now: () => WEDNESDAY,
    koseki: { url: `https://127.0.0.1:${port}`, tls: { ...pki.replica, ca: pki.ca }, pinSha256: certSha256(pki.koseki.cert) },
    log: sink(),
  });
const replica = await replicaOf(kosekiPort);
const replicaPort = await listen(replica);
const misled = await replicaOf(impostorPort);
const misledPort = await listen(misled);

t.teardown(async () => {
  await Promise.all([replica.close(), misled.close(), koseki.close(), impostor.close()]);
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const asCentre = (port: number, path: string, body: unknown) => call({ port, ca: pki.ca, client: pki.centre, path, body });
const menuOf = async (port: number, cardSerial: string) => (await asCentre(port, '/v1/menu', { cardSerial, kioskId: 'K0001' })).json<CityMenuResponse>();
const issue = (port: number, cardSerial: string, certType: string, options: Record<string, unknown> = {}, copies = 1) => {
  const issuanceId = randomUUID();
  return asCentre(port, '/v1/issue', { issuanceId, kioskId: 'K0001', cardSerial, certType, options, copies }).then((r) => ({ r, issuanceId }));
};
const textOf = (pdf: Buffer) => {
  const f = join(dir, `${randomUUID()}.pdf`);
  writeFileSync(f, pdf);
  // compared without white space: narrow cells wrap their labels
  return execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
};
const recordOf = async (issuanceId: string) =>
  (await replica.replica.query<{ document_sha256: string | null; cert_type: string }>('SELECT document_sha256, cert_type FROM issuance_records WHERE issuance_id = $1', [issuanceId]))[0];

t.test('menu: the koseki types are offered to a person of a register served here', async (t) => {
  const m = await menuOf(replicaPort, SERIAL.takahashi);
  for (const certType of ['koseki-full', 'koseki-individual', 'koseki-fuhyo']) t.ok(m.items.some((i) => i.certType === certType), certType);
  t.same(m.items.find((i) => i.certType === 'koseki-fuhyo')?.options, ['scope']);
  const foreign = await menuOf(replicaPort, SERIAL.foreign);
  t.same(foreign.refusals.filter((r) => r.certType.startsWith('koseki')).map((r) => r.code), ['KOSEKI_NOT_SERVED', 'KOSEKI_NOT_SERVED', 'KOSEKI_NOT_SERVED']);
});

t.test('each koseki type end to end: rendered by the koseki server, bound, relayed, recorded', async (t) => {
  const cases: [string, Record<string, unknown>, string[], string[]][] = [
    ['koseki-full', {}, ['全部事項証明', '東雲県星見市緑町一丁目2番', '戸籍に記録されて', 'いる者', '【名】一郎', '【名の振り仮名】イチロウ', '【名】長子', '除 籍', '【名】次郎', '以下余白', 'これは、戸籍に記録されている事項の全部を証明した書面である。', '東雲県星見市長'], []],
    ['koseki-individual', {}, ['個人事項証明', '【名】一郎', '【婚姻日】', 'これは、戸籍中の一部の者について記録されている事項の全部を証明した書面である。'], ['【名】次郎', '【名】花子']],
    ['koseki-fuhyo', {}, ['戸籍の附票の写し', '（一部）', '東京都千代田区丸の内一丁目1番1号', '住所を定めた年月日', 'この写しは、戸籍の附票の原本と相違ないことを証明する。'], ['花子']],
    ['koseki-fuhyo', { scope: 'household' }, ['戸籍の附票の写し', '髙橋 花子', '髙橋 一郎'], ['（一部）']],
  ];
  for (const [certType, options, want, not] of cases) {
    const { r, issuanceId } = await issue(replicaPort, SERIAL.takahashi, certType, options);
    t.equal(r.status, 200, `${certType} ${JSON.stringify(options)}`);
    if (r.status !== 200) {
      t.comment(r.body.toString());
      continue;
    }
    t.equal(r.headers['content-type'], 'application/pdf');
    t.equal(verifyBinding(r.body, { issuanceId, cardSerial: SERIAL.takahashi }).issuanceId, issuanceId, 'binding matches the session');
    const sha = createHash('sha256').update(r.body).digest('hex');
    t.equal(r.headers['x-document-sha256'], sha);
    t.same(await recordOf(issuanceId), { document_sha256: sha, cert_type: certType }, '交付記録 kept by the replica');
    const text = textOf(r.body);
    for (const w of want) t.ok(text.includes(w.replace(/\s+/g, '')), `${certType}: ${w}`);
    for (const w of not) t.notOk(text.includes(w.replace(/\s+/g, '')), `${certType}: not ${w}`);
  }
});

t.test('copies: each copy numbered on its pages', async (t) => {
  const { r } = await issue(replicaPort, SERIAL.takahashi, 'koseki-individual', {}, 2);
  t.equal(r.status, 200);
  const text = textOf(r.body);
  t.match(text, /0011\/1/);
  t.match(text, /0021\/1/);
});

t.test('a pending koseki filing refuses, in the menu and at issue, and leaves no record', async (t) => {
  const m = await menuOf(replicaPort, SERIAL.yoshida);
  t.same(m.refusals.filter((r) => r.certType.startsWith('koseki')).map((r) => r.code), ['KOSEKI_PENDING', 'KOSEKI_PENDING', 'KOSEKI_PENDING']);
  const { r, issuanceId } = await issue(replicaPort, SERIAL.yoshida, 'koseki-full');
  t.equal(r.status, 403);
  t.equal(r.json().code, 'KOSEKI_PENDING');
  t.equal(await recordOf(issuanceId), undefined);
});

t.test('koseki-side hours: weekdays only; outside them the koseki types refuse and the rest is unaffected', async (t) => {
  kosekiClock = SATURDAY;
  t.teardown(() => {
    kosekiClock = WEDNESDAY;
  });
  const m = await menuOf(replicaPort, SERIAL.takahashi);
  t.same(m.refusals.filter((r) => r.certType.startsWith('koseki')).map((r) => r.code), ['CERT_TYPE_OUTSIDE_HOURS', 'CERT_TYPE_OUTSIDE_HOURS', 'CERT_TYPE_OUTSIDE_HOURS']);
  t.ok(m.items.some((i) => i.certType === 'resident-record'), 'the 住民票 is still offered');
  const { r, issuanceId } = await issue(replicaPort, SERIAL.takahashi, 'koseki-full');
  t.equal(r.status, 503);
  t.equal(r.json().code, 'CERT_TYPE_OUTSIDE_HOURS');
  t.equal(await recordOf(issuanceId), undefined);
});

t.test('a koseki server with another certificate (same CA, same name) is refused by its pin', async (t) => {
  const { r, issuanceId } = await issue(misledPort, SERIAL.takahashi, 'koseki-full');
  t.equal(r.status, 502);
  t.equal(r.json().code, 'CITY_CERT_MISMATCH');
  t.equal((await misled.replica.query('SELECT 1 FROM issuance_records WHERE issuance_id = $1', [issuanceId])).length, 0, 'no record left');
  const m = await menuOf(misledPort, SERIAL.takahashi);
  t.same(m.refusals.filter((r) => r.certType.startsWith('koseki')).map((r) => r.code), ['CITY_CERT_MISMATCH', 'CITY_CERT_MISMATCH', 'CITY_CERT_MISMATCH']);
});

t.test('the koseki server answers its replica only', async (t) => {
  const r = await call({ port: kosekiPort, ca: pki.ca, client: pki.centre, path: '/v1/koseki/status', body: { residentId: 'R0001' } });
  t.equal(r.status, 403);
  t.equal(r.json().code, 'FORBIDDEN');
  await t.rejects(call({ port: kosekiPort, ca: pki.ca, path: '/v1/koseki/status', body: { residentId: 'R0001' } }), 'no client certificate: the handshake fails');
});

t.test('logs: no names, addresses or honseki', async (t) => {
  const all = logs.join('');
  for (const s of ['髙橋', '一郎', '緑町', '千代田', '𠮷田']) t.notOk(all.includes(s), s);
});
