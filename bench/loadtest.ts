/**
 * Load harness: N simulated kiosks, each with its own virtual card, issue 住民票
 * against the real services running as separate processes (scripts/start.mjs on
 * free ports, a private state directory). Every printed document is checked
 * against the person who asked for it: the tray file is named by the issuance id
 * the kiosk was given, the kiosk verified the binding (issuance id, card serial
 * HMAC, document hash) before printing, and the text (pdftotext, a tool nobody
 * here wrote) names the card holder and nobody else.
 *
 *   npm run loadtest -- --kiosks 20 --issuances 200 [--centres K] [--city-workers W] [--sync]
 *     [--pg postgres://postgres@127.0.0.1:5432] [--json] [--profile DIR]
 *
 * `--centres K` / `--city-workers W`: K centre instances and W workers per city on one
 * PostgreSQL server (docs/DEPLOYMENT.md; scripts/start.mjs with KONBINI_PG), in
 * databases this run creates and drops; kiosk k talks to centre k mod K, the centre
 * reaches a city's workers through a TCP balancer. `--pg` alone: the same on one
 * instance each. `--sync`: while the kiosks issue, each city's core system sends 転居
 * batches (address changes of every household in turn, the card holders' included)
 * to the city's POST /v1/sync/delta every 250 ms, over mutual TLS as lgwan-juki-core-<code>.
 *
 * Every sheet is checked with pdftotext after the timed window (the checker is not
 * part of the stack; `--check-during` checks as the sheets come, as before).
 *
 * `--profile DIR`: every service process (and start.mjs) writes a V8 CPU profile
 * into DIR when it stops (bench/cpu-profile-preload.mjs through NODE_OPTIONS), and this harness one of its own
 * (the kiosks); the summary names the heaviest functions of each process by self time.
 *
 * The last line is the summary: issuances, throughput, latency p50/p95/p99 and
 * `misdelivered=<count>`. Exit status 1 when anything was misdelivered.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import pg from 'pg';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stackEnv } from './stack-env.js';
import { parseArgs, promisify } from 'node:util';
import type { CardProfile, CityDataset } from '@konbini/protocol';
import { KonbiniError } from '@konbini/protocol';
import { VirtualCard } from '../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../kiosk-sim/src/reader/in-process-reader.js';
import { CentreConnection, type CentreTls } from '../kiosk-sim/src/centre/connection.js';
import { TrayPrinter } from '../kiosk-sim/src/printer/printer.js';
import { runIssuance, type KioskUi } from '../kiosk-sim/src/session/issuance.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const PKI = join(ROOT, 'var/pki');
const FIXTURES = join(ROOT, 'var/fixtures');

const USAGE = 'usage: npm run loadtest -- --kiosks N --issuances M [--centres K] [--city-workers W] [--sync] [--pg URL] [--json]\n';
const { values } = (() => {
  try {
    return parseArgs({
      options: {
        kiosks: { type: 'string', default: '10' },
        issuances: { type: 'string', default: '100' },
        json: { type: 'boolean', default: false },
        profile: { type: 'string' },
        'check-during': { type: 'boolean', default: false },
        centres: { type: 'string', default: '1' },
        'city-workers': { type: 'string', default: '1' },
        sync: { type: 'boolean', default: false },
        pg: { type: 'string' },
      },
    });
  } catch (err) {
    // an unknown option, or a value that looks like one (--kiosks -1)
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
const PROFILE = values.profile ? resolve(values.profile) : undefined;
if (PROFILE) {
  mkdirSync(PROFILE, { recursive: true });
  // this process too (the kiosks, their cards, the pdftotext checks)
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  process.once('beforeExit', async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(PROFILE, `harness-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
    process.stdout.write(`profiles in ${PROFILE}: node bench/profile-summary.mjs ${PROFILE}\n`);
  });
}
const KIOSKS = Number(values.kiosks);
const ISSUANCES = Number(values.issuances);
const CENTRES = Number(values.centres);
const CITY_WORKERS = Number(values['city-workers']);
if (!(KIOSKS >= 1) || !(ISSUANCES >= 1) || !Number.isInteger(CENTRES) || CENTRES < 1 || CENTRES > 16 || !Number.isInteger(CITY_WORKERS) || CITY_WORKERS < 1 || CITY_WORKERS > 16) {
  process.stderr.write(USAGE);
  process.exit(2);
}
// Several processes per role share a PostgreSQL server; PGlite directories belong to one process.
const PG = values.pg ?? (CENTRES > 1 || CITY_WORKERS > 1 ? 'postgres://postgres@127.0.0.1:5432' : undefined);
const PG_PREFIX = `konbini_load_${randomBytes(4).toString('hex')}`;

const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
const pem = (name: string, part: 'cert' | 'key') => readFileSync(join(PKI, manifest.certs[name]![part]), 'utf8');
const kioskNames = Object.keys(manifest.certs).filter((n) => /^kiosk-K\d{4}$/.test(n)).sort();

const cards: CardProfile[] = readdirSync(join(FIXTURES, 'cards'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, 'cards', f), 'utf8')) as CardProfile)
  .filter((c) => c.scenario === 'ok');
const datasets = new Map<string, CityDataset>();
for (const f of readdirSync(FIXTURES).filter((x) => /^city-\d{6}\.json$/.test(x))) {
  const d = JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as CityDataset;
  datasets.set(d.city.code, d);
}
const plain = (s: string) => s.replace(/[\u{e0100}-\u{e01ef}\s\u3000]/gu, '');
function holderOf(card: CardProfile): { name: string; others: string[] } {
  const d = datasets.get(card.cityCode)!;
  const me = d.residents.find((r) => r.id === card.residentId)!;
  const others = d.residents
    .filter((r) => r.householdId !== me.householdId)
    .map((r) => plain(`${r.familyName}${r.givenName}`))
    .filter((n) => n !== plain(`${me.familyName}${me.givenName}`));
  return { name: plain(`${me.familyName}${me.givenName}`), others };
}

/** Start the stack as separate processes; resolves with the centre URL and a stopper. */
interface Services {
  /** Every centre instance's kiosk line, in start order. */
  centres: { url: string; origin: string }[];
  /** Each city's LGWAN endpoint (its balancer when it has several workers). */
  cities: Map<string, number>;
  child: ChildProcess;
  readyMs: number;
}
async function startServices(state: string): Promise<Services> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
    cwd: ROOT,
    // N simulated kiosks share the fixtures' four kiosk certificates: a real kiosk
    // issues about once a minute, these as fast as they can.
    env: stackEnv(state, {
      KONBINI_KIOSK_RATE: '1000000,1000000',
      ...(PG ? { KONBINI_PG: PG, KONBINI_PG_PREFIX: PG_PREFIX, KONBINI_CENTRES: String(CENTRES), KONBINI_CITY_WORKERS: String(CITY_WORKERS) } : {}),
      ...(PROFILE
        ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${join(ROOT, 'bench/cpu-profile-preload.mjs')}`.trim(), KONBINI_CPU_PROFILE_DIR: PROFILE }
        : {}),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => process.stderr.write(d));
  await new Promise<void>((res, rej) => {
    const timer = setInterval(() => {
      if (/^ready in/m.test(out)) {
        clearInterval(timer);
        res();
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        rej(new Error(`the stack did not start:\n${out}`));
      }
    }, 50);
  });
  const centres = [...out.matchAll(/^centre(?: \d+)? \(kiosk line\): wss:\/\/127\.0\.0\.1:(\d+)\/v1\/kiosk/gm)].map((m) => ({
    url: `wss://localhost:${m[1]}/v1/kiosk`,
    origin: `wss://localhost:${m[1]}`,
  }));
  const cities = new Map([...out.matchAll(/^city (\d{6}): https:\/\/127\.0\.0\.1:(\d+) /gm)].map((m) => [m[1]!, Number(m[2])] as const));
  if (centres.length !== CENTRES) throw new Error(`expected ${CENTRES} centre instances, the stack printed:\n${out}`);
  return { centres, cities, child, readyMs: performance.now() - started };
}

