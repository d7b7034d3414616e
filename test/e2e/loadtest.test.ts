/**
 * The load harness as an operator runs it (`npm run loadtest`), small: two centre
 * instances and two workers per city on the PostgreSQL server, the city's core
 * system syncing 転居 batches while the kiosks issue. Every sheet is checked by the
 * harness against its requester; here we check what it reports: everything printed,
 * nothing misdelivered, both centres and both workers of the city did work, every
 * document rendered once, the deltas applied, and the databases it made are gone.
 *
 * Needs the PostgreSQL server of this machine kind (127.0.0.1:5432, user postgres).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { ROOT, requireFixtures } from './stack.js';

const PG = 'postgres://postgres@127.0.0.1:5432';

async function databasesLike(pattern: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: `${PG}/postgres` });
  await c.connect();
  try {
    return (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [pattern])).rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
}
const reachable = await databasesLike('%').then(
  () => true,
  () => false,
);

function harness(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import=tsx', '--conditions=konbini-source', join(ROOT, 'bench/loadtest.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('2 centres × 2 city workers on PostgreSQL with deltas syncing: all printed, none misdelivered, all processes used', { skip: reachable ? false : 'no PostgreSQL server on 127.0.0.1:5432', timeout: 600_000 }, async (t) => {
  requireFixtures();
  const r = await harness(['--kiosks', '6', '--issuances', '30', '--centres', '2', '--city-workers', '2', '--sync', '--json']);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const lines = r.stdout.trim().split('\n');
  const last = lines.at(-1)!;
  t.match(last, /^issuances=30 printed=30 failed=0 kiosks=6 centres=2 city-workers=2 deltas=\d+ delta-refusals=0 throughput=[\d.]+\/s p50=\d+ms p95=\d+ms p99=\d+ms misdelivered=0$/, 'summary line');
  const summary = JSON.parse(lines.find((l) => l.startsWith('{'))!) as {
    printed: number;
    misdelivered: number;
    byCentre: number[];
    byCityProcess: Record<string, number>;
    deltasApplied: number;
    database: string;
    cpuMsPerIssuance: Record<string, number>;
  };
  t.equal(summary.misdelivered, 0);
  t.equal(summary.byCentre.length, 2);
  t.ok(summary.byCentre.every((n) => n > 0), `both centre instances issued (${summary.byCentre.join(', ')})`);
  t.equal(summary.byCentre[0]! + summary.byCentre[1]!, 30);
  // the fixtures' issuing cards are all in city 991015: its two workers share the work
  t.ok(summary.byCityProcess['city-991015-1']! > 0 && summary.byCityProcess['city-991015-2']! > 0, `both workers rendered (${JSON.stringify(summary.byCityProcess)})`);
  t.equal(
    Object.values(summary.byCityProcess).reduce((a, b) => a + b, 0),
    30,
    'every printed document rendered by exactly one worker, none twice',
  );
  // CPU per issuance by role, for the end-to-end overhead figure: each part of the stack is found and counted
  for (const role of ['centre', 'city', 'koseki', 'postgres', 'harness']) t.type(summary.cpuMsPerIssuance[role], 'number', `CPU of ${role}`);
  t.ok(summary.cpuMsPerIssuance.centre! > 0 && summary.cpuMsPerIssuance.city! > 0 && summary.cpuMsPerIssuance.postgres! > 0, JSON.stringify(summary.cpuMsPerIssuance));
  t.ok(summary.deltasApplied >= 10, `deltas applied during the run (${summary.deltasApplied})`);
  const prefix = /postgresql \((konbini_load_[0-9a-f]{8})_\*/.exec(summary.database)?.[1];
  t.ok(prefix, summary.database);
  t.same(await databasesLike(`${prefix}\\_%`), [], 'its databases are dropped');
});

t.test('bad options are refused with the usage, before anything starts', async (t) => {
  for (const args of [['--centres', '0'], ['--city-workers', 'two'], ['--kiosks', '-1'], ['--centres', '17'], ['--kiosk', '3']]) {
    const r = await harness([...args, '--issuances', '1']);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /usage: npm run loadtest -- --kiosks N --issuances M \[--centres K\] \[--city-workers W\] \[--sync\]/);
  }
});
