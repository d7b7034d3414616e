/**
 * Idle kiosk sockets one centre instance holds, and memory per socket:
 *   node --expose-gc --import tsx --conditions=konbini-source issuance-center/bench/idle-sockets.ts [N=5000]
 * The centre runs here; the kiosks (mutual TLS WebSockets with a dev kiosk
 * certificate) run in a child process so their memory is not counted. Memory is
 * read after a forced GC before and after the N sockets are open.
 */
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPki } from '@konbini/dev-pki';
import { buildApp } from '../src/http/app.js';

const N = Number(process.argv[2] ?? 5000);
const ROOT = resolve(import.meta.dirname, '../..');
const pki = loadPki(join(ROOT, 'var/pki'));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mem = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
};

const app = buildApp({
  kioskTls: { key: pki.kioskLine.centre.keyPem, cert: pki.kioskLine.centre.certPem, ca: pki.kioskLine.ca.certPem },
  lgwanTls: { key: pki.lgwan.centre.keyPem, cert: pki.lgwan.centre.certPem, ca: pki.lgwan.ca.certPem },
  jpki: { roots: [pki.jpki.authCa.certPem] },
  directory: { cities: [], cards: [], kiosks: [{ kioskId: 'K0001', storeId: 'S0001', storeOperator: 'op', status: 'active' }] },
  logger: false,
});
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as AddressInfo).port;
const before = mem();

const dir = mkdtempSync(join(tmpdir(), 'ic-bench-'));
const k = pki.kioskLine.kiosks.K0001!;
const script = join(dir, 'kiosks.mjs');
writeFileSync(
  script,
  `import WebSocket from ${JSON.stringify(join(ROOT, 'node_modules/ws/wrapper.mjs'))};
import { readFileSync } from 'node:fs';
const tls = { key: readFileSync(${JSON.stringify(k.keyPath)}), cert: readFileSync(${JSON.stringify(k.certPath)}), ca: readFileSync(${JSON.stringify(pki.kioskLine.ca.certPath)}) };
const sockets = [];
let open = 0, failed = 0;
const one = () => new Promise((res) => {
  const ws = new WebSocket('wss://localhost:${port}/v1/kiosk', tls);
  ws.on('open', () => { open++; res(); });
  ws.on('error', () => { failed++; res(); });
  sockets.push(ws);
});
for (let i = 0; i < ${N}; i += 50) await Promise.all(Array.from({ length: Math.min(50, ${N} - i) }, one));
process.stdout.write(JSON.stringify({ open, failed }) + '\\n');
setInterval(() => {}, 1 << 30);
`,
);
const t0 = performance.now();
const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
const report = await new Promise<{ open: number; failed: number }>((r) => child.stdout.once('data', (d) => r(JSON.parse(String(d)))));
const seconds = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 500));
const held = app.kioskSockets.clients.size;
const after = mem();
const per = (k: keyof typeof before) => ((after[k] - before[k]) / held / 1024).toFixed(1);
console.log(`kiosks opened ${report.open}/${N} (failed ${report.failed}) in ${seconds.toFixed(1)} s; centre holds ${held} idle sockets`);
console.log(`memory per socket: rss ${per('rss')} KiB, JS heap ${per('heap')} KiB, external ${per('external')} KiB`);
console.log(`centre rss ${(after.rss / 1048576).toFixed(0)} MiB (was ${(before.rss / 1048576).toFixed(0)} MiB)`);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await app.close();
rmSync(dir, { recursive: true, force: true });