/**
 * CPU time (ms) of the stack's processes by role, from /proc: every process in the
 * stack's own process group (start.mjs is its leader), and on PostgreSQL the server
 * backends serving this run's databases (their command line names the database).
 * Read at both ends of the timed window: CPU per issuance is what a busy machine
 * changes least, so "everything but render + sign" can be measured on two cores
 * with the kiosks beside the services (BENCHMARKS.md, end to end).
 */
// /proc counts CPU in USER_HZ ticks, 100 a second on Linux (`getconf CLK_TCK`)
const TICK_MS = 10;
/** A stack process's role by its command line, first match (a koseki server is a city-cert process too). */
const ROLES: [mark: string, role: string][] = [
  ['issuance-center', 'centre'],
  ['--role koseki', 'koseki'],
  ['city-cert', 'city'],
  ['kiosk-sim', 'kioskScreen'],
];
function stackCpuMs(pgid: number): Record<string, number> {
  const byRole: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    let cmd: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile
    }
    // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const role =
      Number(f[2]) === pgid
        ? (ROLES.find(([mark]) => cmd.includes(mark))?.[1] ?? 'start')
        : PG && cmd.startsWith('postgres: ') && cmd.includes(PG_PREFIX)
          ? 'postgres'
          : undefined;
    if (role) byRole[role] = (byRole[role] ?? 0) + (Number(f[11]) + Number(f[12])) * TICK_MS;
  }
  return byRole;
}

