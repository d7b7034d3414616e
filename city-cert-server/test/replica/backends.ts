import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPgDb, openPgliteDb, type Db } from '../../src/index.js';

/**
 * The replica's storage backends a test runs on: PGlite in memory, and a fresh
 * database with a random name on the PostgreSQL server (127.0.0.1:5432, TCP,
 * trust auth), dropped afterwards. KONBINI_PG_ADMIN overrides the admin URL.
 */
export const PG_ADMIN = process.env.KONBINI_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Backend {
  name: 'pglite' | 'postgres';
  /** A new, empty database. */
  open(): Promise<Db>;
  /** Connection spec for a CLI (`--db`); for PGlite a directory is made by the caller. */
  spec?: string;
  cleanup(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Null (with the reason) when no server answers: the test says so and skips. */
export async function postgresReachable(): Promise<string | null> {
  try {
    await admin((c) => c.query('SELECT 1'));
    return null;
  } catch (err) {
    return `PostgreSQL at ${PG_ADMIN} not reachable: ${(err as Error).message}`;
  }
}

export function pgliteBackend(): Backend {
  return { name: 'pglite', open: () => openPgliteDb(), cleanup: async () => undefined };
}

/** A database of its own; `open()` may be called several times (several workers on one database). */
export async function postgresBackend(): Promise<Backend> {
  const name = `konbini_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = PG_ADMIN.replace(/\/[^/]*$/, `/${name}`);
  const opened: Db[] = [];
  return {
    name: 'postgres',
    spec: url,
    open: async () => {
      const db = await openPgDb({ connectionString: url });
      opened.push(db);
      return db;
    },
    cleanup: async () => {
      await Promise.allSettled(opened.map((d) => d.close()));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Both backends, or only PGlite with the reason PostgreSQL was skipped. */
export async function backends(): Promise<{ list: { name: Backend['name']; make: () => Promise<Backend> }[]; skipped: string | null }> {
  const skipped = await postgresReachable();
  const list: { name: Backend['name']; make: () => Promise<Backend> }[] = [{ name: 'pglite', make: async () => pgliteBackend() }];
  if (!skipped) list.push({ name: 'postgres', make: postgresBackend });
  return { list, skipped };
}
