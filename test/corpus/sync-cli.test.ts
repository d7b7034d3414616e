import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './helpers.js';
import { SYNC_CASES, type SyncContext } from './sync.cases.js';

/*
 * The same sync files, handed to city staff's command `city-cert sync delta <file>`
 * (run from source, as a child process, against a PGlite replica of a generated
 * city). A refused file: exit 1, `error <CODE>` and the row report on stderr,
 * `nothing was changed.`, and `status` still at the same sequence. Each command
 * opens the replica anew (seconds each), so only a sample of the corpus runs here;
 * the HTTP test runs all of it.
 */

const CLI = join(ROOT, 'city-cert-server/src/cli.ts');
const CITY = '999997';
const SAMPLE = [
  'no end record',
  'a line that is not JSON',
  'a batch for another city',
];

const work = mkdtempSync(join(tmpdir(), 'konbini-corpus-cli-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const db = join(work, 'db');

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function lastSeq(): Promise<number> {
  const r = await cli(['status', '--db', db, '--json']);
  if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { lastSeq: number }).lastSeq;
}

t.test('setup: a generated city, fully loaded', async (t) => {
  const city = join(work, 'city.jsonl');
  t.equal((await cli(['generate', '--residents', '30', '--out', city, '--city', CITY, '--seed', '8'])).code, 0, 'generated');
  t.equal((await cli(['sync', 'full', city, '--db', db])).code, 0, 'loaded');
});

t.test(`${SAMPLE.length} sync files through city-cert sync delta`, async (t) => {
  const rows = readFileSync(join(work, 'city.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const residents = rows.filter((r) => r.type === 'resident');
  const link = rows.find((r) => r.type === 'card-link')!;
  const holder = residents.find((r) => r.id === link.residentId)!;
  const seq = await lastSeq();
  const ctx: SyncContext = { city: CITY, seq, residentId: holder.id, householdId: holder.householdId, serial: link.serial, otherResidentId: residents.find((r) => r.householdId !== holder.householdId)!.id };
  for (const name of SAMPLE) {
    const c = SYNC_CASES.find((x) => x.name === name)!;
    await t.test(name, { todo: c.todo }, async (t) => {
      const file = join(work, `${SAMPLE.indexOf(name)}.jsonl`);
      writeFileSync(file, c.body(ctx));
      const r = await cli(['sync', 'delta', file, '--db', db]);
      t.equal(r.code, 1, 'exit 1: refused');
      t.match(r.stderr, new RegExp(`^error ${c.code}: `, 'm'), `error ${c.code}`);
      t.match(r.stderr, /^ {2}line \d+: /m, 'a row report');
      t.match(r.stderr, /nothing was changed\./, 'says nothing was changed');
    });
  }
  t.equal(await lastSeq(), seq, `status: the replica is still at sequence ${seq}`);
});
