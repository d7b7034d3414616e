import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { ReplicaKeys } from '../crypto/replica-keys.js';
import type { KeyWrapper } from '../crypto/key-wrapper.js';

/**
 * The replica's only door to SQL. Written against PostgreSQL's dialect so a `pg`
 * pool can implement the same interface later; PGlite is the embedded default.
 */
export interface Queryable {
  /** One statement, positional parameters ($1...). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** The replica's data key once unlocked (crypto/replica-keys.ts); the same on the Db and its transactions. */
  readonly keys?: ReplicaKeys;
  /**
   * `COPY <table> (<columns>) FROM STDIN [WITH (FORMAT binary)]` with `data` in that
   * format (bulk loads). Inside a transaction it is part of it: a refused row aborts the whole
   * transaction. PGlite reads it as COPY FROM '/dev/blob', a server through the
   * COPY protocol (pg-copy-streams). Absent where a Queryable cannot COPY.
   */
  copyFrom?(sql: string, data: Buffer): Promise<void>;
  /**
   * The COPY format this backend loads fastest (copyFrom takes both: the SQL says
   * which, `WITH (FORMAT binary)`); 'text' when absent.
   */
  readonly copyFormat?: 'text' | 'binary';
}

/** `COPY … FROM STDIN` as PGlite reads it: the data comes as a blob. */
export function pgliteCopySql(sql: string): string {
  if (!/\bFROM STDIN\b/i.test(sql)) throw new Error('copyFrom: COPY … FROM STDIN expected');
  return sql.replace(/\bFROM STDIN\b/i, "FROM '/dev/blob'");
}

export interface TransactionOptions {
  /**
   * 'repeatable-read' (default): one snapshot for the whole transaction (issuance
   * decisions). 'read-committed': for writers that serialize themselves with an
   * advisory lock and must see what the previous lock holder committed (sync, migrations).
   * PGlite has one connection, so both mean the same there.
   */
  isolation?: 'repeatable-read' | 'read-committed';
}

export interface Db extends Queryable {
  /**
   * Runs fn in one transaction: committed if it resolves, rolled back if it throws.
   * On a server, fn may run again after a serialization failure: no side effects outside tx.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

export interface PgliteDbOptions {
  /** Data directory on disk; absent = in memory (tests). */
  dataDir?: string;
  /** Wraps the replica's data key: the city's token in service; default the development wrapper. */
  keyWrapper?: KeyWrapper;
}

/**
 * PGlite has one connection. Every call goes through one queue so that a query
 * from another request can never run inside somebody else's transaction.
 */
class PgliteDb implements Db {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly pg: PGlite,
    readonly keys: ReplicaKeys,
  ) {}

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('replica database is closed'));
    const run = this.tail.then(job, job);
    // the queue continues whatever this job's result
    this.tail = run.catch(() => undefined);
    return run;
  }

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.enqueue(async () => (await this.pg.query<T>(sql, params)).rows);
  }

  exec(sql: string): Promise<void> {
    return this.enqueue(async () => {
      await this.pg.exec(sql);
    });
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>, _options?: TransactionOptions): Promise<T> {
    return this.enqueue(() =>
      this.pg.transaction(async (tx) => {
        const q: Queryable = {
          keys: this.keys,
          query: async <R>(sql: string, params: unknown[] = []) => (await tx.query<R>(sql, params)).rows,
          exec: async (sql: string) => {
            await tx.exec(sql);
          },
          copyFrom: async (sql: string, data: Buffer) => {
            await tx.query(pgliteCopySql(sql), [], { blob: new Blob([data]) });
          },
          // binary from /dev/blob works here too, and costs PGlite less than hex to parse (BENCHMARKS.md, "Sync")
          copyFormat: 'binary',
        };
        return fn(q);
      }),
    );
  }

  async close(): Promise<void> {
    const last = this.tail;
    this.closed = true;
    await last;
    await this.pg.close();
  }
}

export async function openPgliteDb(options: PgliteDbOptions = {}): Promise<Db> {
  // PGlite makes only the last path segment; city staff give a path like var/city-db/<code>.
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const pg = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  return new PgliteDb(pg, new ReplicaKeys(options.keyWrapper));
}

/**
 * The replica named by one setting (`--db`): a postgres:// URL is a PostgreSQL
 * server through `pg`; anything else is a PGlite data directory.
 */
export async function openDb(spec: string | undefined, options: { keyWrapper?: KeyWrapper } = {}): Promise<Db> {
  if (spec && /^postgres(ql)?:\/\//.test(spec)) {
    const { openPgDb } = await import('./pg.js');
    return openPgDb({ connectionString: spec, ...options });
  }
  return openPgliteDb(spec ? { dataDir: spec, ...options } : { ...options });
}
