/**
 * Idle kiosk sockets held by one centre instance, and memory per socket: N kiosk
 * connections (mutual TLS, real kiosk certificates) to a centre started as its own
 * process (`issuance-center serve`, its ledger in a PostgreSQL database this bench
 * creates and drops, so no PGlite/WASM memory sits in the process; PGlite when no
 * server answers on 127.0.0.1:5432), against a bare WSS echo server with the same TLS
 * as the baseline in the same run. Memory per socket is the server process's JS
 * heap plus external memory (ArrayBuffers, TLS buffers) as its /metrics reports them
 * (`nodejs_heap_size_used_bytes`, `nodejs_external_memory_bytes`), the smallest of a
 * few samples before and after; the RSS from /proc is reported too, but the centre
 * embeds PGlite (WASM), whose pages come and go during the measurement.
 *
 *   node --import=tsx --conditions=konbini-source bench/idle-sockets.ts [--sockets 5000]
 *
 * Prints one JSON line. The client side runs here; one process may hold at most
 * `ulimit -n` sockets (20,000 on this machine kind): for 20,000, run it under
 * `prlimit --nofile=45000:45000` (root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { get } from 'node:https';
import { centreAllocatorEnv } from '../scripts/allocator.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const PKI = join(ROOT, 'var/pki');
const { values } = parseArgs({ options: { sockets: { type: 'string', default: '5000' }, allocator: { type: 'string', default: 'jemalloc' } } });
// The centre as deployed (scripts/allocator.mjs: jemalloc when installed); the baseline
// echo server with the same allocator, so the ratio compares the code, not malloc.
// `--allocator system` runs both on glibc's malloc.
const alloc = centreAllocatorEnv({ ...process.env, KONBINI_ALLOCATOR: values.allocator === 'system' ? 'system' : '' });
const N = Number(values.sockets);

const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
const path = (name: string, part: 'cert' | 'key') => join(PKI, manifest.certs[name]![part]);
const pemCache = new Map<string, string>();
const pem = (name: string, part: 'cert' | 'key') => {
  const p = path(name, part);
  if (!pemCache.has(p)) pemCache.set(p, readFileSync(p, 'utf8'));
  return pemCache.get(p)!;
};
const kiosks = Object.keys(manifest.certs).filter((n) => /^kiosk-K\d{4}$/.test(n)).sort();

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** heapUsed + external of the server process, from its /metrics (mutual TLS, a kiosk certificate). */
function heapBytes(base: string): Promise<{ heap: number; external: number }> {
  return new Promise((resolve, reject) => {
    const k = kiosks[0]!;
    get(`${base}/metrics`, { key: pem(k, 'key'), cert: pem(k, 'cert'), ca: pem('kiosk-line-ca', 'cert'), agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const gauge = (name: string) => Number(new RegExp(`^(?:konbini_centre_)?${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1]);
        resolve({ heap: gauge('nodejs_heap_size_used_bytes'), external: gauge('nodejs_external_memory_bytes') });
      });
    }).on('error', reject);
  });
}

/** The smallest of a few samples a second apart (garbage not yet collected only adds). */
async function settledHeap(base: string): Promise<{ heap: number; external: number }> {
  let best = { heap: Infinity, external: Infinity };
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const m = await heapBytes(base);
    if (m.heap + m.external < best.heap + best.external) best = m;
  }
  return best;
}

function waitFor(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let out = '';
  return new Promise((res, rej) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) res(m);
    });
    child.once('exit', () => rej(new Error(`exited before ready:\n${out}`)));
  });
}

async function openAll(url: string, n: number): Promise<{ sockets: WebSocket[]; ms: number; failed: number }> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  const started = performance.now();
  const batch = 100;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) => {
        const k = kiosks[(i + j) % kiosks.length]!;
        return new Promise<void>((res) => {
          const ws = new WebSocket(url, { key: pem(k, 'key'), cert: pem(k, 'cert'), ca: pem('kiosk-line-ca', 'cert') });
          ws.once('open', () => {
            sockets.push(ws);
            res();
          });
          ws.once('error', () => {
            failed++;
            res();
          });
        });
      }),
    );
  }
  return { sockets, ms: performance.now() - started, failed };
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise((r) => (ws.once('close', r), ws.terminate()))));
}

async function measure(url: string, pid: number) {
  const base = url.replace(/^wss:/, 'https:').replace(/\/v1\/kiosk$|\/$/, '');
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(pid);
  const heapBefore = await settledHeap(base);
  const { sockets, ms, failed } = await openAll(url, N);
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssKiB(pid);
  const heapAfter = await settledHeap(base);
  const held = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  await closeAll(sockets);
  const perSocket = (a: number, b: number) => (held ? Math.round((a - b) / held) : NaN);
  return {
    held,
    failed,
    connectMs: Math.round(ms),
    heapUsedBeforeMiB: Math.round(heapBefore.heap / 2 ** 20),
    heapUsedAfterMiB: Math.round(heapAfter.heap / 2 ** 20),
    externalBeforeMiB: Math.round(heapBefore.external / 2 ** 20),
    externalAfterMiB: Math.round(heapAfter.external / 2 ** 20),
    /** JS heap + external memory per idle socket: the figure to compare. */
    heapBytesPerSocket: perSocket(heapAfter.heap + heapAfter.external, heapBefore.heap + heapBefore.external),
    rssBeforeKiB: before,
    rssAfterKiB: after,
    rssBytesPerSocket: perSocket(after * 1024, before * 1024),
    /** heap + external after, extrapolated to 20,000 sockets (target ≤ 1 GiB). */
    heapAt20kMiB: held ? Math.round((heapBefore.heap + heapBefore.external + perSocket(heapAfter.heap + heapAfter.external, heapBefore.heap + heapBefore.external) * 20_000) / 2 ** 20) : NaN,
  };
}

const state = mkdtempSync(join(tmpdir(), 'konbini-idle-'));
const PG = 'postgres://postgres@127.0.0.1:5432';
const dbName = `konbini_idle_${Math.random().toString(36).slice(2, 8)}`;
async function admin(sql: string): Promise<boolean> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: `${PG}/postgres`, connectionTimeoutMillis: 3000 });
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
const onPostgres = await admin(`CREATE DATABASE ${dbName}`);
const fixtures = join(ROOT, 'var/fixtures');
const centreDir = JSON.parse(readFileSync(join(fixtures, 'centre.json'), 'utf8')) as { cities: { code: string }[] };
const config = {
  host: '127.0.0.1',
  port: 0,
  kioskTls: { key: path('kiosk-line-centre', 'key'), cert: path('kiosk-line-centre', 'cert'), ca: path('kiosk-line-ca', 'cert') },
  lgwanTls: { key: path('lgwan-centre', 'key'), cert: path('lgwan-centre', 'cert'), ca: path('lgwan-ca', 'cert') },
  jpki: { roots: [path('jpki-auth-ca', 'cert')], crl: join(fixtures, 'jpki-auth.crl.der') },
  directory: join(fixtures, 'centre.json'),
  // no city is called: sockets stay idle
  cities: centreDir.cities.map((c) => ({ code: c.code, endpoint: 'https://localhost:1', cert: path(`lgwan-city-${c.code}`, 'cert') })),
  ledger: onPostgres ? { url: `${PG}/${dbName}` } : { dataDir: join(state, 'centre-ledger') },
};
writeFileSync(join(state, 'centre.json'), JSON.stringify(config));
const centreProc = spawn(process.execPath, [join(ROOT, 'issuance-center/bin/issuance-center.js'), 'serve', '--config', join(state, 'centre.json')], {
  cwd: ROOT,
  env: { ...alloc.env, KONBINI_STATE_DIR: state },
  stdio: ['ignore', 'pipe', 'ignore'],
});
const echo = spawn(process.execPath, [join(ROOT, 'bench/ws-echo-server.mjs'), path('kiosk-line-centre', 'key'), path('kiosk-line-centre', 'cert'), path('kiosk-line-ca', 'cert')], {
  env: alloc.env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const centrePort = (await waitFor(centreProc, /listening wss:\/\/[^:]+:(\d+)\/v1\/kiosk/))[1];
  const echoPort = (await waitFor(echo, /listening (\d+)/))[1];
  const centre = await measure(`wss://localhost:${centrePort}/v1/kiosk`, centreProc.pid!);
  const baseline = await measure(`wss://localhost:${echoPort}/`, echo.pid!);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'idle-sockets',
      sockets: N,
      ledger: onPostgres ? 'postgres' : 'pglite',
      allocator: alloc.allocator,
      centre,
      baseline,
      ratioHeapBytesPerSocket: Number((centre.heapBytesPerSocket / baseline.heapBytesPerSocket).toFixed(2)),
      ratioRssBytesPerSocket: Number((centre.rssBytesPerSocket / baseline.rssBytesPerSocket).toFixed(2)),
      load: (await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' '),
    })}\n`,
  );
} finally {
  const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));
  echo.kill('SIGTERM');
  centreProc.kill('SIGTERM');
  await Promise.all([exited(echo), exited(centreProc)]);
  if (onPostgres) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  rmSync(state, { recursive: true, force: true });
}
