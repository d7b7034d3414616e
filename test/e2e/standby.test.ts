/**
 * A PostgreSQL primary with a synchronous streaming standby, both owned by this
 * test (initdb and pg_basebackup -R into its own directory, its own ports, run as
 * the postgres user and stopped by their PIDs). The centre's ledger URL names both
 * hosts with target_session_attrs=read-write; the city worker has one URL.
 *
 * Kiosks issue; then, while a resident is paying, the primary goes down
 * (immediate shutdown, SIGQUIT to its postmaster) and the standby is promoted. The
 * centre finds the new primary by itself (same process, no restart); the city
 * worker is restarted with the new primary's URL on the same port. Afterwards the
 * new primary holds every issuance committed before the failure (nothing lost),
 * the resident who was paying is charged once for the sheet that came out, the
 * city's 交付記録 agrees, the ledger chain verifies, and new residents are served.
 */
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, appendFileSync, mkdtempSync, openSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { buildApp as buildCity, openPgDb, signerConfigFromHsmDir } from 'city-cert-server';
import { buildApp as buildCentre } from 'issuance-center';
import { KonbiniError } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../../kiosk-sim/src/reader/in-process-reader.js';
import { CentreConnection } from '../../kiosk-sim/src/centre/connection.js';
import { TrayPrinter } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance, type IssuanceStep } from '../../kiosk-sim/src/session/issuance.js';
import { ROOT, cardProfiles, centreDirectory, cityDataset, devCentreOptions, pkiFiles, requireFixtures } from './stack.js';
import { writeFaultReport } from './fault-report.js';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const pgUser = await run('id', ['-u', 'postgres']).then(
  async (r) => ({ uid: Number(r.stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) }),
  () => undefined,
);
const skip = !existsSync(join(BIN, 'postgres')) ? `no PostgreSQL 15 binaries in ${BIN}` : !pgUser ? 'no postgres user' : process.getuid?.() !== 0 ? 'needs root (runs the servers as the postgres user)' : false;

