/**
 * Fault injection on the stack as separate processes (scripts/start.mjs, which
 * restarts a crashed service): kill -9 the city worker, the centre or the kiosk
 * (the headless CLI) at a given step of an issuance. Afterwards: nothing partial
 * is printed, nobody is charged twice, the centre's ledger and the city's 交付記録
 * agree on every issuance (printed ⇔ charged; one the ledger closed failed is failed
 * in the 交付記録 too, even when the city worker was killed between reserving it and
 * sending the document), the ledger chain verifies, and the restarted stack issues again. The report of each fault is printed as a table.
 *
 * A kiosk killed holding a document tells the centre on its next start, from its
 * journal (issue.late-outcome): the centre keeps such an issuance open for a grace
 * period (KONBINI_KIOSK_REPORT_GRACE_SECONDS, small here). One kiosk does not come
 * back within it: recorded failed, an operator alarm, and its report after that is
 * refused LATE_OUTCOME_EXPIRED (another alarm).
 */
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { ROOT, cardProfiles, requireFixtures } from './stack.js';
import { recordsAgree, writeFaultReport, type FaultRow } from './fault-report.js';

const run = promisify(execFile);

// A fresh stack, each fault, the next issuance and a grace period waited out, on a shared 2-core machine: far beyond tap's default.
t.setTimeout(1_800_000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Two consecutive free ports for the two fixture cities. */
async function freePair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

function waitFor(read: () => string, pattern: RegExp, what: string, ms = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const m = pattern.exec(read());
      if (m) {
        clearInterval(timer);
        resolve(m);
      } else if (Date.now() - started > ms) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 50);
    // A wait that lost a race (the stack stopped first) must not keep the test process alive.
    timer.unref();
  });
}

const GRACE_S = 20;

