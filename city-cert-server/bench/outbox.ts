/**
 * How fast a city's card link changes reach the centre's card directory: N adds queued
 * in the replica's outbox (as a full load queues one per linked card), delivered by the
 * real delivery loop to a real centre over mutual TLS, the centre's directory on the
 * PostgreSQL server (as deployed; PGlite when no server answers). Batches of 1,000
 * (what the city does) against one change per call (what it did before), same run.
 *
 *   node --import tsx --conditions=konbini-source city-cert-server/bench/outbox.ts [--changes 100000] [--single 2000]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { buildApp as buildCentre, fingerprintOf } from 'issuance-center';
import { migrate, openPgliteDb } from '../src/index.js';
import { CentreNotifier } from '../src/outbox/centre-notifier.js';
import { enqueueCardChanges, outboxStatus } from '../src/outbox/schema.js';
import { lgwanPki } from '../test/outbox/helpers.js';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '100000' }, single: { type: 'string', default: '2000' } } });
const CHANGES = Number(values.changes);
const SINGLE = Number(values.single);
const CITY = { code: '999997', name: '架空市', prefecture: '架空県' };
const PG_ADMIN = process.env.KONBINI_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const dir = mkdtempSync(join(tmpdir(), 'bench-outbox-'));
const pki = lgwanPki(dir, CITY.code);

async function admin(sql: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  try {
    await c.connect();
    await c.query(sql);
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const centreDbName = `konbini_bench_centre_${randomBytes(4).toString('hex')}`;
const onServer = await admin(`CREATE DATABASE ${centreDbName}`);
const centreDb = onServer ? { url: PG_ADMIN.replace(/\/[^/]*$/, `/${centreDbName}`) } : { dataDir: join(dir, 'centre') };

const centre = buildCentre({
  kioskTls: { key: pki.centre.key, cert: pki.centre.cert, ca: pki.ca },
  lgwanTls: { key: pki.centre.key, cert: pki.centre.cert, ca: pki.ca },
  jpki: { roots: [pki.ca] },
  directory: { cities: [{ ...CITY, endpoint: 'https://localhost:1', fingerprint256: fingerprintOf(pki.city.cert), status: 'active', fees: {} }], cards: [], kiosks: [] },
  ledgerDb: centreDb,
  logger: false,
  cityApiListen: { host: '127.0.0.1', port: 0 },
});
await centre.listen({ port: 0, host: '127.0.0.1' });

const replica = await openPgliteDb();
await migrate(replica);

async function deliver(n: number, batchSize: number, offset: number): Promise<{ changes: number; batchSize: number; seconds: number; perSecond: number }> {
  await enqueueCardChanges(replica, Array.from({ length: n }, (_, i) => ({ seq: offset + i + 1, kind: 'card-issue', serial: (0xb000000000 + offset + i).toString(16) })));
  const notifier = new CentreNotifier(replica, { url: `https://127.0.0.1:${centre.cityApi!.port()}`, centreCert: pki.centre.cert, tls: { ...pki.city, ca: pki.ca }, pollMs: 50, batchSize }, pino({ level: 'silent' }));
  const started = performance.now();
  notifier.start();
  for (;;) {
    if ((await outboxStatus(replica)).pending === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await notifier.stop();
  return { changes: n, batchSize, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(n / seconds) };
}

const load = loadavg()[0];
const single = await deliver(SINGLE, 1, 0);
const batched = await deliver(CHANGES, 1000, SINGLE);
await replica.close();
await centre.close();
if (onServer) await admin(`DROP DATABASE IF EXISTS ${centreDbName} WITH (FORCE)`);
rmSync(dir, { recursive: true, force: true });
const result = {
  bench: 'outbox',
  cores: cpus().length,
  loadAverageAtStart: Math.round(load * 10) / 10,
  centreDirectory: onServer ? 'postgresql' : 'pglite',
  replica: 'pglite',
  single,
  batched,
  speedup: Math.round((batched.perSecond / single.perSecond) * 10) / 10,
  hoursFor506641: { single: Math.round((506_641 / single.perSecond / 3600) * 100) / 100, batched: Math.round((506_641 / batched.perSecond / 3600) * 1000) / 1000 },
};
process.stdout.write(`${JSON.stringify(result)}\n`);
