import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { CITY_API } from '@konbini/protocol';
import { buildApp } from '../../src/index.js';
import { call } from '../helpers/client.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { makeTestPki } from '../helpers/pki.js';
import { deltaFile } from './helpers.js';

/*
 * The 随時連携 endpoint over LGWAN-sim mutual TLS: only the core system's certificate
 * may post changes, and it may do nothing else. The freshness guard trips and clears.
 */

const pki = makeTestPki();
t.teardown(() => pki.cleanup());
// the city's core 住基 system: a client certificate from the same LGWAN CA
writeFileSync(join(pki.dir, 'core.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] });
ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'core.key', '-out', 'core.csr', '-subj', '/O=LGWAN-sim/CN=juki-core-999997']);
ossl(['x509', '-req', '-in', 'core.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'core.crt', '-extfile', 'core.ext']);
const core = { key: readFileSync(join(pki.dir, 'core.key'), 'utf8'), cert: readFileSync(join(pki.dir, 'core.crt'), 'utf8') };

let clock = new Date();
const { dataset } = testDataset(clock);
const logLines: string[] = [];
const app = await buildApp({
  tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca },
  dataset,
  now: () => clock,
  syncClients: ['juki-core-999997'],
  replicaMaxAgeMs: 15 * 60_000,
  log: {
    level: 'info',
    stream: new Writable({
      write(c: Buffer, _e, done) {
        logLines.push(...c.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  },
});
await app.listen({ port: 0, host: '127.0.0.1' });
t.teardown(() => app.close());
const port = (app.server.address() as { port: number }).port;

const ndjson = { 'content-type': 'application/x-ndjson' };
const postDelta = (client: { key: string; cert: string }, body: string, query = '') =>
  call({ port, ca: pki.ca, client, path: `/v1/sync/delta${query}`, body, headers: ndjson });
const menu = (serial: string) => call({ port, ca: pki.ca, client: pki.centre, path: CITY_API.menu, body: { cardSerial: serial, kioskId: 'K0001' } });

const moveOut = deltaFile('http-1', [{ seq: 1, kind: 'move-out', notifiedOn: '2026-01-10', residentId: 'R0010', effectiveOn: '2026-01-10' }]);

t.test('only the core system may post deltas, and it may post nothing else', async (t) => {
  for (const [who, client] of [['centre', pki.centre], ['stranger', pki.stranger]] as const) {
    const r = await postDelta(client, moveOut);
    t.equal(r.status, 403, `${who}: 403`);
    t.equal(r.json().code, 'FORBIDDEN');
  }
  const rogue = await postDelta(pki.rogue, moveOut).catch((e: Error) => e);
  t.ok(rogue instanceof Error || rogue.status === 403, 'a certificate from another CA does not get through TLS');
  const asKiosk = await call({ port, ca: pki.ca, client: core, path: CITY_API.menu, body: { cardSerial: SERIAL.yoshida, kioskId: 'K0001' } });
  t.equal(asKiosk.status, 403, 'the core system cannot ask for a menu');
  t.equal((await menu(SERIAL.yoshida)).json<{ items: unknown[] }>().items.length, 1, 'nothing was applied');
});

t.test('a delta posted by the core system is refused at the kiosk at once', async (t) => {
  const dry = await postDelta(core, moveOut, '?dryRun=true');
  t.equal(dry.status, 200);
  t.match(dry.json(), { applied: 1, dryRun: true, lastSeq: 0 });
  t.equal((await menu(SERIAL.yoshida)).json<{ items: unknown[] }>().items.length, 1, 'dry run: still served');
  const r = await postDelta(core, moveOut);
  t.equal(r.status, 200);
  t.match(r.json(), { batchId: 'http-1', applied: 1, lastSeq: 1 });
  const m = (await menu(SERIAL.yoshida)).json<{ items: unknown[]; refusals: { certType: string; code: string }[] }>();
  t.same(m.items, []);
  t.equal(m.refusals.find((x) => x.certType === 'resident-record')?.code, 'RESIDENT_MOVED_OUT');
  t.match((await postDelta(core, moveOut)).json(), { applied: 0, alreadyApplied: 1 }, 're-sent: harmless');
});

t.test('a refused batch answers with its code and the rows to blame', async (t) => {
  const gap = await postDelta(core, deltaFile('http-2', [{ seq: 5, kind: 'support-measure-set', notifiedOn: '2026-01-11', residentId: 'R0001' }]));
  t.equal(gap.status, 409);
  t.match(gap.json(), { code: 'SYNC_GAP', rows: [{ line: 2, field: '/seq' }] });
  const bad = await postDelta(core, deltaFile('http-3', [{ seq: 2, kind: 'support-measure-set', notifiedOn: 'tomorrow', residentId: 'R0001' }]));
  t.equal(bad.status, 400);
  t.match(bad.json(), { code: 'SYNC_INPUT_INVALID', rows: [{ line: 2, field: '/notifiedOn' }] });
  t.notMatch(bad.body.toString(), /tomorrow/, 'the report names the field, never echoes the value');
  const asJson = await call({ port, ca: pki.ca, client: core, path: '/v1/sync/delta', body: { type: 'header' } });
  t.equal(asJson.status, 400, 'a batch must be JSON Lines');
  t.equal(asJson.json().code, 'MESSAGE_INVALID');
  const cut = await postDelta(core, moveOut.slice(0, -10));
  t.match(cut.json(), { code: 'SYNC_TRUNCATED' });
});

t.test('freshness guard: trips when the replica is older than the limit, clears on the next sync', async (t) => {
  t.equal((await menu(SERIAL.takahashi)).status, 200);
  clock = new Date(clock.getTime() + 16 * 60_000);
  const stale = await menu(SERIAL.takahashi);
  t.equal(stale.status, 503);
  t.equal(stale.json().code, 'REPLICA_STALE');
  const issue = await call({ port, ca: pki.ca, client: pki.centre, path: CITY_API.issue, body: { issuanceId: '00000000-0000-4000-8000-000000000001', kioskId: 'K0001', cardSerial: SERIAL.takahashi, certType: 'resident-record', copies: 1, options: { scope: 'self' } } });
  t.equal(issue.json().code, 'REPLICA_STALE', 'issue is guarded as well as the menu');
  t.ok(logLines.some((l) => /"alert":"replica-stale"/.test(l)), 'an alert is logged');
  // an empty batch from the core system: nothing changed, the replica is current
  const hb = await postDelta(core, deltaFile('http-hb', []));
  t.equal(hb.status, 200);
  t.equal((await menu(SERIAL.takahashi)).status, 200, 'cleared');
  t.ok(logLines.some((l) => /"alert":"replica-fresh"/.test(l)));
});