t.test('kill -9 at each step: no partial print, no double charge, ledger and city agree, restart recovers', async (t) => {
  requireFixtures();
  const state = mkdtempSync(join(tmpdir(), 'konbini-faults-'));
  const cityBase = await freePair();
  const centrePort = await freePort();
  const stack = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
    cwd: ROOT,
    env: {
      ...process.env,
      KONBINI_CENTRE_PORT: String(centrePort),
      KONBINI_CITY_PORT: String(cityBase),
      KONBINI_KIOSK_SCREEN_PORT: '0',
      KONBINI_CONSOLE_PORT: '0', KONBINI_CENTRE_CITY_API_PORT: '0',
      KONBINI_KOSEKI_PORT: '0',
      KONBINI_VERIFY_PORT: '0',
      KONBINI_STATE_DIR: state,
      // Long enough for a killed kiosk's restart on a loaded machine; the never-back case waits it out.
      KONBINI_KIOSK_REPORT_GRACE_SECONDS: String(GRACE_S),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  stack.stdout!.on('data', (d) => (out += d));
  stack.stderr!.on('data', (d) => (out += d));
  const stackExit = new Promise((r) => stack.once('exit', r));
  t.teardown(async () => {
    if (stack.exitCode === null && stack.signalCode === null) {
      process.kill(-stack.pid!, 'SIGKILL');
      await stackExit;
    }
    rmSync(state, { recursive: true, force: true });
  });
  // A fresh state dir loads both cities first: over two minutes on a loaded 2-core machine.
  await Promise.race([
    waitFor(() => out, /^ready in/m, 'the stack', 600_000),
    stackExit.then(() => Promise.reject(new Error('the stack stopped before it was ready'))),
  ]).catch((err) => {
    t.comment(`the stack said:\n${out.slice(-4000)}`);
    for (const f of readdirSync(join(state, 'log'))) t.comment(`${f}:\n${readFileSync(join(state, 'log', f), 'utf8').slice(-1500)}`);
    throw err;
  });
  const pidOf = (service: string): number => {
    const label = service === 'centre' ? 'centre \\(kiosk line\\):' : `${service.replace('-', ' ')}:`;
    const all = [...out.matchAll(new RegExp(`^(?:${label} .*?\\(pid (\\d+)|${service} restarted \\(pid (\\d+)\\))`, 'gm'))];
    const last = all.at(-1)!;
    return Number(last[1] ?? last[2]);
  };
  const cityCode = '991015';
  t.ok(pidOf(`city-${cityCode}`) > 0 && pidOf('centre') > 0, 'service pids known');

  const cards = cardProfiles().filter((c) => c.scenario === 'ok' && c.cityCode === cityCode);
  let next = 0;
  /**
   * One headless issuance; `fault` kills a process when the kiosk reaches `at`.
   * `tray`: a tray shared with the next run (the kiosk's own printer after a restart),
   * else one per run; sheets are those named by this run's issuance id.
   */
  async function issue(fault?: { at: string; kill: 'city' | 'centre' | 'kiosk' | 'kiosk-crash' }, sharedTray?: string) {
    const card = cards[next++ % cards.length]!;
    const tray = sharedTray ? join(state, sharedTray) : join(state, `tray-${next}`);
    const kiosk: ChildProcess = spawn(
      process.execPath,
      [join(ROOT, 'kiosk-sim/bin/kiosk-sim.js'), 'issue', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'resident-record', '--tray', tray, '--config', join(state, 'run/kiosk.json')],
      // kiosk-crash: the kiosk kills itself on reaching the step (nothing more leaves it); the others are killed from here.
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(fault?.kill === 'kiosk-crash' ? { KONBINI_KIOSK_CRASH_AT: fault.at } : {}) } },
    );
    let kout = '';
    let killed = false;
    kiosk.stdout!.on('data', (d) => {
      kout += d;
      if (fault && fault.kill !== 'kiosk-crash' && !killed && new RegExp(`^step ${fault.at}\\b`, 'm').test(kout)) {
        killed = true;
        const pid = fault.kill === 'kiosk' ? kiosk.pid! : pidOf(fault.kill === 'city' ? `city-${cityCode}` : 'centre');
        process.kill(pid, 'SIGKILL');
      }
    });
    kiosk.stderr!.on('data', (d) => (kout += d));
    const code = await new Promise<number | null>((r) =>
      kiosk.once('exit', (c, signal) => {
        if (fault?.kill === 'kiosk-crash' && signal === 'SIGKILL' && new RegExp(`^step ${fault.at}\\b`, 'm').test(kout)) killed = true;
        r(c);
      }),
    );
    const id = /^step \w+ issuanceId=([0-9a-f-]{36})/m.exec(kout)?.[1];
    let sheets: string[] = [];
    try {
      sheets = readdirSync(tray).filter((f) => !sharedTray || (id !== undefined && f.startsWith(id)));
    } catch {
      /* no tray: nothing printed */
    }
    return { code, out: kout, issuanceId: id, sheets, killed };
  }

  const report: string[] = [];
  const outcomes: { name: string; at: string; kill: string; restarts?: string; code: number | null; error?: string; issuanceId?: string; sheets: string[]; nextPrinted: boolean; late?: string; neverBack?: boolean }[] = [];
  const ids: string[] = [];
  let abandonedId: string | undefined;
  let neverBackId: string | undefined;
  const centreLog = () => readFileSync(join(state, 'log', 'centre.log'), 'utf8');
  const scenarios: { name: string; at: string; kill: 'city' | 'centre' | 'kiosk' | 'kiosk-crash'; restarts?: string; tray?: string; neverBack?: boolean }[] = [
    { name: 'city worker killed while the request is in flight', at: 'requesting', kill: 'city', restarts: `city-${cityCode}` },
    { name: 'centre killed while the city renders', at: 'requesting', kill: 'centre', restarts: 'centre' },
    // The kiosk kills itself on reaching the step: a SIGKILL sent from here on reading
    // "step verified" could land after the sheet came out on a busy machine.
    { name: 'kiosk killed after the document arrived, before printing', at: 'verified', kill: 'kiosk-crash' },
    { name: 'kiosk dies as the sheet came out, journal still at "printing" (settled from the tray on restart)', at: 'wiped', kill: 'kiosk-crash', tray: 'tray-kiosk' },
    { name: 'kiosk dies after printing, before its report, restarted', at: 'printed', kill: 'kiosk-crash' },
    { name: 'kiosk killed after printing, around the acknowledgement, restarted', at: 'printed', kill: 'kiosk' },
    { name: `kiosk dies after printing, before its report, not back within the grace period (${GRACE_S} s)`, at: 'printed', kill: 'kiosk-crash', neverBack: true },
  ];
  for (const s of scenarios) {
    const before = s.restarts ? (out.match(new RegExp(`${s.restarts} restarted`, 'g')) ?? []).length : 0;
    const r = await issue({ at: s.at, kill: s.kill }, s.tray);
    t.ok(r.killed, `${s.name}: the fault was injected at ${s.at}`);
    if (r.issuanceId) ids.push(r.issuanceId);
    if (s.at === 'verified') abandonedId = r.issuanceId;
    for (const f of r.sheets) t.match(f, /^[0-9a-f-]{36}\.pdf$/, `${s.name}: only whole documents in the tray (${f})`);
    if (!['printed', 'printing', 'wiped'].includes(s.at)) t.same(r.sheets, [], `${s.name}: nothing printed`);
    if (s.at === 'wiped' || (s.kill === 'kiosk-crash' && s.at === 'printed')) t.equal(r.sheets.length, 1, `${s.name}: the sheet is out`);
    if (s.neverBack) {
      neverBackId = r.issuanceId;
      t.ok(neverBackId, `${s.name}: the kiosk had the issuance id`);
      // No kiosk process at all until the centre gives up on the report.
      await waitFor(centreLog, new RegExp(`"issuanceId":"${neverBackId}"[^\n]*"reason":"kiosk-report-grace-expired"`), 'the grace period to end', (GRACE_S + 60) * 1000);
      t.pass(`${s.name}: recorded failed after the grace period`);
    }
    if (!s.kill.startsWith('kiosk')) t.equal(r.code, 1, `${s.name}: the kiosk reports an error`);
    report.push(`${s.name.padEnd(60)} exit=${r.code ?? 'killed'} sheets=${r.sheets.length} ${/error (\w+)/.exec(r.out)?.[1] ?? ''}`);
    if (s.restarts) {
      await waitFor(() => (out.match(new RegExp(`${s.restarts} restarted`, 'g')) ?? []).length > before ? 'y' : '', /y/, `${s.restarts} restart`);
    }
    // After every fault, the stack serves the next resident (a killed kiosk: its restart,
    // which first sends what its journal holds).
    const ok = await issue(undefined, s.tray);
    const late = r.issuanceId ? new RegExp(`^(late-report|alarm|late-report-refused) issuance=${r.issuanceId}.*$`, 'm').exec(ok.out)?.[0] : undefined;
    if (s.kill === 'kiosk-crash' || s.at === 'verified') t.ok(late, `${s.name}: the restarted kiosk reported it from its journal (${late})`);
    if (s.neverBack) t.match(late, /^alarm .*code=LATE_OUTCOME_EXPIRED/, `${s.name}: its report after the grace period is refused LATE_OUTCOME_EXPIRED, an alarm at the kiosk`);
    outcomes.push({ name: s.name, at: s.at, kill: s.kill, restarts: s.restarts, code: r.code, error: /error (\w+)/.exec(r.out)?.[1], issuanceId: r.issuanceId, sheets: r.sheets, nextPrinted: ok.code === 0, late, neverBack: s.neverBack });
    t.equal(ok.code, 0, `after "${s.name}": the next issuance prints (${ok.out.split('\n').filter((l) => l.startsWith('error')).join(' ')})`);
    t.equal(ok.sheets.length, 1, 'one document');
    if (ok.issuanceId) ids.push(ok.issuanceId);
  }
  t.comment(`fault report:\n${report.join('\n')}`);

  // Let the centre tell the city about abandoned issuances, then stop everything.
  await new Promise((r) => setTimeout(r, 1500));
  process.kill(-stack.pid!, 'SIGINT');
  await stackExit;

  const ledger = await PGlite.create(join(state, 'centre-ledger'));
  const city = await PGlite.create(join(state, 'city-db', cityCode));
  try {
    const records = (await ledger.query<{ issuance_id: string; outcome: string; charged: number }>(`SELECT issuance_id, outcome, charged FROM ledger_record`)).rows;
    const cityRows = (await city.query<{ issuance_id: string; status: string }>(`SELECT issuance_id, status FROM issuance_records`)).rows;
    const byId = new Map(records.map((r) => [r.issuance_id, r]));
    const cityById = new Map(cityRows.map((r) => [r.issuance_id, r]));
    t.equal(byId.size, records.length, 'each issuance recorded once: no double charge');
    t.ok(abandonedId, 'the kiosk killed before printing had been given an issuance id');
    t.equal(byId.get(abandonedId!)?.outcome, 'failed', 'a document the kiosk never printed is recorded failed (its journal said so on restart), not charged');
    t.equal(cityById.get(abandonedId!)?.status, 'failed', 'and the city is told');
    for (const o of outcomes.filter((x) => x.kill.startsWith('kiosk') && !x.neverBack && x.sheets.length)) {
      t.equal(byId.get(o.issuanceId!)?.outcome, 'printed', `${o.name}: the sheet came out and is charged (printed ⇒ charged)`);
      t.equal(cityById.get(o.issuanceId!)?.status, 'printed', `${o.name}: the city records it printed`);
    }
    t.ok(neverBackId, 'the kiosk that did not come back had an issuance id');
    t.match(byId.get(neverBackId!), { outcome: 'failed', charged: 0 }, 'not back within the grace period: recorded failed, not charged');
    t.equal(cityById.get(neverBackId!)?.status, 'failed', 'and the city told so');
    const audit = (await ledger.query<{ action: string; actor: string; outcome: string; code: string | null }>(`SELECT action, actor, outcome, code FROM ops_audit WHERE target = $1 ORDER BY id`, [neverBackId])).rows;
    t.match(
      audit,
      [
        { action: 'issuance-closed-unreported', actor: 'kiosk:K0001' },
        { action: 'late-outcome', actor: 'kiosk:K0001', outcome: 'refused', code: 'LATE_OUTCOME_EXPIRED' },
      ],
      "the operator's audit log: closed unreported, then the late \"printed\" refused (alarms)",
    );
    // The report: each fault's issuance (found by its id, or, when the kiosk never
    // learnt it, the next issuance the ledger or the city holds that no kiosk reported).
    const pending = (await ledger.query<{ issuance_id: string; status: string; requested_at: string }>(`SELECT issuance_id, status, requested_at FROM ledger_pending`)).rows;
    const known = new Set(outcomes.map((o) => o.issuanceId).concat(ids).filter(Boolean) as string[]);
    const cityTimes = (await city.query<{ issuance_id: string; issued_at: string }>(`SELECT issuance_id, issued_at FROM issuance_records`)).rows;
    const ledgerTimes = (await ledger.query<{ issuance_id: string; requested_at: string }>(`SELECT issuance_id, requested_at FROM ledger_record`)).rows;
    const unknown = [...new Map([...ledgerTimes.map((r) => [r.issuance_id, r.requested_at] as const), ...pending.map((r) => [r.issuance_id, r.requested_at] as const), ...cityTimes.map((r) => [r.issuance_id, r.issued_at] as const)].filter(([id]) => !known.has(id))).entries()]
      .sort((a, b) => new Date(a[1]).getTime() - new Date(b[1]).getTime())
      .map(([id]) => id);
    const rows: FaultRow[] = outcomes.map((o) => {
      const id = o.issuanceId ?? unknown.shift();
      const l = id ? byId.get(id) : undefined;
      const p = id ? pending.find((x) => x.issuance_id === id) : undefined;
      const c = id ? cityById.get(id) : undefined;
      const printed = id !== undefined && o.sheets.includes(`${id}.pdf`);
      const charged = (l?.charged ?? 0) > 0;
      const late = o.late ? /^(\S+)/.exec(o.late)![1] : undefined;
      const ledgerSays = l ? l.outcome : p ? `pending (${p.status})` : 'none';
      const citySays = c?.status ?? 'none';
      if (o.kill === 'city') {
        // Reserved by the worker that was killed before its document left: the centre's "failed" closes it on the restarted city.
        t.equal(ledgerSays, 'failed', `${o.name}: the ledger recorded it failed, not charged`);
        t.not(citySays, 'issued', `${o.name}: the city's 交付記録 does not say "issued" (${citySays})`);
      }
      t.ok(recordsAgree(ledgerSays, citySays), `${o.name}: the ledger (${ledgerSays}) and the city's 交付記録 (${citySays}) agree`);
      return {
        fault: o.name,
        step: o.at,
        kiosk: o.kill === 'kiosk' ? 'kiosk killed' : o.kill === 'kiosk-crash' ? 'kiosk died' : o.code === 0 ? 'printed' : `error ${o.error ?? o.code}`,
        printed,
        charged,
        ledger: ledgerSays,
        city: citySays,
        agree: recordsAgree(ledgerSays, citySays) && charged === (c?.status === 'printed') && (!charged || printed) && (!printed || charged),
        alarm: o.neverBack,
        recovered: `${o.restarts ? 'restarted by the supervisor (npm start)' : o.neverBack ? `kiosk restarted only after ${GRACE_S} s` : 'kiosk restarted'}; next issuance ${o.nextPrinted ? 'printed' : 'FAILED'}`,
        issuanceId: id,
        note: o.neverBack
          ? `sheet out, the kiosk not back within the grace period: recorded failed, not charged, operator alarm; its late report refused ${/code=(\w+)/.exec(o.late ?? '')?.[1] ?? '(none)'}`
          : printed && !charged
            ? 'sheet out but not charged: the kiosk died before its report reached the centre'
            : late === 'late-report'
              ? `reported by the restarted kiosk from its journal (${/outcome=(\w+)/.exec(o.late!)?.[1]})`
              : p
                ? 'left open by the dead centre; closed as failed by the 15-min sweep'
                : o.kill === 'city' && citySays === 'failed'
                  ? "reserved by the killed worker, never sent: the centre's \"failed\" closed the city's record after its restart"
                  : undefined,
      };
    });
    const reportPath = writeFaultReport({ test: 'faults', title: 'kill -9 of a service or the kiosk (npm start supervises): test/e2e/faults.test.ts', rows });
    t.comment(`fault report: ${reportPath}`);
    // Every issuance either side holds, not only those a kiosk learnt the id of.
    for (const r of records) {
      const c = cityById.get(r.issuance_id)?.status ?? 'none';
      t.ok(recordsAgree(r.outcome, c), `${r.issuance_id.slice(0, 8)}: the ledger (${r.outcome}) and the city's 交付記録 (${c}) agree`);
    }
    const openAtCity = cityRows.filter((r) => r.status === 'issued' && !pending.some((p) => p.issuance_id === r.issuance_id));
    t.same(openAtCity.map((r) => r.issuance_id), [], 'no city record left "issued" that the ledger has closed');
    for (const id of ids) {
      const l = byId.get(id);
      const c = cityById.get(id);
      const charged = (l?.charged ?? 0) > 0;
      const printedAtCity = c?.status === 'printed';
      t.equal(charged, printedAtCity, `${id.slice(0, 8)}: charged (${l?.outcome ?? 'pending'}) ⇔ printed in the city's record (${c?.status ?? 'none'})`);
    }
  } finally {
    await ledger.close();
    await city.close();
  }
  const verify = await run(process.execPath, [join(ROOT, 'issuance-center/bin/issuance-center.js'), 'ledger', 'verify', '--db', join(state, 'centre-ledger'), '--json'], { encoding: 'utf8' }).catch(
    (e: { stdout: string }) => ({ stdout: e.stdout }),
  );
  t.match(verify.stdout, /"ok"\s*:\s*true/, 'ledger verify: the chain is intact after the faults');
});