/** Drop the databases a --pg run created (the stack has stopped). */
async function dropDatabases(): Promise<void> {
  if (!PG) return;
  const admin = new pg.Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${PG_PREFIX}\\_%`]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/**
 * The city's core system during the run (--sync): 転居 batches of ten changes every
 * 250 ms, every household in turn (the card holders' too), each address toggled
 * between its own and the next 番地, so every batch changes what the next
 * certificate of that household prints. Counts what the city applied and refused.
 */
function syncCity(code: string, port: number, sent: { applied: number; batches: number; refused: Map<string, number> }): { stop: () => Promise<void> } {
  const d = datasets.get(code)!;
  const juki = `lgwan-juki-core-${code}`;
  const tls = { key: pem(juki, 'key'), cert: pem(juki, 'cert'), ca: pem('lgwan-ca', 'cert') };
  const post = (body: string) =>
    new Promise<{ status: number; body: { lastSeq?: number; applied?: number; code?: string } }>((res, rej) => {
      const req = request(
        { host: '127.0.0.1', servername: 'localhost', port, path: '/v1/sync/delta', method: 'POST', ...tls, headers: { 'content-type': 'application/x-ndjson' } },
        (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c) => (text += c));
          r.on('end', () => {
            let body: { lastSeq?: number; applied?: number; code?: string };
            try {
              body = JSON.parse(text) as typeof body;
            } catch {
              body = { code: `HTTP_${r.statusCode ?? 0}` }; // not the city's JSON (a proxy's page, a cut response): counted as a refusal
            }
            res({ status: r.statusCode ?? 0, body });
          });
        },
      );
      req.on('error', rej);
      req.end(body);
    });
  const batch = (id: string, changes: object[], lastSeq: number) =>
    [
      JSON.stringify({ type: 'header', format: 'konbini-delta', version: 1, cityCode: code, batchId: id }),
      ...changes.map((c) => JSON.stringify(c)),
      JSON.stringify({ type: 'end', count: changes.length, lastSeq }),
    ].join('\n') + '\n';
  const bumped = (address: string) => address.replace(/(\d+)号$/, (_m, n: string) => `${Number(n) + 1}号`);
  let stopped = false;
  const done = (async () => {
    // A heartbeat first: the replica says where its sequence is.
    const hb = await post(batch(`load-${code}-hb`, [], 0));
    let seq = hb.body.lastSeq ?? 0;
    let h = 0;
    let round = 0;
    const today = new Date().toISOString().slice(0, 10);
    while (!stopped) {
      const changes = Array.from({ length: 10 }, () => {
        const household = d.households[h++ % d.households.length]!;
        const toggled = Math.floor((h - 1) / d.households.length) % 2 === 1;
        return { type: 'change', seq: ++seq, kind: 'address-change', notifiedOn: today, householdId: household.id, address: toggled ? household.address : bumped(household.address), effectiveOn: today };
      });
      const r = await post(batch(`load-${code}-${++round}`, changes, seq)).catch((err: Error) => ({ status: 0, body: { code: err.message } }));
      sent.batches++;
      if (r.status === 200) sent.applied += r.body.applied ?? 0;
      else {
        sent.refused.set(r.body.code ?? String(r.status), (sent.refused.get(r.body.code ?? String(r.status)) ?? 0) + 1);
        seq -= changes.length; // not applied: the same numbers again next time
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** pdftotext is a process per document: keep two in flight (two cores). */
const textQueue: (() => void)[] = [];
let textRunning = 0;
function checkText(file: string, expect: { name: string; others: string[] }): Promise<boolean> {
  return new Promise((res, rej) => {
    const job = async () => {
      try {
        const { stdout } = await run('pdftotext', [file, '-'], { encoding: 'utf8' });
        const text = plain(stdout);
        res(text.includes(expect.name) && !expect.others.some((o) => text.includes(o)));
      } catch (err) {
        rej(err);
      } finally {
        textRunning--;
        textQueue.shift()?.();
      }
    };
    const go = () => {
      textRunning++;
      void job();
    };
    if (textRunning < 2) go();
    else textQueue.push(go);
  });
}

async function main(): Promise<void> {
  const state = mkdtempSync(join(tmpdir(), 'konbini-load-'));
  const services = await startServices(state).catch(async (err: unknown) => {
    await dropDatabases();
    throw err;
  });
  /** Ctrl-C to the stack's process group; resolves when start.mjs has stopped it all. */
  const stop = (): Promise<unknown> => {
    try {
      process.kill(-services.child.pid!, 'SIGINT');
    } catch {
      /* already gone */
    }
    return services.child.exitCode !== null ? Promise.resolve() : new Promise((r) => services.child.once('exit', r));
  };
  process.on('SIGINT', () => {
    // the stack first (it holds connections to the databases), then its databases
    void stop().then(dropDatabases).finally(() => process.exit(130));
  });

  let next = 0;
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  const checks: Promise<void>[] = [];
  const deferred: (() => Promise<void>)[] = [];
  let printed = 0;
  let misdelivered = 0;
  const synced = { applied: 0, batches: 0, refused: new Map<string, number>() };
  const byCentre = services.centres.map(() => 0);
  const syncers = values.sync ? [...services.cities].map(([code, port]) => syncCity(code, port, synced)) : [];
  const cpu0 = stackCpuMs(services.child.pid!);
  const harnessCpu0 = process.cpuUsage();
  const t0 = performance.now();

  async function kiosk(k: number): Promise<void> {
    const tlsName = kioskNames[k % kioskNames.length]!;
    const kioskId = tlsName.slice('kiosk-'.length);
    const tls: CentreTls = { key: pem(tlsName, 'key'), cert: pem(tlsName, 'cert'), ca: pem('kiosk-line-ca', 'cert') };
    const card = cards[k % cards.length]!;
    const line = services.centres[k % services.centres.length]!;
    const expect = holderOf(card);
    const tray = join(state, `tray-${k}`);
    const printer = new TrayPrinter(join(state, `spool-${k}`), tray);
    // A loaded machine may take longer than the kiosk's usual 10 s for a handshake: wait, and try again.
    const connect = async (): Promise<CentreConnection> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await CentreConnection.connect(line.url, tls, 60_000);
        } catch (err) {
          failures.set('CONNECT', (failures.get('CONNECT') ?? 0) + 1);
          if (attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 1000 * attempt));
        }
      }
    };
    let centre = await connect();
    try {
      while (next < ISSUANCES) {
        next++;
        const reader = new InProcessReader();
        reader.insert(VirtualCard.fromProfile(structuredClone(card)));
        const ui: KioskUi = {
          step: (name) => {
            if (name === 'remove-card') reader.remove();
          },
          pin: async () => card.jpki.authPin,
          choose: async () => ({ certType: 'resident-record', options: { scope: 'self' }, copies: 1 }),
          pay: async (fee) => ({ paid: fee, change: 0 }),
        };
        const started = performance.now();
        try {
          const result = await runIssuance({ kioskId, centreOrigin: line.origin }, reader, centre, printer, ui);
          latencies.push(performance.now() - started);
          printed++;
          byCentre[k % services.centres.length]!++;
          const sheet = result.sheets[0]!;
          if (!sheet.endsWith(`${result.issuanceId}.pdf`)) misdelivered++;
          // pdftotext is a process per sheet: run after the timed window, so the
          // checker does not take the services' cores (unless --check-during).
          const check = () =>
            checkText(sheet, expect).then((ok) => {
              if (!ok) misdelivered++;
              rmSync(sheet, { force: true });
            });
          if (values['check-during']) checks.push(check());
          else deferred.push(check);
        } catch (err) {
          const code = err instanceof KonbiniError ? err.code : 'INTERNAL';
          failures.set(code, (failures.get(code) ?? 0) + 1);
          // As a kiosk does after an error (a time-out above all): a new line, so a late
          // answer to the abandoned session is never read as one for the next resident.
          centre.close();
          centre = await connect();
        } finally {
          await reader.close();
        }
      }
    } finally {
      centre.close();
    }
  }

  try {
    // A kiosk that cannot reach the centre at all stops (counted), the others go on.
    await Promise.all(Array.from({ length: KIOSKS }, (_, k) => kiosk(k).catch(() => failures.set('KIOSK_GAVE_UP', (failures.get('KIOSK_GAVE_UP') ?? 0) + 1))));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = stackCpuMs(services.child.pid!);
    const harnessCpu = process.cpuUsage(harnessCpu0);
    const perIssuance = (ms: number) => Number((ms / Math.max(printed, 1)).toFixed(1));
    const cpuMsPerIssuance: Record<string, number> = Object.fromEntries(Object.entries(cpu1).map(([role, ms]) => [role, perIssuance(ms - (cpu0[role] ?? 0))]));
    // the kiosks: card APDUs and RSA, CMS/X.509 checks of each document, tray writes and wipes
    cpuMsPerIssuance.harness = perIssuance((harnessCpu.user + harnessCpu.system) / 1000);
    await Promise.all(syncers.map((s) => s.stop()));
    await Promise.all([...checks, ...deferred.map((c) => c())]);
    // Which city process rendered how many: its log's "issued" lines, read once the stack has stopped.
    await stop();
    const byCityProcess = Object.fromEntries(
      readdirSync(join(state, 'log'))
        .filter((f) => /^city-\d{6}(-\d+)?\.log$/.test(f))
        .sort()
        .map((f) => [f.slice(0, -4), readFileSync(join(state, 'log', f), 'utf8').split('\n').filter((l) => l.includes('"msg":"issued"')).length]),
    );
    const sorted = latencies.sort((a, b) => a - b);
    const summary = {
      kiosks: KIOSKS,
      issuances: ISSUANCES,
      printed,
      failed: Object.fromEntries(failures),
      seconds: Number(elapsed.toFixed(2)),
      throughput: Number((printed / elapsed).toFixed(1)),
      p50: Math.round(percentile(sorted, 50)),
      p95: Math.round(percentile(sorted, 95)),
      p99: Math.round(percentile(sorted, 99)),
      readyMs: Math.round(services.readyMs),
      centres: CENTRES,
      cityWorkers: CITY_WORKERS,
      database: PG ? `postgresql (${PG_PREFIX}_*, dropped)` : 'pglite',
      byCentre,
      byCityProcess,
      cpuMsPerIssuance,
      ...(values.sync ? { deltasApplied: synced.applied, deltaBatches: synced.batches, deltaRefusals: Object.fromEntries(synced.refused) } : {}),
      misdelivered,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    const failedText = [...failures].map(([c, n]) => `${c}:${n}`).join(',') || '0';
    process.stdout.write(
      `issuances=${ISSUANCES} printed=${printed} failed=${failedText} kiosks=${KIOSKS} centres=${CENTRES} city-workers=${CITY_WORKERS} ` +
        (values.sync ? `deltas=${synced.applied} delta-refusals=${[...synced.refused].map(([c, n]) => `${c}:${n}`).join(',') || 0} ` : '') +
        `throughput=${summary.throughput}/s ` +
        `p50=${summary.p50}ms p95=${summary.p95}ms p99=${summary.p99}ms misdelivered=${misdelivered}\n`,
    );
    process.exitCode = misdelivered > 0 ? 1 : 0;
  } finally {
    await stop();
    rmSync(state, { recursive: true, force: true });
    await dropDatabases();
  }
}

await main();
