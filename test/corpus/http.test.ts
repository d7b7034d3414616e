import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import t from 'tap';
import { cardSerialOf, isErrorCode } from '@konbini/protocol';
import { pkiFiles, startStack } from '../e2e/stack.js';
import { HTTP_CASES, type HttpCase, type HttpContext } from './http.cases.js';
import { fixtureCard } from './helpers.js';

/*
 * The HTTP corpus against the real city server (the one startStack wires to the
 * centre), called directly over mutual TLS with the centre's LGWAN certificate.
 */

const stack = await startStack();
t.teardown(() => stack.close());
const ca = pkiFiles('lgwan-ca').cert;
const clients = { centre: pkiFiles('lgwan-centre'), 'other-city': pkiFiles('lgwan-city-993034') };
const serial = cardSerialOf(Buffer.from(fixtureCard('ok').jpki.authCertDer, 'base64'));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(c: { method?: string; path: string; body?: string | Buffer; headers?: Record<string, string>; client?: keyof typeof clients }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const tls = clients[c.client ?? 'centre'];
    const req = request(
      {
        host: 'localhost',
        port: stack.cityPort,
        method: c.method ?? (c.body === undefined ? 'GET' : 'POST'),
        path: c.path,
        ca,
        key: tls.key,
        cert: tls.cert,
        agent: false,
        headers: {
          ...(c.body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(c.body)) } : {}),
          ...c.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(20000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(c.body);
  });
}

const json = (v: unknown) => JSON.stringify(v);
const post = (path: string, body: unknown) => call({ path, body: json(body) });

async function sendOne(ctx: HttpContext): Promise<void> {
  const r = await post('/v1/issue', { issuanceId: ctx.issuanceId, cardSerial: ctx.serial, kioskId: 'K0001', certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  if (r.status !== 200 || r.headers['content-type'] !== 'application/pdf') throw new Error(`setup issue failed: ${r.status} ${r.body.toString().slice(0, 200)}`);
}

function bodyOf(c: HttpCase, ctx: HttpContext): string | undefined {
  if (!c.body) return undefined;
  const b = c.body(ctx);
  return typeof b === 'string' ? b : Buffer.isBuffer(b) ? b.toString('latin1') : json(b);
}

t.test(`${HTTP_CASES.length} HTTP cases`, async (t) => {
  for (const c of HTTP_CASES) {
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const ctx: HttpContext = { serial, issuanceId: randomUUID() };
      if (c.setup === 'sent') await sendOne(ctx);
      const r = await call({ method: c.method, path: c.path, body: bodyOf(c, ctx), headers: c.headers, client: c.client });
      t.equal(r.status, c.status, `HTTP ${c.status}`);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
      } catch {
        t.fail(`the body is not JSON: ${r.body.toString('utf8').slice(0, 80)}`);
      }
      t.equal(body.code, c.code, `code ${c.code}`);
      t.ok(isErrorCode(body.code) && typeof body.message === 'string' && typeof body.messageJa === 'string', 'a protocol error body');
      t.notOk(r.headers['x-issuance-id'], 'no document headers on a refusal');

      if (c.after === 'no-record') {
        const o = await post('/v1/outcome', { issuanceId: ctx.issuanceId, outcome: 'failed', copiesPrinted: 0 });
        t.equal(JSON.parse(o.body.toString()).code, 'ISSUANCE_UNKNOWN', 'the refused request left no issuance record');
      }
      if (c.after === 'outcome-open') {
        const o = await post('/v1/outcome', { issuanceId: ctx.issuanceId, outcome: 'printed', copiesPrinted: 1 });
        t.same([o.status, JSON.parse(o.body.toString())], [200, { issuanceId: ctx.issuanceId, recorded: true }], 'the right outcome is still recorded');
      }
    });
  }

  await t.test('two issue requests with the same issuance id at once: one document, one MESSAGE_OUT_OF_ORDER', async (t) => {
    const issuanceId = randomUUID();
    const body = { issuanceId, cardSerial: serial, kioskId: 'K0001', certType: 'resident-record', options: { scope: 'self' }, copies: 1 };
    const replies = await Promise.all([post('/v1/issue', body), post('/v1/issue', body)]);
    const statuses = replies.map((r) => r.status).sort();
    t.same(statuses, [200, 409], 'exactly one is issued');
    const refused = replies.find((r) => r.status === 409)!;
    t.equal(JSON.parse(refused.body.toString()).code, 'MESSAGE_OUT_OF_ORDER');
    t.equal(replies.find((r) => r.status === 200)!.headers['x-issuance-id'], issuanceId, 'the document carries its own issuance id');
    const o = await post('/v1/outcome', { issuanceId, outcome: 'printed', copiesPrinted: 1 });
    t.equal(o.status, 200, 'its outcome is recorded once');
  });

  await t.test('the city still serves after the whole corpus', async (t) => {
    const r = await post('/v1/menu', { cardSerial: serial, kioskId: 'K0001' });
    t.equal(r.status, 200);
    t.ok((JSON.parse(r.body.toString()) as { items: unknown[] }).items.length >= 1, 'the ok card still gets a menu');
  });
});
