/**
 * `npm run bench`: runs every benchmark of the stack, each as its own process,
 * collects the JSON line each prints last, and writes bench/results.json and the
 * tables in BENCHMARKS.md (with the machine and the date). Benchmarks measure;
 * tests never assert timings.
 *
 *   npm run bench [-- --only loadtest-50,idle-sockets] [--quick]
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { only: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const quick = values.quick;

interface Bench {
  name: string;
  what: string;
  file: string;
  args: string[];
  /** Node flags for the benchmark's process. */
  nodeArgs?: string[];
}

const BENCHES: Bench[] = [
  // with the young generation the city's render workers get (pool.ts RENDER_WORKER_LIMITS: 3 × 32 MB)
  { name: 'render-sign', what: 'city: 住民票 render and render+sign in a warm process, against bare pdfkit with the same fonts; each type with marks', file: 'city-cert-server/bench/render-sign.ts', args: [], nodeArgs: ['--max-semi-space-size=32'] },
  { name: 'card-validation', what: 'centre: card certificate + challenge signature validations per second', file: 'issuance-center/bench/card-validation.ts', args: [] },
  { name: 'sync', what: 'city: full load (COPY vs jsonb INSERT, sealing threads) and delta sync', file: 'city-cert-server/bench/sync.ts', args: quick ? ['--residents', '10000', '--deltas', '2000'] : ['--residents', '100000', '--deltas', '10000', '--method', 'copy,insert', '--encryption', 'on,off'] },
  { name: 'outbox', what: 'city → centre card link changes: batches of 1,000 against one per call', file: 'city-cert-server/bench/outbox.ts', args: quick ? ['--changes', '10000', '--single', '200'] : ['--changes', '100000', '--single', '500'] },
  { name: 'loadtest-1', what: 'end to end, 1 kiosk, services as processes', file: 'bench/loadtest.ts', args: ['--kiosks', '1', '--issuances', quick ? '20' : '100', '--json'] },
  { name: 'loadtest-50', what: 'end to end, 50 kiosks', file: 'bench/loadtest.ts', args: ['--kiosks', '50', '--issuances', quick ? '200' : '1000', '--json'] },
  { name: 'loadtest-200', what: 'end to end, 200 kiosks', file: 'bench/loadtest.ts', args: ['--kiosks', '200', '--issuances', quick ? '400' : '2000', '--json'] },
  { name: 'loadtest-200-pg', what: 'end to end, 200 kiosks, replica and ledger on the PostgreSQL server', file: 'bench/loadtest.ts', args: ['--kiosks', '200', '--issuances', quick ? '400' : '2000', '--pg', 'postgres://postgres@127.0.0.1:5432', '--json'] },
  { name: 'idle-sockets', what: 'idle kiosk sockets on one centre vs a bare WSS echo server', file: 'bench/idle-sockets.ts', args: ['--sockets', quick ? '1000' : '5000'] },
];

/**
 * A benchmark reports either one JSON document (possibly pretty-printed), or a JSON
 * line last, or plain text lines: kept as they are, so nothing it said is lost.
 */
function parseResult(out: string): unknown {
  const text = out.trim();
  try {
    return JSON.parse(text);
  } catch {
    /* not one document */
  }
  const last = text.split('\n').reverse().find((l) => l.trim().startsWith('{'));
  if (last) {
    try {
      return JSON.parse(last);
    } catch {
      /* fall through to text */
    }
  }
  return { lines: text.split('\n').filter((l) => l.trim()) };
}

function runOne(b: Bench): Promise<{ ok: boolean; result?: unknown; error?: string; seconds: number }> {
  const started = Date.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [...(b.nodeArgs ?? []), '--import=tsx', '--conditions=konbini-source', join(ROOT, b.file), ...b.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      try {
        if (code !== 0) throw new Error(`exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
        res({ ok: true, result: parseResult(out), seconds });
      } catch (e) {
        res({ ok: false, error: (e as Error).message, seconds });
      }
    });
  });
}

const only = values.only?.split(',');
const selected = BENCHES.filter((b) => (!only || only.includes(b.name)));
const resultsPath = join(ROOT, 'bench/results.json');
const previous = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as { runs: Record<string, unknown> }) : { runs: {} };
const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
const runs: Record<string, unknown> = { ...previous.runs };
for (const b of selected) {
  if (!existsSync(join(ROOT, b.file))) {
    process.stdout.write(`${b.name}: skipped (${b.file} not there yet)\n`);
    continue;
  }
  process.stdout.write(`${b.name}: running (${b.what})\n`);
  const r = await runOne(b);
  runs[b.name] = { what: b.what, date: new Date().toISOString(), machine, seconds: r.seconds, ...(r.ok ? { result: r.result } : { error: r.error }) };
  process.stdout.write(`${b.name}: ${r.ok ? JSON.stringify(r.result) : `FAILED ${r.error}`}\n`);
}
/**
 * The end-to-end overhead target (issue 8: everything but render + sign and card I/O
 * ≤ 25 % of render + sign at 200 kiosks, p99 ≤ 4 × p50), from two benchmarks of this
 * run: the services' CPU per issuance at 200 kiosks (centre, city with its render
 * workers, koseki, database) less the CPU of one 住民票 rendered and signed as issued
 * (with 地紋 and back page), over that render + sign. CPU, not wall time: on two
 * cores with the kiosks beside the services, latency at 200 kiosks is queueing.
 */
const rs = (runs['render-sign'] as { result?: { renderSignWithMarks?: { cpuMedianMs: number } } } | undefined)?.result?.renderSignWithMarks;
for (const load of ['loadtest-200', 'loadtest-200-pg']) {
  const lt = (runs[load] as { result?: { p50: number; p99: number; cpuMsPerIssuance?: Record<string, number> } } | undefined)?.result;
  if (!rs || !lt?.cpuMsPerIssuance || !selected.some((b) => b.name === 'render-sign' || b.name === load)) continue;
  const c = lt.cpuMsPerIssuance;
  const services = (c.centre ?? 0) + (c.city ?? 0) + (c.koseki ?? 0) + (c.postgres ?? 0);
  const overheadMs = services - rs.cpuMedianMs;
  const name = load.replace('loadtest', 'overhead');
  runs[name] = {
    what: `${load}: services CPU per issuance beyond render + sign, against render + sign (target ≤ 25 %); p99 / p50 (target ≤ 4)`,
    date: new Date().toISOString(),
    machine,
    result: {
      servicesCpuMsPerIssuance: Number(services.toFixed(1)),
      renderSignCpuMs: rs.cpuMedianMs,
      overheadCpuMs: Number(overheadMs.toFixed(1)),
      overheadPercent: Math.round((overheadMs / rs.cpuMedianMs) * 100),
      p99OverP50: Number((lt.p99 / lt.p50).toFixed(2)),
      byRole: c,
    },
  };
  process.stdout.write(`${name}: ${JSON.stringify((runs[name] as { result: unknown }).result)}\n`);
}
writeFileSync(resultsPath, `${JSON.stringify({ runs }, null, 2)}\n`);
process.stdout.write(`results: ${resultsPath}\n`);