async function query(port: number, db: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/${db}`, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function waitReady(port: number, ms = 30_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await query(port, 'postgres', 'SELECT 1');
      return;
    } catch (err) {
      if (Date.now() - started > ms) throw err;
      await sleep(200);
    }
  }
}

t.test('synchronous standby promoted mid-issuance: nothing committed is lost, the centre reconnects by itself, the city after a restart with the new URL', { skip }, async (t) => {
  requireFixtures();
  const { uid, gid } = pgUser!;
  const asPostgres = { uid, gid, env: { ...process.env, LC_ALL: 'C.UTF-8' } };
  const dir = mkdtempSync(join(tmpdir(), 'konbini-standby-'));
  chownSync(dir, uid, gid);
  const primaryDir = join(dir, 'primary');
  const standbyDir = join(dir, 'standby');
  const [p1, p2] = [await freePort(), await freePort()];
  const servers = new Map<string, { child: ChildProcess; exited: Promise<unknown> }>();
  const closers: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const { child, exited } of servers.values()) {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGQUIT');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const startServer = (name: string, dataDir: string, port: number) => {
    const log = openSync(join(dir, `${name}.log`), 'a');
    chownSync(join(dir, `${name}.log`), uid, gid);
    const child = spawn(join(BIN, 'postgres'), ['-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'], { ...asPostgres, stdio: ['ignore', log, log] });
    servers.set(name, { child, exited: new Promise((r) => child.once('exit', r)) });
    return child;
  };

  // The primary: initdb (its pg_hba trusts 127.0.0.1, replication included), then the standby from a base backup.
  await run(join(BIN, 'initdb'), ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions'], asPostgres);
  appendFileSync(primaryDir + '/postgresql.conf', `\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nwal_keep_size = 64MB\n`);
  startServer('primary', primaryDir, p1);
  await waitReady(p1);
  const suffix = Math.random().toString(36).slice(2, 8);
  const cityDb = `konbini_standby_city_${suffix}`;
  const centreDb = `konbini_standby_centre_${suffix}`;
  await query(p1, 'postgres', `CREATE DATABASE ${cityDb}`);
  await query(p1, 'postgres', `CREATE DATABASE ${centreDb}`);
  await run(join(BIN, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(p1), '-U', 'postgres', '-D', standbyDir, '-R', '-X', 'stream', '--checkpoint=fast', '-d', `application_name=standby1`], asPostgres);
  startServer('standby', standbyDir, p2);
  await waitReady(p2);
  t.equal((await query(p2, 'postgres', 'SELECT pg_is_in_recovery() AS r')).rows[0].r, true, 'the standby is in recovery, streaming from the primary');
  // Synchronous: a COMMIT returns only once the standby has the WAL (what makes "nothing committed is lost" true).
  await query(p1, 'postgres', `ALTER SYSTEM SET synchronous_standby_names = 'standby1'`);
  await query(p1, 'postgres', 'SELECT pg_reload_conf()');
  for (let i = 0; i < 50; i++) {
    const r = (await query(p1, 'postgres', `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'`)).rows[0];
    if (r?.sync_state === 'sync') break;
    await sleep(200);
  }
  t.equal((await query(p1, 'postgres', `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'`)).rows[0]?.sync_state, 'sync', 'the standby is synchronous');

  const directory = centreDirectory();
  const cityCode = directory.cities[0]!.code;
  const dataset = cityDataset(cityCode);
  const lgwanCa = pkiFiles('lgwan-ca').cert;
  const cityTls = pkiFiles(`lgwan-city-${cityCode}`);
  let cityPort = 0;
  /** A city worker on `port`'s database; the same listening port each time. */
  const startCity = async (port: number) => {
    const db = await openPgDb({ connectionString: `postgres://postgres@127.0.0.1:${port}/${cityDb}`, max: 4 });
    const city = await buildCity({
      tls: { key: cityTls.key, cert: cityTls.cert, ca: lgwanCa },
      dataset,
      db: { instance: db },
      log: { level: 'silent' },
      signer: signerConfigFromHsmDir(join(ROOT, 'var/hsm'), cityCode),
    });
    await city.listen({ port: cityPort, host: '127.0.0.1' });
    cityPort = (city.server.address() as AddressInfo).port;
    const close = async () => {
      await city.close();
      await db.close().catch(() => undefined);
    };
    closers.push(close);
    return close;
  };
  let stopCity = await startCity(p1);

  const ledgerUrl = `postgres://postgres@127.0.0.1:${p1},127.0.0.1:${p2}/${centreDb}?target_session_attrs=read-write`;
  const centre = buildCentre({
    ...devCentreOptions(cityPort, directory),
    ledgerDb: { url: ledgerUrl },
    kioskRate: { burst: 1_000_000, perSecond: 1_000_000 },
    logger: false,
  });
  await centre.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => centre.close());
  const centrePort = (centre.server.address() as AddressInfo).port;
  const origin = `wss://localhost:${centrePort}`;
  const tls = pkiFiles('kiosk-K0001');
  const kioskTls = { key: tls.key, cert: tls.cert, ca: pkiFiles('kiosk-line-ca').cert };
  const cards = cardProfiles().filter((c) => c.scenario === 'ok' && c.cityCode === cityCode);
  const tmp = join(dir, 'kiosk');
  let n = 0;
  async function issue(at?: { step: IssuanceStep; run: () => Promise<unknown> }) {
    const card = cards[n++ % cards.length]!;
    const tray = join(tmp, `tray-${n}`);
    const conn = await CentreConnection.connect(`wss://localhost:${centrePort}/v1/kiosk`, kioskTls);
    const reader = new InProcessReader();
    reader.insert(VirtualCard.fromProfile(structuredClone(card)));
    let fired: Promise<unknown> | undefined;
    try {
      const r = await runIssuance({ kioskId: 'K0001', centreOrigin: origin }, reader, conn, new TrayPrinter(join(tmp, `spool-${n}`), tray), {
        step: (name) => {
          if (name === 'remove-card') reader.remove();
          if (at && name === at.step && !fired) fired = at.run();
        },
        pin: async () => card.jpki.authPin,
        choose: async () => ({ certType: 'resident-record', options: { scope: 'self' }, copies: 1 }),
        pay: async (fee) => {
          await fired; // the resident is still at the payment screen while the database fails over
          return { paid: fee, change: 0 };
        },
      });
      return { issuanceId: r.issuanceId, charged: r.charged, sheets: readdirSync(tray), fired };
    } catch (err) {
      return { error: err instanceof KonbiniError ? err.code : String(err), sheets: existsSync(tray) ? readdirSync(tray) : [], fired };
    } finally {
      await reader.close();
      conn.close();
    }
  }

  // Before: residents served on the primary.
  const before: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await issue();
    t.ok('issuanceId' in r && r.issuanceId, `before the failover: issuance ${i + 1} printed (${'error' in r ? r.error : ''})`);
    if ('issuanceId' in r && r.issuanceId) before.push(r.issuanceId);
  }

  // The failover, while a resident pays: primary down, standby promoted, city worker restarted with the new URL.
  let failoverMs = 0;
  const failover = async () => {
    const started = Date.now();
    const primary = servers.get('primary')!;
    process.kill(primary.child.pid!, 'SIGQUIT');
    await primary.exited;
    await query(p2, 'postgres', 'SELECT pg_promote(true, 60)');
    failoverMs = Date.now() - started;
    await stopCity();
    stopCity = await startCity(p2);
  };
  const during = await issue({ step: 'paid', run: failover });
  await during.fired;
  t.ok('issuanceId' in during && during.issuanceId, `the resident paying during the failover gets the sheet (${'error' in during ? during.error : ''})`);
  t.equal((await query(p2, 'postgres', 'SELECT pg_is_in_recovery() AS r')).rows[0].r, false, 'the standby is now the primary');

  // After: the same centre process, new residents.
  const after: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await issue();
    t.ok('issuanceId' in r && r.issuanceId, `after the failover: issuance ${i + 1} printed by the same centre process (${'error' in r ? r.error : ''})`);
    if ('issuanceId' in r && r.issuanceId) after.push(r.issuanceId);
  }

  // Wait for the city to have been told every outcome (the notice for the paying resident went to a city that was restarting).
  const all = [...before, ...('issuanceId' in during && during.issuanceId ? [during.issuanceId] : []), ...after];
  let cityRows: { issuance_id: string; status: string }[] = [];
  for (let i = 0; i < 150; i++) {
    cityRows = (await query(p2, cityDb, 'SELECT issuance_id, status FROM issuance_records')).rows;
    if (all.every((id) => cityRows.find((r) => r.issuance_id === id)?.status === 'printed')) break;
    await sleep(200);
  }
  const ledger = (await query(p2, centreDb, 'SELECT issuance_id, outcome, charged FROM ledger_record')).rows as { issuance_id: string; outcome: string; charged: number }[];
  t.equal(new Set(ledger.map((r) => r.issuance_id)).size, ledger.length, 'each issuance recorded once: no double charge');
  for (const id of before) t.equal(ledger.find((r) => r.issuance_id === id)?.outcome, 'printed', `${id.slice(0, 8)} (committed before the failure): on the new primary, printed`);
  for (const id of all) {
    const l = ledger.find((r) => r.issuance_id === id);
    t.ok(l && l.charged > 0, `${id.slice(0, 8)}: charged once`);
    t.equal(cityRows.find((r) => r.issuance_id === id)?.status, 'printed', `${id.slice(0, 8)}: the city's 交付記録 says printed`);
  }
  const verify = await run(process.execPath, [join(ROOT, 'issuance-center/bin/issuance-center.js'), 'ledger', 'verify', '--db', `postgres://postgres@127.0.0.1:${p2}/${centreDb}`, '--json'], { encoding: 'utf8' }).catch(
    (e: { stdout: string }) => ({ stdout: e.stdout }),
  );
  t.match(verify.stdout, /"ok"\s*:\s*true/, 'ledger verify on the new primary: one intact chain');

  const d = during as { issuanceId?: string; error?: string; sheets: string[] };
  const dl = ledger.find((r) => r.issuance_id === d.issuanceId);
  writeFaultReport({
    test: 'standby',
    title: 'Primary lost, synchronous standby promoted: test/e2e/standby.test.ts',
    rows: [
      {
        fault: `primary immediate shutdown (SIGQUIT), standby promoted (${(failoverMs / 1000).toFixed(1)} s), city worker restarted with the new URL`,
        step: 'paid',
        kiosk: d.issuanceId ? 'printed' : `error ${d.error}`,
        printed: d.sheets.length === 1,
        charged: (dl?.charged ?? 0) > 0,
        ledger: dl?.outcome ?? 'none',
        city: cityRows.find((r) => r.issuance_id === d.issuanceId)?.status ?? 'none',
        agree: (dl?.charged ?? 0) > 0 === (cityRows.find((r) => r.issuance_id === d.issuanceId)?.status === 'printed') && d.sheets.length === 1 === ((dl?.charged ?? 0) > 0),
        recovered: `centre: same process, multi-host URL found the new primary; city: restarted with the new URL; ${after.length}/3 issuances after`,
        issuanceId: d.issuanceId,
        note: `${before.filter((id) => ledger.some((r) => r.issuance_id === id)).length}/${before.length} issuances committed before the failure found on the new primary`,
      },
    ],
  });
});
