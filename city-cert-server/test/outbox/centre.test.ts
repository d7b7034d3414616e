import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { buildApp } from '../../src/index.js';
import { outboxStatus } from '../../src/outbox/schema.js';
import { call } from '../helpers/client.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { deltaFile } from '../sync/helpers.js';
import { lgwanPki, startCentre as startCentreWith, until } from './helpers.js';

/*
 * Card link changes reach the centre's card directory (issue 5 item 4): a real
 * centre (issuance-center buildApp, its city API on port 0) and a real city server;
 * a delta batch with card-issue / card-revoke goes through the replica's outbox to
 * the centre's city API, in order, over mutual TLS with the city's own certificate,
 * the centre's pinned. The centre down (or an impostor in its place): kept, retried,
 * delivered once the centre is back.
 */

t.setTimeout(120_000);
const run = promisify(execFile);
const cli = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli.ts');

// --- an LGWAN-sim PKI: the city's cert serves and calls (server + client auth), as does the centre's
const dir = mkdtempSync(join(tmpdir(), 'city-outbox-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const now = new Date();
const { dataset } = testDataset(now);
const CITY = dataset.city.code;
const pki = lgwanPki(dir, CITY);
const { ca, city, core } = pki;
const centreTls = pki.centre;
const impostorTls = pki.impostor;
const NEW = '00c0ffee0001';
const LATER = '00c0ffee0002';

const startCentre = (cards: string[], port = 0, tls = centreTls) => startCentreWith(pki, dataset.city, cards, port, tls);

t.test('card issue and revoke reach the centre; the centre down keeps them until it is back', async (t) => {
  let centre = await startCentre([SERIAL.takahashi, SERIAL.yoshida]);
  const centrePort = centre.port;
  const dbDir = join(dir, 'replica');
  const logLines: string[] = [];
  const app = await buildApp({
    tls: { key: city.key, cert: city.cert, ca },
    dataset,
    db: { dataDir: dbDir },
    now: () => now,
    syncClients: ['juki-core-999997'],
    centre: { url: `https://127.0.0.1:${centrePort}`, centreCert: centreTls.cert, pollMs: 200, backoffMs: 50, maxBackoffMs: 300 },
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
  let appClosed = false;
  t.teardown(async () => {
    if (!appClosed) await app.close();
    await centre.app.close();
  });
  const port = (app.server.address() as { port: number }).port;
  const post = (body: string) => call({ port, ca, client: core, path: '/v1/sync/delta', body, headers: { 'content-type': 'application/x-ndjson' } });

  t.equal(await centre.refusal(SERIAL.takahashi), 'routed', 'before: the centre routes the card to the city');
  const b1 = deltaFile('outbox-1', [
    { seq: 1, kind: 'card-revoke', notifiedOn: '2026-11-20', serial: SERIAL.takahashi, effectiveOn: '2026-11-20' },
    { seq: 2, kind: 'card-issue', notifiedOn: '2026-11-20', serial: NEW, residentId: 'R0002', validFrom: '2026-11-21' },
  ]);
  const r1 = await post(b1);
  t.equal(r1.status, 200, 'batch applied');
  t.equal(await until(() => centre.refusal(SERIAL.takahashi), (v) => v === 'CARD_NOT_LINKED'), 'CARD_NOT_LINKED', 'the revoked card: refused at the centre');
  t.equal(await until(() => centre.refusal(NEW), (v) => v === 'CARD_LINK_NOT_YET_VALID'), 'CARD_LINK_NOT_YET_VALID', 'the issued card: linked at the centre (from tomorrow, the centre’s rule)');
  t.equal((await until(() => outboxStatus(app.replica), (s) => s.pending === 0)).pending, 0, 'outbox drained');
  t.equal(await centre.refusal(SERIAL.yoshida), 'routed', 'other cards untouched');

  const again = await post(b1);
  t.equal(again.json<{ alreadyApplied: number }>().alreadyApplied, 2, 're-sent batch recognised');
  t.equal((await outboxStatus(app.replica)).pending, 0, 'a re-sent batch queues nothing again');

  // --- an impostor in the centre's place (same CA, not the pinned certificate): nothing is sent, nothing lost
  await centre.app.close();
  const impostor = await startCentre([SERIAL.yoshida, NEW], centrePort, impostorTls);
  const r2 = await post(
    deltaFile('outbox-2', [
      { seq: 3, kind: 'card-issue', notifiedOn: '2026-11-21', serial: LATER, residentId: 'R0010', validFrom: '2026-11-22' },
      { seq: 4, kind: 'card-revoke', notifiedOn: '2026-11-21', serial: LATER, effectiveOn: '2026-11-21' },
      { seq: 5, kind: 'card-revoke', notifiedOn: '2026-11-21', serial: NEW, effectiveOn: '2026-11-21' },
      { seq: 6, kind: 'card-revoke', notifiedOn: '2026-11-21', serial: SERIAL.yoshida, effectiveOn: '2026-11-21' },
    ]),
  );
  t.equal(r2.status, 200);
  let s = await until(() => outboxStatus(app.replica), (x) => (x.head?.attempts ?? 0) >= 2);
  t.match(s, { pending: 4, head: { seq: 3, op: 'add', lastError: 'CENTRE_CERT_MISMATCH' } }, 'an unpinned certificate: refused before any request, kept at the head');
  t.equal(await impostor.refusal(SERIAL.yoshida), 'routed', 'the impostor learnt nothing');
  await impostor.app.close();

  // --- the centre down
  s = await until(() => outboxStatus(app.replica), (x) => x.head?.lastError === 'ECONNREFUSED');
  t.match(s, { pending: 4, head: { seq: 3, lastError: 'ECONNREFUSED' } }, 'centre down: the changes wait in the outbox');
  t.ok(logLines.some((l) => /centre outbox #\d+ seq 3 add: attempt \d+ failed \(ECONNREFUSED\)/.test(l) && l.includes('"code":"ECONNREFUSED"')), 'failures logged');

  // --- back up on its address, its directory without NEW (a remove of a missing link is harmless)
  centre = await startCentre([SERIAL.yoshida], centrePort);
  s = await until(() => outboxStatus(app.replica), (x) => x.pending === 0);
  t.equal(s.pending, 0, 'delivered once the centre is back');
  t.equal(await centre.refusal(SERIAL.yoshida), 'CARD_NOT_LINKED', 'the revoke waiting behind the others arrived');
  t.equal(await centre.refusal(LATER), 'CARD_NOT_LINKED', 'add then revoke of one card: delivered in that order (not linked in the end)');
  t.equal(await centre.refusal(NEW), 'CARD_NOT_LINKED');
  // one line per call: "#<id> seq <n> <op>: delivered" or "#<a>-#<b> seq <n>-<m> (<k> changes): [<j> ]delivered[ (<i> not linked at the centre)]"
  const sent = logLines.map((l) => /centre outbox #\d+(?:-#\d+)? seq (\d+)(?:-\d+)?[^:]*: (?:(\d+) )?delivered(?: \((\d+) not linked at the centre\))?/.exec(l)).filter((m) => m !== null);
  const changes = (m: RegExpExecArray) => Number(m[2] ?? /\((\d+) changes\)/.exec(m[0])?.[1] ?? 1);
  t.same(sent.flatMap((m) => Array.from({ length: changes(m) }, (_, i) => Number(m[1]) + i)), [1, 2, 3, 4, 5, 6], 'in sequence order, each once');
  t.equal(sent.reduce((n, m) => n + Number(m[3] ?? 0), 0), 1, 'the removal the centre no longer held counted as done');
  t.notOk(logLines.some((l) => l.includes('"dropped"') && l.includes('centre outbox')), 'every outbox log field is allow-listed');
  for (const serial of [SERIAL.takahashi, SERIAL.yoshida, NEW, LATER]) t.notOk(logLines.some((l) => l.includes(serial)), 'no card serial in the city log');

  // --- a backlog the status command shows: queued while the centre is down, the server stopped
  await centre.app.close();
  await post(deltaFile('outbox-3', [{ seq: 7, kind: 'card-revoke', notifiedOn: '2026-11-22', serial: SERIAL.yoshidaChild14, effectiveOn: '2026-11-22' }]));
  await until(() => outboxStatus(app.replica), (x) => (x.head?.attempts ?? 0) >= 1);
  await app.close();
  appClosed = true;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'status', '--db', dbDir, '--json'], { timeout: 60_000 });
  const status = JSON.parse(stdout) as { centreOutbox: { pending: number; head: { seq: number; op: string; attempts: number; lastError: string } } };
  t.match(status.centreOutbox, { pending: 1, head: { seq: 7, op: 'remove', lastError: 'ECONNREFUSED' } }, 'city-cert status --json: the backlog');
  t.ok(status.centreOutbox.head.attempts >= 1);
  const text = (await run(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'status', '--db', dbDir], { timeout: 60_000 })).stdout;
  t.match(text, /centre outbox:\s+1 pending/, 'and in the text form');
  centre = await startCentre([]); // for the teardown
});
