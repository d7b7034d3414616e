import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildApp } from 'city-cert-server';
import { cardSerialOf, isErrorCode } from '@konbini/protocol';
import { fixtureCard, fixtureCity as cityDataset, pkiPem as pkiFiles } from './helpers.js';
import { SYNC_CASES, type SyncContext } from './sync.cases.js';

/*
 * The sync-file corpus over the 随時連携 endpoint: a city server of its own (an
 * in-memory replica loaded from the fixture city), the core system's client
 * certificate made here by the dev LGWAN-sim CA, the centre's for menus.
 */

const card = fixtureCard('ok');
const dataset = cityDataset(card.cityCode);
const lgwan = pkiFiles('lgwan-ca');
const cityTls = pkiFiles(`lgwan-city-${card.cityCode}`);
const coreCn = `juki-core-${card.cityCode}`;

// the core 住基 system's client certificate, from the same CA as the centre's
const dir = mkdtempSync(join(tmpdir(), 'konbini-corpus-sync-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'ca.crt'), lgwan.cert);
writeFileSync(join(dir, 'ca.key'), lgwan.key, { mode: 0o600 });
writeFileSync(join(dir, 'core.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'core.key', '-out', 'core.csr', '-subj', `/O=LGWAN-sim/CN=${coreCn}`]);
ossl(['x509', '-req', '-in', 'core.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x5c01', '-days', '2', '-out', 'core.crt', '-extfile', 'core.ext']);
const core = { key: readFileSync(join(dir, 'core.key'), 'utf8'), cert: readFileSync(join(dir, 'core.crt'), 'utf8') };
const centre = pkiFiles('lgwan-centre');

const city = await buildApp({
  tls: { key: cityTls.key, cert: cityTls.cert, ca: lgwan.cert },
  dataset,
  syncClients: [coreCn],
  signer: { unsigned: true },
  log: { level: 'silent' },
});
await city.listen({ port: 0, host: '127.0.0.1' });
t.teardown(() => city.close());
const port = (city.server.address() as AddressInfo).port;

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

function post(client: { key: string; cert: string }, path: string, body: string | Buffer, contentType: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: 'localhost',
        port,
        method: 'POST',
        path,
        ca: lgwan.cert,
        key: client.key,
        cert: client.cert,
        agent: false,
        headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = { notJson: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const postDelta = (body: string | Buffer, contentType = 'application/x-ndjson', query = '') => post(core, `/v1/sync/delta${query}`, body, contentType);
const rows = (c: SyncContext, changes: object[], batchId: string) =>
  `${[{ type: 'header', format: 'konbini-delta', version: 1, cityCode: c.city, batchId }, ...changes.map((x) => ({ ...x, type: 'change' })), { type: 'end', count: changes.length }].map((r) => JSON.stringify(r)).join('\n')}\n`;

/** The replica's sequence number, read without changing anything: a dry-run heartbeat. */
async function replicaSeq(): Promise<number> {
  const r = await postDelta(rows({ city: card.cityCode } as SyncContext, [], `probe-${Date.now()}`), 'application/x-ndjson', '?dryRun=true');
  if (r.status !== 200 || typeof r.json.lastSeq !== 'number') throw new Error(`probe failed: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.lastSeq;
}

async function served(serial: string): Promise<boolean> {
  const r = await post(centre, '/v1/menu', JSON.stringify({ cardSerial: serial, kioskId: 'K0001' }), 'application/json');
  return r.status === 200 && Array.isArray(r.json.items) && r.json.items.length > 0;
}

const serial = cardSerialOf(Buffer.from(card.jpki.authCertDer, 'base64'));
const holder = dataset.residents.find((r) => r.id === card.residentId)!;
const sealed = new Set(((dataset as { seals?: { residentId: string }[] }).seals ?? []).map((x) => x.residentId));
const other = dataset.residents.find((r) => r.status === 'active' && r.householdId !== holder.householdId && r.flags.length === 0 && !sealed.has(r.id))!;

t.test(`${SYNC_CASES.length} sync-file cases`, async (t) => {
  t.ok(await served(serial), 'before: the ok card is served');
  let batchNo = 0;
  for (const c of SYNC_CASES) {
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const ctx: SyncContext = { city: card.cityCode, seq: await replicaSeq(), residentId: holder.id, householdId: holder.householdId, serial, otherResidentId: other.id };
      if (c.prepare) {
        const r = await postDelta(rows(ctx, c.prepare(ctx), `corpus-prepare-${batchNo++}`));
        t.equal(r.status, 200, 'prepared: a valid batch applied');
        ctx.seq = await replicaSeq();
      }
      const r = await postDelta(c.body(ctx), c.contentType, c.query);
      t.equal(r.status, c.status, `HTTP ${c.status}`);
      t.equal(r.json.code, c.code, `code ${c.code}`);
      t.ok(isErrorCode(r.json.code) && typeof r.json.messageJa === 'string', 'a protocol error body');
      if (String(c.code).startsWith('SYNC_')) {
        const first = (r.json.rows as { line: number; field: string; reason: string }[] | undefined)?.[0];
        t.ok(first && typeof first.line === 'number' && typeof first.reason === 'string', 'with a row report (line, field, reason)');
        t.notMatch(JSON.stringify(r.json.rows ?? []), /東雲県|令和|<svg/, 'the report repeats no value');
      }
      t.equal(await replicaSeq(), ctx.seq, `nothing applied: the replica is still at sequence ${ctx.seq}`);
      t.ok(await served(serial), "the card's resident is still served (no move-out slipped through)");
    });
  }
});
