/**
 * The render pool: a slow document does not delay a fast one, a worker that dies fails
 * only its own request (RENDER_FAILED) and is replaced, fonts are parsed once per
 * worker, and the server issues through the pool (binding and signature in the main
 * thread) documents a kiosk accepts.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KonbiniError, verifyBinding } from '@konbini/protocol';
import { RenderPool } from '../../src/pool/pool.js';
import { renderCertificatePdf } from '../../src/render/certificate.js';
import { buildApp } from '../../src/index.js';
import { call } from '../helpers/client.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { makeTestPki } from '../helpers/pki.js';
import { bigHousehold, mixedHousehold } from '../render/sample.js';

const dir = mkdtempSync(join(tmpdir(), 'render-pool-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const text = (pdf: Buffer) => {
  const f = join(dir, `${randomUUID()}.pdf`);
  writeFileSync(f, pdf);
  return execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
};
const slow = () => ({ ...bigHousehold('slow-0001'), copies: 10 });
const fast = () => mixedHousehold('fast-0001');

async function order(size: number): Promise<string[]> {
  const pool = new RenderPool({ size });
  await pool.ready();
  const done: string[] = [];
  try {
    await Promise.all([pool.render(slow()).then(() => done.push('slow')), pool.render(fast()).then(() => done.push('fast'))]);
  } finally {
    await pool.close();
  }
  return done;
}

t.test('a slow document does not delay a fast one (2 workers); one worker takes them in order', async (t) => {
  t.same(await order(2), ['fast', 'slow'], 'two workers: the fast one comes back first');
  t.same(await order(1), ['slow', 'fast'], 'one worker: first come, first served');
});

t.test('the pool renders what the main thread renders; fonts parsed once per worker', async (t) => {
  const events: string[] = [];
  const pool = new RenderPool({ size: 2, onEvent: (e) => events.push(e.event) });
  t.teardown(() => pool.close());
  await pool.ready();
  const pdfs = await Promise.all([1, 2, 3, 4, 5].map(() => pool.render(fast())));
  const here = await renderCertificatePdf(fast());
  for (const p of pdfs) t.equal(text(p), text(here));
  t.same(events, ['ready', 'ready'], 'each worker parsed the fonts once, at start, and never again');
});

t.test('a worker that dies fails its own request with RENDER_FAILED, is replaced, and the others go on', async (t) => {
  const events: string[] = [];
  const pool = new RenderPool({ size: 2, onEvent: (e) => events.push(e.event) });
  t.teardown(() => pool.close());
  await pool.ready();
  const doomed = pool.render(slow());
  const other = pool.render(fast());
  const queued = [pool.render(fast()), pool.render(fast())];
  // kill the worker holding the slow document while it renders
  await new Promise((r) => setTimeout(r, 20));
  const victim = pool.busy().find((b) => b.issuanceId === 'slow-0001');
  t.ok(victim, 'the slow document is being rendered');
  await victim!.worker.terminate();
  const err = await doomed.then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof KonbiniError, 'a KonbiniError');
  t.equal((err as KonbiniError).code, 'RENDER_FAILED');
  t.ok((await other).length > 1000, 'the other request is answered');
  for (const q of queued) t.ok((await q).length > 1000, 'queued requests are answered');
  t.ok(events.includes('replaced'), 'the worker was replaced');
  const after = await pool.render(slow());
  t.ok(after.length > 1000, 'the pool is whole again: a slow document renders');
  // the replacement parses its fonts before it says ready: seconds on a busy machine
  for (const end = Date.now() + 60_000; events.filter((e) => e === 'ready').length < 3 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
  t.equal(events.filter((e) => e === 'ready').length, 3, 'two workers, and one replacement');
});

t.test('the server issues through the pool: bound and signed in the main thread, accepted by the kiosk check', async (t) => {
  const pki = makeTestPki();
  const now = new Date();
  const app = await buildApp({ tls: { ...pki.server, ca: pki.ca }, dataset: testDataset(now).dataset, now: () => now, renderWorkers: 2, log: { level: 'silent' } });
  t.teardown(async () => {
    await app.close();
    pki.cleanup();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const replies = await Promise.all(
    ids.map((issuanceId, i) => call({ port, ca: pki.ca, client: pki.centre, path: '/v1/issue', body: { issuanceId, kioskId: 'K0001', cardSerial: SERIAL.takahashi, certType: 'resident-record', options: { scope: 'household' }, copies: i + 1 } })),
  );
  replies.forEach((r, i) => {
    t.equal(r.status, 200);
    t.equal(verifyBinding(r.body, { issuanceId: ids[i]!, cardSerial: SERIAL.takahashi }).issuanceId, ids[i], 'each document is its own, bound to its issuance');
  });
});
