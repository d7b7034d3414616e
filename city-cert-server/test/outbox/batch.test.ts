import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { CentreNotifier, type CentreNotifierOptions } from '../../src/outbox/centre-notifier.js';
import { enqueueCardChanges, outboxStatus } from '../../src/outbox/schema.js';
import type { Db } from '../../src/replica/db.js';
import { testDataset } from '../helpers/dataset.js';
import { backends } from '../replica/backends.js';
import { perBackend } from '../sync/helpers.js';
import { lgwanPki, startCentre, until } from './helpers.js';

/*
 * The outbox sends card link changes in batches (POST /v1/card-links/batch): a full
 * load of a large city queues hundreds of thousands, one call per card took an hour.
 * What a city's staff would notice: every change arrives, once, in order, with several
 * workers sharing the replica; a change the centre refuses holds up only itself and
 * what follows it, and goes once the cause is put right. A real centre, on each backend.
 */

t.setTimeout(300_000);
const dir = mkdtempSync(join(tmpdir(), 'city-outbox-batch-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const { dataset } = testDataset(new Date());
const CITY = dataset.city.code;
const pki = lgwanPki(dir, CITY);
const serialRef = (s: string) => `card:${createHash('sha256').update(s.toLowerCase()).digest('hex').slice(0, 16)}`;
const serialOf = (i: number) => (0xa0000000 + i).toString(16);

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(c: Buffer, _e, done) {
        for (const l of c.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { lines, log };
}

const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

perBackend(list, null, async (t, db, backend) => {
  const centre = await startCentre(pki, dataset.city, [], 0, pki.centre);
  t.teardown(() => centre.app.close());
  const opts = (extra: Partial<CentreNotifierOptions> = {}): CentreNotifierOptions => ({
    url: `https://127.0.0.1:${centre.port}`,
    centreCert: pki.centre.cert,
    tls: { ...pki.city, ca: pki.ca },
    pollMs: 100,
    backoffMs: 50,
    maxBackoffMs: 200,
    ...extra,
  });
  const notifiers: CentreNotifier[] = [];
  t.teardown(() => Promise.all(notifiers.map((n) => n.stop())));
  const notifier = (on: Db, extra: Partial<CentreNotifierOptions>, log = pino({ level: 'silent' })) => {
    const n = new CentreNotifier(on, { ...opts(), ...extra }, log);
    notifiers.push(n);
    return n;
  };

  await t.test('2,300 changes in calls of 1,000; a refused change waits at the head until its cause is gone', async (t) => {
    const N = 2300;
    const contested = serialOf(1500);
    // the centre holds this card for another city: the city's add is FORBIDDEN there
    await centre.app.directory.linkCard({ serial: contested, cityCode: '999990', validFrom: '2000-01-01' });
    await enqueueCardChanges(db, Array.from({ length: N }, (_, i) => ({ seq: i + 1, kind: 'card-issue', serial: serialOf(i) })));
    const { lines, log } = logSink();
    const n = notifier(db, {}, log);
    n.start();
    const stuck = await until(() => outboxStatus(db), (s) => s.head?.lastError === 'FORBIDDEN', 120_000);
    t.match(stuck, { pending: N - 1500, head: { seq: 1501, op: 'add', lastError: 'FORBIDDEN' } }, 'everything before the refused change delivered; it and what follows wait');
    t.equal(await centre.refusal(serialOf(1499)), 'CARD_LINK_NOT_YET_VALID', 'the change right before it: linked at the centre');
    t.equal(await centre.refusal(serialOf(1501)), 'CARD_NOT_LINKED', 'the change right after it: not sent past the refusal');
    const delivered = lines.filter((l) => l.result === 'delivered');
    t.same(delivered.map((l) => l.applied), [1000, 500], 'two calls: a full batch, then the part before the refusal');
    t.ok(lines.some((l) => l.code === 'FORBIDDEN' && String(l.msg).includes('seq 1501 add: attempt')), 'the refusal logged with the change it stopped at');

    await centre.app.directory.removeLink(contested, '999990', new Date());
    t.equal((await until(() => outboxStatus(db), (s) => s.pending === 0, 120_000)).pending, 0, 'once the other city let the card go, the rest is delivered');
    const states = new Set(await Promise.all(Array.from({ length: N }, (_, i) => centre.refusal(serialOf(i)))));
    t.same([...states], ['CARD_LINK_NOT_YET_VALID'], 'all 2,300 linked at the centre');
    const audit = (await centre.app.audit.list({ limit: 1000, action: 'card-link-add' })).filter((e) => e.outcome === 'ok').reverse();
    t.same(audit.slice(-3).map((e) => e.target), [N - 3, N - 2, N - 1].map((i) => serialRef(serialOf(i))), 'in queue order at the centre');
    t.notOk(lines.some((l) => l.dropped), 'every log field allow-listed');
    t.notOk(JSON.stringify(lines).includes(serialOf(7)), 'no card serial in the log');
    await n.stop();
  });

  await t.test('two workers on one replica, small batches: each change once, in order', async (t) => {
    const N = 600;
    const base = 10_000;
    await enqueueCardChanges(db, Array.from({ length: N }, (_, i) => ({ seq: 5000 + i, kind: i % 3 === 2 ? 'card-revoke' : 'card-issue', serial: serialOf(base + (i % 3 === 2 ? i - 1 : i)) })));
    // a centre of its own, so that its audit log holds only these changes
    const fresh = await startCentre(pki, dataset.city, [], 0, pki.centre);
    t.teardown(() => fresh.app.close());
    const at = { url: `https://127.0.0.1:${fresh.port}` };
    // PostgreSQL: two connections as two workers would have; PGlite: one database, two loops
    const other = backend.name === 'postgres' ? await backend.open() : db;
    if (other !== db) t.teardown(() => other.close());
    const a = notifier(db, { ...at, batchSize: 25 });
    const b = notifier(other, { ...at, batchSize: 25 });
    a.start();
    b.start();
    t.equal((await until(() => outboxStatus(db), (s) => s.pending === 0, 120_000)).pending, 0, 'drained by the two');
    const events = (await fresh.app.audit.list({ limit: 1000 })).reverse();
    const expected = Array.from({ length: N }, (_, i) => [i % 3 === 2 ? 'card-link-remove' : 'card-link-add', serialRef(serialOf(base + (i % 3 === 2 ? i - 1 : i)))]);
    t.same(
      events.map((e) => [e.action, e.target]),
      expected,
      'the centre saw every change exactly once, in the queue’s order (each revoke after its card’s issue)',
    );
    t.same([...new Set(await Promise.all([1, 4, 7].map((i) => fresh.refusal(serialOf(base + i)))))], ['CARD_NOT_LINKED'], 'issued then revoked: not linked in the end');
    t.same([...new Set(await Promise.all([0, 3, 6].map((i) => fresh.refusal(serialOf(base + i)))))], ['CARD_LINK_NOT_YET_VALID'], 'issued only: linked');
  });
});
