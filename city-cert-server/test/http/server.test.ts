import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CITY_API, DOCUMENT_HEADERS, cardSerialHmac, verifyBinding, type CityMenuResponse } from '@konbini/protocol';
import { cardSerialSha256, issuanceRecord } from '../../src/index.js';
import { ADDRESS, SERIAL } from '../helpers/dataset.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
const scratch = mkdtempSync(join(tmpdir(), 'city-cert-pdf-'));

t.before(async () => {
  s = await startTestServer();
});
t.teardown(async () => {
  await s?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const KIOSK = 'K-0001';

function pdfText(pdf: Buffer): string {
  const file = join(scratch, `${randomUUID()}.pdf`);
  writeFileSync(file, pdf);
  try {
    return execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' });
  } finally {
    rmSync(file, { force: true });
  }
}

const menu = (cardSerial: string) => s.post(CITY_API.menu, { cardSerial, kioskId: KIOSK });
const issueBody = (over: Record<string, unknown> = {}) => ({
  issuanceId: randomUUID(),
  cardSerial: SERIAL.takahashi,
  kioskId: KIOSK,
  certType: 'resident-record',
  options: { scope: 'household', includeRelationship: true, includeHonseki: true },
  copies: 1,
  ...over,
});

t.test('menu for an eligible resident offers the resident record, and nothing personal', async (t) => {
  const r = await menu(SERIAL.takahashi);
  t.equal(r.status, 200);
  const m = r.json<CityMenuResponse>();
  t.same(m.city, { code: '999997', name: '星見市', prefecture: '東雲県' });
  t.same(m.items.map(({ members, ...rest }) => rest), [{ certType: 'resident-record', fee: 200, options: ['scope', 'members', 'includeRelationship', 'includeHonseki'] }]);
  t.same(m.items[0]!.members!.map((x) => [x.relation, x.birthYear, x.self]), [['世帯主', 1975, true], ['妻', 1978, false], ['子', 2003, false], ['子', 2005, false], ['母', 1948, false]], 'the household to choose from, through the response schema');
  t.same(
    m.refusals.map((x) => [x.certType, x.code]),
    [
      ['resident-entries', 'CERT_TYPE_NOT_OFFERED'], // no fee in this city's table
      ['seal', 'SEAL_NOT_REGISTERED'],
      ['tax-income', 'TAX_RECORD_MISSING'],
      ['koseki-full', 'CERT_TYPE_NOT_OFFERED'],
      ['koseki-individual', 'CERT_TYPE_NOT_OFFERED'],
      ['koseki-fuhyo', 'CERT_TYPE_NOT_OFFERED'],
    ],
  );
  t.notMatch(r.body.toString('utf8'), /髙橋|一郎|緑町/);
});

t.test('menu for a foreign resident offers foreign details instead of 本籍', async (t) => {
  const m = (await menu(SERIAL.foreign)).json<CityMenuResponse>();
  t.same(m.items[0]?.options, ['scope', 'includeRelationship', 'includeForeignDetails']);
});

t.test('menu explains every refusal with its code', async (t) => {
  const cases: [string, string][] = [
    ['unknown card', SERIAL.unknown],
    ['link valid from tomorrow', SERIAL.tomorrow],
    ['14-year-old', SERIAL.yoshidaChild14],
    ['household member moving out', SERIAL.movingHousehold],
    ['support measure', SERIAL.support],
    ['deceased holder', SERIAL.deceased],
    ['moved out', SERIAL.movedOut],
    ['moved in today', SERIAL.movedInToday],
    ['unprintable name', SERIAL.unprintable],
  ];
  const expected = ['CARD_NOT_LINKED', 'CARD_LINK_NOT_YET_VALID', 'UNDER_15', 'RESIDENT_MOVING_OUT', 'SUPPORT_MEASURE', 'RESIDENT_DECEASED', 'RESIDENT_MOVED_OUT', 'MOVED_IN_TODAY', 'UNPRINTABLE_CHARACTERS'];
  for (const [i, [name, serial]] of cases.entries()) {
    const r = await menu(serial);
    t.equal(r.status, 200, name);
    const m = r.json<CityMenuResponse>();
    t.same(m.items, [], `${name}: nothing offered`);
    t.same(m.refusals.find((x) => x.certType === 'resident-record'), { certType: 'resident-record', code: expected[i] }, name);
  }
});

t.test('issue: the household certificate, its headers, binding and 交付記録', async (t) => {
  const body = issueBody();
  const r = await s.post(CITY_API.issue, body);
  t.equal(r.status, 200, r.status === 200 ? 'issued' : r.body.toString());
  t.equal(r.headers['content-type'], 'application/pdf');
  t.equal(Number(r.headers['content-length']), r.body.length);
  t.equal(r.headers[DOCUMENT_HEADERS.issuanceId], body.issuanceId);
  const sha = createHash('sha256').update(r.body).digest('hex');
  t.equal(r.headers[DOCUMENT_HEADERS.sha256], sha);
  t.equal(r.headers[DOCUMENT_HEADERS.fee], '200');
  t.equal(r.body.subarray(0, 5).toString('latin1'), '%PDF-');

  const binding = verifyBinding(r.body, { issuanceId: body.issuanceId, cardSerial: SERIAL.takahashi });
  t.equal(binding.issuanceId, body.issuanceId);
  t.throws(() => verifyBinding(r.body, { issuanceId: body.issuanceId, cardSerial: SERIAL.yoshida }), { code: 'DOCUMENT_BINDING_MISMATCH' });

  const text = pdfText(r.body);
  t.match(text, '髙橋', 'the holder family name, with 髙');
  const order = ['一郎', '花子', '美咲', '次郎', 'トメ'].map((n) => text.indexOf(n));
  t.ok(order.every((i) => i >= 0), 'all five active members are printed');
  t.same([...order].sort((a, b) => a - b), order, 'head → spouse → children by birth date → parent');
  t.notMatch(text, '源蔵', 'the deceased father is never printed');
  t.match(text, body.issuanceId, 'the document carries its issuance id');

  const rec = await issuanceRecord(s.app.replica, body.issuanceId);
  t.match(rec, {
    issuanceId: body.issuanceId,
    kioskId: KIOSK,
    certType: 'resident-record',
    copies: 1,
    fee: 200,
    documentSha256: sha,
    cardSerialHmac: cardSerialHmac(body.issuanceId, SERIAL.takahashi),
    status: 'issued',
    outcomeAt: null,
  });
  const cols = await s.app.replica.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = 'issuance_records'`,
  );
  t.notOk(cols.some((c) => /pdf|document_bytes|serial$/.test(c.column_name)), 'no document bytes or raw serial column');

  t.test('the same issuance id is never rendered twice', async (t) => {
    const again = await s.post(CITY_API.issue, body);
    t.equal(again.status, 409);
    t.equal(again.json().code, 'MESSAGE_OUT_OF_ORDER');
  });

  t.test('outcome is recorded once; a re-sent outcome changes nothing', async (t) => {
    const o = await s.post(CITY_API.outcome, { issuanceId: body.issuanceId, outcome: 'printed', copiesPrinted: 1 });
    t.equal(o.status, 200);
    t.same(o.json(), { issuanceId: body.issuanceId, recorded: true });
    const after = await issuanceRecord(s.app.replica, body.issuanceId);
    t.equal(after?.status, 'printed');
    t.equal(after?.copiesPrinted, 1);
    const again = await s.post(CITY_API.outcome, { issuanceId: body.issuanceId, outcome: 'failed', copiesPrinted: 0 });
    t.equal(again.status, 200);
    t.same(again.json(), { issuanceId: body.issuanceId, recorded: true });
    t.same(await issuanceRecord(s.app.replica, body.issuanceId), after, 'record unchanged');
  });
});

t.test('issue: self scope prints only the holder, 𠮷 included', async (t) => {
  const body = issueBody({ cardSerial: SERIAL.yoshida, options: { scope: 'self' } });
  const r = await s.post(CITY_API.issue, body);
  t.equal(r.status, 200);
  const text = pdfText(r.body);
  t.match(text, '𠮷田');
  t.notMatch(text, '健', 'the child is not on a self-scope certificate');
});

t.test('issue: chosen members from the menu print, and only they', async (t) => {
  const m = (await menu(SERIAL.yoshida)).json<CityMenuResponse>();
  const child = m.items[0]!.members!.find((x) => !x.self)!;
  t.same([child.relation, child.self], ['子', false]);
  const r = await s.post(CITY_API.issue, issueBody({ cardSerial: SERIAL.yoshida, options: { scope: 'members', members: [child.ref] } }));
  t.equal(r.status, 200);
  const text = pdfText(r.body);
  t.match(text, 'ケン', 'the chosen child');
  t.notMatch(text, 'タロウ', 'not the holder, who was not chosen');
});

t.test('issue: foreign resident with foreign details', async (t) => {
  const r = await s.post(CITY_API.issue, issueBody({ cardSerial: SERIAL.foreign, options: { scope: 'self', includeForeignDetails: true } }));
  t.equal(r.status, 200);
  t.match(pdfText(r.body), 'SMITH');
});

t.test('issue: copies multiply the fee', async (t) => {
  const r = await s.post(CITY_API.issue, issueBody({ copies: 3 }));
  t.equal(r.status, 200);
  t.equal(r.headers[DOCUMENT_HEADERS.fee], '600');
});

t.test('issue refusals', async (t) => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['unknown type', { certType: 'passport' }, 400, 'CERT_TYPE_UNKNOWN'],
    ['known type not offered', { certType: 'koseki-full' }, 403, 'CERT_TYPE_NOT_OFFERED'],
    ['11 copies', { copies: 11 }, 400, 'COPIES_OUT_OF_RANGE'],
    ['0 copies', { copies: 0 }, 400, 'COPIES_OUT_OF_RANGE'],
    ['foreign details for a national', { options: { includeForeignDetails: true } }, 400, 'OPTION_NOT_ALLOWED'],
    ['本籍 for a foreign resident', { cardSerial: SERIAL.foreign, options: { includeHonseki: true } }, 400, 'OPTION_NOT_ALLOWED'],
    ['個人番号', { options: { includeMyNumber: false } }, 400, 'OPTION_NOT_ALLOWED'],
    ['fiscal year on a resident record', { options: { fiscalYear: 2025 } }, 400, 'OPTION_NOT_ALLOWED'],
    ['rules re-run: under 15', { cardSerial: SERIAL.yoshidaChild14 }, 403, 'UNDER_15'],
    ['rules re-run: support measure', { cardSerial: SERIAL.support }, 403, 'SUPPORT_MEASURE'],
    ['members without scope members', { options: { scope: 'household', members: ['m0123456789abcdef'] } }, 400, 'OPTION_NOT_ALLOWED'],
    ['a member not in the household', { options: { scope: 'members', members: ['m0123456789abcdef'] } }, 409, 'HOUSEHOLD_MEMBER_GONE'],
    ['an empty choice of members', { options: { scope: 'members', members: [] } }, 400, 'MESSAGE_INVALID'],
    ['a member reference of another shape', { options: { scope: 'members', members: ['R0002'] } }, 400, 'MESSAGE_INVALID'],
    ['rules re-run: unknown card', { cardSerial: SERIAL.unknown }, 403, 'CARD_NOT_LINKED'],
    ['copies as a string', { copies: '1' }, 400, 'MESSAGE_INVALID'],
    ['extra field', { pdf: 'x' }, 400, 'MESSAGE_INVALID'],
    ['issuance id not a uuid', { issuanceId: 'next' }, 400, 'MESSAGE_INVALID'],
    ['serial not hex', { cardSerial: '髙橋' }, 400, 'MESSAGE_INVALID'],
  ];
  for (const [name, over, status, code] of cases) {
    const body = issueBody(over);
    const r = await s.post(CITY_API.issue, body);
    t.equal(r.status, status, name);
    t.match(r.json(), { code, message: String, messageJa: String }, name);
    if (typeof body.issuanceId === 'string' && body.issuanceId.length === 36) {
      t.equal(await issuanceRecord(s.app.replica, body.issuanceId), null, `${name}: no 交付記録`);
    }
  }
});

t.test('concurrent requests under one issuance id: one document, one refusal', async (t) => {
  const body = issueBody();
  const [a, b] = await Promise.all([s.post(CITY_API.issue, body), s.post(CITY_API.issue, body)]);
  t.same([a.status, b.status].sort(), [200, 409]);
});

t.test('outcome for an unknown issuance', async (t) => {
  const r = await s.post(CITY_API.outcome, { issuanceId: randomUUID(), outcome: 'printed', copiesPrinted: 1 });
  t.equal(r.status, 404);
  t.equal(r.json().code, 'ISSUANCE_UNKNOWN');
});

t.test('outcome claiming more copies than issued is refused', async (t) => {
  const body = issueBody();
  t.equal((await s.post(CITY_API.issue, body)).status, 200);
  const r = await s.post(CITY_API.outcome, { issuanceId: body.issuanceId, outcome: 'printed', copiesPrinted: 2 });
  t.equal(r.status, 400);
  t.equal(r.json().code, 'MESSAGE_INVALID');
  t.equal((await issuanceRecord(s.app.replica, body.issuanceId))?.status, 'issued');
});

t.test('oversize bodies are refused before parsing', async (t) => {
  const big = JSON.stringify({ ...issueBody(), kioskId: 'x'.repeat(17 * 1024) });
  const r = await s.post(CITY_API.issue, big);
  t.equal(r.status, 413);
  t.equal(r.json().code, 'MESSAGE_TOO_LARGE');

  // chunked, no content-length: refused while streaming
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: s.port, method: 'POST', path: CITY_API.menu, ca: s.pki.ca, ...s.pki.centre, agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    for (let i = 0; i < 20; i++) req.write('{"x":"' + 'y'.repeat(1000) + '",');
    req.end('"z":1}');
  });
  t.equal(chunked.status, 413);
  t.equal(JSON.parse(chunked.body).code, 'MESSAGE_TOO_LARGE');
});

t.test('malformed bodies are MESSAGE_INVALID', async (t) => {
  for (const bad of ['{"cardSerial":', '[]', 'null', '{}']) {
    const r = await s.post(CITY_API.menu, bad);
    t.equal(r.status, 400, bad);
    t.equal(r.json().code, 'MESSAGE_INVALID', bad);
  }
  const text = await s.call({ path: CITY_API.menu, client: s.pki.centre, body: 'cardSerial=1', headers: { 'content-type': 'text/plain' } });
  t.equal(text.status, 400);
  t.equal(text.json().code, 'MESSAGE_INVALID');
});

t.test('unknown route', async (t) => {
  const r = await s.call({ path: '/v1/latest-document', client: s.pki.centre });
  t.equal(r.status, 400);
  t.equal(r.json().code, 'MESSAGE_UNKNOWN_TYPE');
});

t.test('health', async (t) => {
  const r = await s.call({ path: CITY_API.health, client: s.pki.centre });
  t.equal(r.status, 200);
  t.match(r.json(), { status: 'ok', cityCode: '999997', datasetSeed: 42 });
});

t.test('mutual TLS: who may ask', async (t) => {
  await t.rejects(s.call({ path: CITY_API.health }), 'no client certificate: refused at TLS');
  await t.rejects(s.call({ path: CITY_API.health, client: s.pki.rogue }), 'certificate from another CA: refused at TLS');
  const stranger = await s.call({ path: CITY_API.menu, client: s.pki.stranger, body: { cardSerial: SERIAL.takahashi, kioskId: KIOSK } });
  t.equal(stranger.status, 403);
  t.equal(stranger.json().code, 'FORBIDDEN');
  t.notMatch(stranger.body.toString(), /星見|resident-record/);
});

t.test('logs of a full issuance hold ids and hashes, never personal data', async (t) => {
  const from = s.logLines.length;
  const body = issueBody();
  t.equal((await menu(SERIAL.takahashi)).status, 200);
  const r = await s.post(CITY_API.issue, body);
  t.equal(r.status, 200);
  t.equal((await s.post(CITY_API.outcome, { issuanceId: body.issuanceId, outcome: 'printed', copiesPrinted: 1 })).status, 200);
  // a refusal and a malformed message log too
  await s.post(CITY_API.issue, issueBody({ cardSerial: SERIAL.yoshidaChild14 }));
  await s.post(CITY_API.menu, '{"cardSerial": "' + SERIAL.takahashi + '", "name": "髙橋"');
  await new Promise((r) => setTimeout(r, 50));
  const logs = s.logLines.slice(from).join('\n');
  t.ok(logs.length > 0);
  for (const secret of ['髙橋', '一郎', '花子', '𠮷田', ADDRESS.takahashi, '緑町', SERIAL.takahashi, SERIAL.yoshidaChild14, '%PDF', r.body.subarray(0, 64).toString('base64')]) {
    t.notOk(logs.includes(secret), `log does not contain ${JSON.stringify(secret.slice(0, 20))}`);
  }
  t.ok(logs.includes(body.issuanceId), 'issuance id is logged');
  t.ok(logs.includes(cardSerialSha256(SERIAL.takahashi)), 'card serial is logged as its hash');
  t.ok(logs.includes(r.headers[DOCUMENT_HEADERS.sha256] as string), 'document hash is logged');
  for (const line of s.logLines.slice(from)) JSON.parse(line);
});

t.test('the city keeps no copy: the document buffer is zero-filled once sent', async (t) => {
  const real = s.app.renderer.residentRecord;
  let held: Buffer | undefined;
  s.app.renderer.residentRecord = async (model, hmac) => {
    const out = await real(model, hmac);
    held = out.pdf;
    return out;
  };
  t.teardown(() => {
    s.app.renderer.residentRecord = real;
  });
  const r = await s.post(CITY_API.issue, issueBody());
  t.equal(r.status, 200);
  t.equal(r.body.subarray(0, 5).toString('latin1'), '%PDF-', 'the resident got the document');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.ok(held && held.length === r.body.length, 'the rendered buffer was the one sent');
  t.ok(held!.every((b) => b === 0), 'and it is all zeros now');
});
