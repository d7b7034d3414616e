import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { SqlLedger } from '../../src/ledger/sql-ledger.js';
import type { DbConfig } from '../../src/ledger/db.js';

const run = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../../..');
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A fresh database on the PostgreSQL server at 127.0.0.1:5432 (trust auth), dropped
 * when the test ends. Starts the cluster if it is down; returns undefined, with
 * the reason, when there is no server to use.
 */
export async function pgDatabase(t: { teardown(fn: () => unknown): void }): Promise<{ url?: string; why?: string }> {
  const tryConnect = async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
    await c.connect();
    return c;
  };
  let admin: pg.Client;
  try {
    admin = await tryConnect();
  } catch {
    try {
      const { stdout } = await run('ls', ['/etc/postgresql']);
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', stdout.trim().split('\n')[0]!, 'main', 'start']);
      admin = await tryConnect();
    } catch (err) {
      return { why: `no PostgreSQL server on 127.0.0.1:5432 and it could not be started (${(err as Error).message})` };
    }
  }
  const name = `ic_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  t.teardown(async () => {
    const c = await tryConnect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  return { url: `postgres://postgres@127.0.0.1:5432/${name}` };
}

/** The centre CLI from source, asynchronously (never block: servers may run in this process). */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', join(ROOT, 'issuance-center/src/cli.ts'), ...args], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout, err: e.stderr };
  }
}

export interface Issue {
  cityCode?: string;
  certType?: string;
  copies?: number;
  fee?: number;
  printed?: number | 'failed' | 'undelivered';
  at?: Date;
  kioskId?: string;
}

/** One whole issuance through the ledger interface; returns its id. */
export async function issue(ledger: SqlLedger, i: Issue = {}): Promise<string> {
  const id = randomUUID();
  const at = i.at ?? new Date();
  const copies = i.copies ?? 1;
  await ledger.begin({
    issuanceId: id,
    cityCode: i.cityCode ?? '991015',
    kioskId: i.kioskId ?? 'K0001',
    storeId: 'S0001',
    certType: (i.certType ?? 'resident-record') as 'resident-record',
    copies,
    cardSerialHmac: randomBytes(32).toString('hex'),
    requestedAt: new Date(at.getTime() - 20_000).toISOString(),
  });
  if (i.printed === 'undelivered') {
    await ledger.outcome(id, 'failed', 0, at);
    return id;
  }
  await ledger.delivered(id, randomBytes(32).toString('hex'), i.fee ?? 200 * copies, new Date(at.getTime() - 10_000));
  if (i.printed === 'failed') await ledger.outcome(id, 'failed', 0, at);
  else await ledger.outcome(id, 'printed', i.printed ?? copies, at);
  return id;
}

/** The same tests on PGlite (a data directory) and on the PostgreSQL server. */
export async function backends<T extends Tap>(t: T, fn: (t: T, cfg: DbConfig, name: 'pglite' | 'postgres') => Promise<void>) {
  await t.test('PGlite', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-ledger-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    await fn(t, { dataDir: join(dir, 'db') }, 'pglite');
  });
  await t.test('PostgreSQL server', async (t) => {
    const pg = await pgDatabase(t);
    if (!pg.url) {
      t.skip(pg.why);
      return;
    }
    await fn(t, { url: pg.url }, 'postgres');
  });
}


interface Tap {
  test(name: string, fn: (t: this) => Promise<void>): Promise<unknown>;
  teardown(fn: () => unknown): void;
  skip(msg?: string): void;
}
