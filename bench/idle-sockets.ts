/**
 * Idle kiosk sockets held by one centre instance, and memory per socket: N kiosk
 * connections (mutual TLS, real kiosk certificates) to a centre started as its own
 * process by scripts/start.mjs, against a bare WSS echo server with the same TLS
 * as the baseline in the same run. Memory is the server process's RSS from /proc.
 *
 *   node --import=tsx --conditions=konbini-source bench/idle-sockets.ts [--sockets 5000]
 *
 * Prints one JSON line. The client side runs here; one process may hold at most
 * `ulimit -n` sockets, which bounds N on this machine kind (20,000 hard limit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stackEnv } from './stack-env.js';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '..');
const PKI = join(ROOT, 'var/pki');
const { values } = parseArgs({ options: { sockets: { type: 'string', default: '5000' } } });
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

async function measure(url: string, pid: number): Promise<{ held: number; failed: number; connectMs: number; rssBeforeKiB: number; rssAfterKiB: number; bytesPerSocket: number }> {
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(pid);
  const { sockets, ms, failed } = await openAll(url, N);
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssKiB(pid);
  const held = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  await closeAll(sockets);
  return {
    held,
    failed,
    connectMs: Math.round(ms),
    rssBeforeKiB: before,
    rssAfterKiB: after,
    bytesPerSocket: held ? Math.round(((after - before) * 1024) / held) : NaN,
  };
}

const state = mkdtempSync(join(tmpdir(), 'konbini-idle-'));
const stack = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
  cwd: ROOT,
  env: stackEnv(state),
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
});
const echo = spawn(process.execPath, [join(ROOT, 'bench/ws-echo-server.mjs'), path('kiosk-line-centre', 'key'), path('kiosk-line-centre', 'cert'), path('kiosk-line-ca', 'cert')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const centreLine = await waitFor(stack, /centre \(kiosk line\): wss:\/\/127\.0\.0\.1:(\d+)\/v1\/kiosk \(pid (\d+)/);
  await waitFor(stack, /^ready in/m);
  const echoPort = (await waitFor(echo, /listening (\d+)/))[1];
  const centre = await measure(`wss://localhost:${centreLine[1]}/v1/kiosk`, Number(centreLine[2]));
  const baseline = await measure(`wss://localhost:${echoPort}/`, echo.pid!);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'idle-sockets',
      sockets: N,
      centre,
      baseline,
      ratioBytesPerSocket: Number((centre.bytesPerSocket / baseline.bytesPerSocket).toFixed(2)),
    })}\n`,
  );
} finally {
  echo.kill('SIGTERM');
  try {
    process.kill(-stack.pid!, 'SIGINT');
  } catch {
    /* gone */
  }
  await new Promise((r) => (stack.exitCode !== null ? r(null) : stack.once('exit', r)));
  rmSync(state, { recursive: true, force: true });
}
