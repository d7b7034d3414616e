/**
 * Faults without killing a process: the line breaks. A TCP proxy the test owns
 * sits on each leg (kiosk ↔ centre, centre ↔ city, both services ↔ PostgreSQL).
 * The kiosk line and the city's HTTP response are cut in the middle of the PDF,
 * the kiosk line is cut after the document arrived and after printing, the
 * PostgreSQL backends of the test's two databases are terminated
 * (pg_terminate_backend), and PostgreSQL is "down" for a few seconds (every
 * connection reset, new ones refused), each at a step of an issuance.
 *
 * After each: nothing partial in a tray, the ledger charges only what the city
 * records printed (and never twice), a sheet that came out is charged (the kiosk's
 * journal reports it on its next connection when the line dropped before the
 * report: the centre keeps the issuance open for that during a grace period),
 * nothing is left pending, the ledger chain verifies, and the same processes serve
 * the next resident (pools reconnect; no restart). Each fault and its outcome go to the fault report (var/reports/faults.md).
 *
 * Needs the PostgreSQL server of this machine kind (127.0.0.1:5432, trust); the
 * test creates two databases with unique names and drops them.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
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
import { OutcomeJournal } from '../../kiosk-sim/src/session/journal.js';
import { ROOT, cardProfiles, centreDirectory, cityDataset, devCentreOptions, pkiFiles, requireFixtures } from './stack.js';
import { TcpProxy } from './tcp-proxy.js';
import { writeFaultReport, type FaultRow } from './fault-report.js';

const run = promisify(execFile);

// Each fault and the next issuance, on a shared 2-core machine: beyond tap's default when the machine is busy.
t.setTimeout(900_000);

// In two of four CI runs (2026-12-07) this file passed every assertion and then never
// exited. gdb on the hung process: no JavaScript left, the main thread spinning in
// node::Environment::CleanupHandles (uv_run ONCE, over and over) at exit, every
// thread-pool thread idle, two sockets still open: the exit-time close of sockets the
// TCP proxies had reset (resetAndDestroy) never completing. So, once the event loop is
// empty and tap has written everything, exit without that clean-up, with tap's code.
process.once('beforeExit', () => process.exit(process.exitCode ?? 0));
const PG = 'postgres://postgres@127.0.0.1:5432';

async function admin(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: `${PG}/postgres` });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

const reachable = await admin('SELECT 1').then(
  () => true,
  () => false,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Fault =
  | { kind: 'kiosk-line-mid-document' }
  | { kind: 'city-response-mid-document' }
  | { kind: 'kiosk-line'; at: IssuanceStep }
  | { kind: 'pg-terminate'; at: IssuanceStep }
  | { kind: 'pg-down'; at: IssuanceStep; ms: number };

t.test('lines cut and PostgreSQL lost at each step: no partial print, no double charge, records agree, pools reconnect', { skip: reachable ? false : 'no PostgreSQL server on 127.0.0.1:5432' }, async (t) => {
  requireFixtures();
  const suffix = randomBytes(4).toString('hex');
  const cityDbName = `konbini_faults_city_${suffix}`;
  const centreDbName = `konbini_faults_centre_${suffix}`;
  await admin(`CREATE DATABASE ${cityDbName}`);
  await admin(`CREATE DATABASE ${centreDbName}`);
  const closers: (() => Promise<unknown>)[] = [];
  const closerNames: string[] = [];
  const closing = (name: string, close: () => Promise<unknown>) => {
    closers.push(close);
    closerNames.push(name);
  };
  t.teardown(async () => {
    // A closer that hangs says its name (30 s each), and a process kept alive a minute
    // after the teardown prints what keeps it alive and fails fast.
    for (const [i, close] of [...closers.entries()].reverse()) {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const overrun = new Promise<'overrun'>((r) => (timer = setTimeout(() => r('overrun'), 30_000)));
      const how = await Promise.race([close().then(() => 'closed', () => 'failed'), overrun]);
      clearTimeout(timer);
      if (how === 'overrun') process.stderr.write(`faults-connections teardown: closer #${i} (${closerNames[i]}) still running after ${Date.now() - started} ms; active: ${process.getActiveResourcesInfo().join(',')}\n`);
    }
    await admin(`DROP DATABASE IF EXISTS ${cityDbName} WITH (FORCE)`);
    await admin(`DROP DATABASE IF EXISTS ${centreDbName} WITH (FORCE)`);
    setTimeout(() => {
      process.stderr.write(`faults-connections: still alive a minute after the teardown; active: ${process.getActiveResourcesInfo().join(',')}\n`);
      process.exit(1);
    }, 60_000).unref();
  });

  // PostgreSQL behind a proxy the test owns: both services reach the server through it.
  const pgProxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
  closing('pg proxy', () => pgProxy.close());
  const PGP = `postgres://postgres@127.0.0.1:${pgProxy.port}`;

  const directory = centreDirectory();
  const cityCode = directory.cities[0]!.code;
  const dataset = cityDataset(cityCode);
  const lgwanCa = pkiFiles('lgwan-ca').cert;
  const cityTls = pkiFiles(`lgwan-city-${cityCode}`);

  const cityDb = await openPgDb({ connectionString: `${PGP}/${cityDbName}`, max: 4 });
  const city = await buildCity({
    tls: { key: cityTls.key, cert: cityTls.cert, ca: lgwanCa },
    dataset,
    db: { instance: cityDb },
    log: { level: 'silent' },
    signer: signerConfigFromHsmDir(join(ROOT, 'var/hsm'), cityCode),
  });
  await city.listen({ port: 0, host: '127.0.0.1' });
  closing('city replica pool', () => cityDb.close());
  closing('city server', () => city.close());
  const cityProxy = await TcpProxy.start({ host: '127.0.0.1', port: (city.server.address() as AddressInfo).port });
  closing('city proxy', () => cityProxy.close());

  const centre = buildCentre({
    ...devCentreOptions(cityProxy.port, directory),
    ledgerDb: { url: `${PGP}/${centreDbName}` },
    kioskRate: { burst: 1_000_000, perSecond: 1_000_000 },
    // The kiosk reconnects within seconds here; long enough for a loaded machine, short beside the default 15 min.
    kioskReportGraceMs: 60_000,
    logger: false,
  });
  await centre.listen({ port: 0, host: '127.0.0.1' });
  closing('centre', () => centre.close());
  const centrePort = (centre.server.address() as AddressInfo).port;
  const kioskProxy = await TcpProxy.start({ host: '127.0.0.1', port: centrePort });
  closing('kiosk proxy', () => kioskProxy.close());
  // The kiosk signs the origin it is configured with: the centre's own (the proxy is on the line, not a new centre).
  const origin = `wss://localhost:${centrePort}`;
  const kioskUrl = `wss://localhost:${kioskProxy.port}/v1/kiosk`;

  const cards = cardProfiles().filter((c) => c.scenario === 'ok' && c.cityCode === cityCode);
  const tmp = mkdtempSync(join(tmpdir(), 'konbini-faults-conn-'));
  closing('kiosk files', async () => rmSync(tmp, { recursive: true, force: true }));
  const tls = pkiFiles('kiosk-K0001');
  const kioskTls = { key: tls.key, cert: tls.cert, ca: pkiFiles('kiosk-line-ca').cert };
  // One kiosk (K0001), one journal across its connections, as on the kiosk's disk.
  const lateReports: { issuanceId: string; outcome: string; charged: number }[] = [];
  const journal = new OutcomeJournal(join(tmp, 'K0001', 'journal'), 'K0001', (event, info) => {
    if (event === 'late-report') lateReports.push({ issuanceId: String(info.issuanceId), outcome: String(info.outcome), charged: Number(info.charged) });
  });

  const terminateBackends = async () =>
    (await admin(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = ANY($1) AND application_name <> 'konbini-fault-check'`, [[cityDbName, centreDbName]])).rows[0].n as number;

  let n = 0;
  /** One issuance at a kiosk on its own line; `fault` fires when the kiosk reaches its step. */
  async function issue(fault?: Fault) {
    const card = cards[n++ % cards.length]!;
    const tray = join(tmp, `tray-${n}`);
    const printer = new TrayPrinter(join(tmp, `spool-${n}`), tray);
    const conn = await CentreConnection.connect(kioskUrl, kioskTls);
    const reader = new InProcessReader();
    reader.insert(VirtualCard.fromProfile(structuredClone(card)));
    let injected: Promise<unknown> | undefined;
    const at = fault && 'at' in fault ? fault.at : 'requesting';
    const inject = () => {
      if (!fault) return;
      switch (fault.kind) {
        case 'kiosk-line-mid-document':
          // The centre sends issue.accepted (a few hundred bytes) and then the PDF: cut 6 KB in.
          return kioskProxy.cutAfter(6_000);
        case 'city-response-mid-document':
          return cityProxy.cutAfter(6_000);
        case 'kiosk-line':
          return Promise.resolve(kioskProxy.cutAll());
        case 'pg-terminate':
          return terminateBackends();
        case 'pg-down':
          pgProxy.setDown(true);
          return sleep(fault.ms).then(() => pgProxy.setDown(false));
      }
    };
    let result: { issuanceId: string; charged: number; reported: boolean } | undefined;
    let error: string | undefined;
    try {
      const r = await runIssuance({ kioskId: 'K0001', centreOrigin: origin, journal }, reader, conn, printer, {
        step: (name) => {
          if (name === 'remove-card') reader.remove();
          if (fault && name === at && !injected) injected = inject() ?? Promise.resolve();
        },
        pin: async () => card.jpki.authPin,
        choose: async () => ({ certType: 'resident-record', options: { scope: 'self' }, copies: 1 }),
        pay: async (fee) => ({ paid: fee, change: 0 }),
      });
      result = { issuanceId: r.issuanceId, charged: r.charged, reported: r.reported };
    } catch (err) {
      error = err instanceof KonbiniError ? err.code : String(err);
    } finally {
      await reader.close();
      conn.close();
    }
    kioskProxy.disarm();
    cityProxy.disarm();
    await injected;
    let sheets: string[] = [];
    if (existsSync(tray)) sheets = readdirSync(tray);
    return { result, error, injected: injected !== undefined, tray, sheets };
  }

  // The test's own look at both databases (not through the proxy, spared by the terminations).
  const centreDb = new pg.Client({ connectionString: `${PG}/${centreDbName}`, application_name: 'konbini-fault-check' });
  const cityDbDirect = new pg.Client({ connectionString: `${PG}/${cityDbName}`, application_name: 'konbini-fault-check' });
  await centreDb.connect();
  await cityDbDirect.connect();
  closing('test client (centre db)', () => centreDb.end());
  closing('test client (city db)', () => cityDbDirect.end());
  const state = async () => {
    const ledger = (await centreDb.query(`SELECT issuance_id, outcome, charged, document_sha256 FROM ledger_record`)).rows as { issuance_id: string; outcome: string; charged: number; document_sha256: string | null }[];
    const pending = (await centreDb.query(`SELECT issuance_id, status FROM ledger_pending`)).rows as { issuance_id: string; status: string }[];
    const cityRows = (await cityDbDirect.query(`SELECT issuance_id, status FROM issuance_records`)).rows as { issuance_id: string; status: string }[];
    return { ledger, pending, cityRows };
  };
  /** Until nothing is pending and the city has been told every outcome (or the time is up). */
  const settled = async (ids: string[], ms = 30_000) => {
    const started = Date.now();
    for (;;) {
      const s = await state();
      const open = s.pending.filter((p) => ids.includes(p.issuance_id)).length + s.cityRows.filter((c) => ids.includes(c.issuance_id) && c.status === 'issued').length;
      if (open === 0 || Date.now() - started > ms) return { ...s, waitedMs: Date.now() - started };
      await sleep(200);
    }
  };

  // One clean issuance first: the stack works through its proxies.
  const first = await issue();
  t.equal(first.error, undefined, 'a clean issuance through the proxies prints');
  const seen = new Set<string>();
  for (const s of [await state()]) for (const id of [...s.ledger.map((r) => r.issuance_id), ...s.cityRows.map((r) => r.issuance_id)]) seen.add(id);

  const scenarios: { name: string; step: string; fault: Fault }[] = [
    { name: 'kiosk ↔ centre line cut mid-document (TCP reset 6 KB into the stream)', step: 'receiving', fault: { kind: 'kiosk-line-mid-document' } },
    { name: 'city → centre HTTP response cut mid-document (TCP reset 6 KB in)', step: 'receiving', fault: { kind: 'city-response-mid-document' } },
    { name: 'kiosk ↔ centre line cut after the document arrived', step: 'verified', fault: { kind: 'kiosk-line', at: 'verified' } },
    { name: 'kiosk ↔ centre line cut after printing, before the report', step: 'printed', fault: { kind: 'kiosk-line', at: 'printed' } },
    ...(['authenticating', 'requesting', 'receiving', 'verified', 'printed'] as const).map((at) => ({
      name: 'PostgreSQL backends of both databases terminated',
      step: at,
      fault: { kind: 'pg-terminate', at } as Fault,
    })),
    ...(['requesting', 'receiving', 'paid', 'printed'] as const).map((at) => ({
      name: 'PostgreSQL unreachable for 3 s (connections reset, new ones refused)',
      step: at,
      fault: { kind: 'pg-down', at, ms: 3_000 } as Fault,
    })),
  ];

  const rows: FaultRow[] = [];
  for (const s of scenarios) {
    const r = await issue(s.fault);
    t.ok(r.injected, `${s.name} at ${s.step}: injected`);
    // Nothing partial ever: the tray holds whole documents named by their issuance id, or nothing.
    for (const f of r.sheets) t.match(f, /^[0-9a-f-]{36}\.pdf$/, `${s.name} at ${s.step}: only whole documents in the tray (${f})`);
    const after = await state();
    const ids = [...new Set([...after.ledger.map((x) => x.issuance_id), ...after.pending.map((x) => x.issuance_id), ...after.cityRows.map((x) => x.issuance_id)])].filter((id) => !seen.has(id));
    // The same processes serve the next resident: no restart. The kiosk's new
    // connection first sends what its journal holds (a sheet printed while the line was down).
    const lateBefore = lateReports.length;
    const next = await issue();
    t.equal(next.error, undefined, `after ${s.name} at ${s.step}: the next issuance prints without a restart`);
    const st = await settled(ids);
    t.ok(ids.length <= 1, `${s.name} at ${s.step}: at most one issuance started (${ids.length})`);
    const id = ids[0];
    const l = st.ledger.find((x) => x.issuance_id === id);
    const p = st.pending.find((x) => x.issuance_id === id);
    const c = st.cityRows.find((x) => x.issuance_id === id);
    const sheet = id ? r.sheets.find((f) => f === `${id}.pdf`) : undefined;
    const printed = sheet !== undefined;
    const charged = (l?.charged ?? 0) > 0;
    if (printed) {
      const sha = createHash('sha256').update(readFileSync(join(r.tray, sheet!))).digest('hex');
      const issued = (await cityDbDirect.query('SELECT document_sha256 FROM issuance_records WHERE issuance_id = $1', [id])).rows[0]?.document_sha256;
      t.equal(sha, issued, `${s.name} at ${s.step}: the sheet is the whole document the city issued`);
    }
    t.equal(p, undefined, `${s.name} at ${s.step}: nothing left pending in the ledger`);
    t.equal(charged, c?.status === 'printed', `${s.name} at ${s.step}: charged (${l?.outcome ?? 'none'}) ⇔ the city's record says printed (${c?.status ?? 'none'})`);
    if (charged) t.ok(printed, `${s.name} at ${s.step}: charged only for a sheet that came out`);
    if (printed) t.ok(charged, `${s.name} at ${s.step}: the sheet came out, so it is charged (printed ⇒ charged)`);
    const late = lateReports.slice(lateBefore).find((x) => x.issuanceId === id);
    if (r.result?.reported) t.equal(r.result.charged > 0, charged, `${s.name} at ${s.step}: the kiosk was told what the ledger charged`);
    else if (r.result) t.equal((late?.charged ?? 0) > 0, charged, `${s.name} at ${s.step}: told on its next connection (late report) what the ledger charged`);
    if (!r.result) t.notOk(charged, `${s.name} at ${s.step}: the kiosk reported an error (${r.error}), so no charge`);
    const agree = charged === (c?.status === 'printed') && p === undefined && (!charged || printed) && (!printed || charged);
    for (const x of (await state()).ledger) seen.add(x.issuance_id);
    for (const x of (await state()).cityRows) seen.add(x.issuance_id);
    rows.push({
      fault: s.name,
      step: s.step,
      kiosk: r.result ? 'printed' : `error ${r.error}`,
      printed,
      charged,
      ledger: l ? l.outcome : p ? `pending (${p.status})` : 'none',
      city: c?.status ?? 'none',
      agree,
      recovered: next.error === undefined ? (s.fault.kind.startsWith('pg') ? 'pool reconnected; next issuance printed' : 'kiosk reconnected; next issuance printed') : `NOT recovered (${next.error})`,
      issuanceId: id,
      note: printed && !charged
        ? 'sheet out but not charged: the kiosk printed after its line was lost'
        : late && r.result && !r.result.reported
          ? 'line lost before the report: charged on the kiosk journal\'s late report at its next connection'
          : st.waitedMs > 500
            ? `records settled after ${(st.waitedMs / 1000).toFixed(1)} s`
            : undefined,
    });
  }

  // The whole ledger: each issuance once, and its chain intact; the city told every outcome.
  const final = await settled([...seen]);
  const open = (await cityDbDirect.query(`SELECT issuance_id, document_sha256 IS NOT NULL AS sent FROM issuance_records WHERE status = 'issued'`)).rows as { issuance_id: string; sent: boolean }[];
  t.same(open.filter((r) => r.sent), [], "every outcome of a sent document reached the city's 交付記録");
  // A record the city reserved but never sent (its database lost between the two) is
  // closed by the centre's "failed" like any other: none may stay 'issued'.
  const unsent = open.filter((r) => !r.sent).map((r) => r.issuance_id);
  t.same(unsent, [], "records reserved but never sent are closed failed by the centre's outcome");
  t.equal(new Set(final.ledger.map((r) => r.issuance_id)).size, final.ledger.length, 'each issuance recorded once: no double charge');
  const verify = await run(process.execPath, [join(ROOT, 'issuance-center/bin/issuance-center.js'), 'ledger', 'verify', '--db', `${PG}/${centreDbName}`, '--json'], { encoding: 'utf8' }).catch(
    (e: { stdout: string }) => ({ stdout: e.stdout }),
  );
  t.match(verify.stdout, /"ok"\s*:\s*true/, 'ledger verify: one intact chain after every fault');
  const report = writeFaultReport({
    test: 'faults-connections',
    title: 'Lines cut and PostgreSQL lost (no process killed): test/e2e/faults-connections.test.ts',
    rows,
    checks: [
      `ledger: ${final.ledger.length} records, each issuance once; ledger verify: ${/"ok"\s*:\s*true/.test(verify.stdout) ? 'intact chain' : 'BROKEN'}`,
      `pending after the run: ${final.pending.length}; city records still 'issued': ${open.length}${unsent.length ? ` (${unsent.length} reserved by the city but never sent, not closed by the centre's "failed")` : ''}`,
    ],
  });
  t.comment(`fault report: ${report}`);
});
