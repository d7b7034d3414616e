import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { Db, Queryable, TransactionOptions } from './db.js';
import { ReplicaKeys } from '../crypto/replica-keys.js';
import type { KeyWrapper } from '../crypto/key-wrapper.js';

/** SQLSTATEs after which a transaction may simply be run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 5;
/** connection_exception, admin/crash shutdown, and the socket errors of a lost connection */
const LOST = /^(08|57P0|ECONNRESET$|EPIPE$|ECONNREFUSED$)/;

function queryable(client: pg.PoolClient, keys: ReplicaKeys): Queryable {
  return {
    keys,
    query: async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
    exec: async (sql: string) => {
      await client.query(sql);
    },
    copyFrom: async (sql: string, data: Buffer) => {
      // the COPY protocol: rows streamed, parsed by the server as they arrive
      await pipeline(Readable.from([data]), client.query(copyFromStdin(sql)));
    },
    // raw envelopes instead of hex that the server decodes again (BENCHMARKS.md, "Sync")
    copyFormat: 'binary',
  };
}

/**
 * The replica on a PostgreSQL server through a `pg` pool: several city-server
 * workers may share it (DESIGN §5 invariant 3), so transactions are real ones.
 * The default isolation is REPEATABLE READ: an issuance decision reads the card
 * link, the resident and the household in one snapshot, never half of a delta
 * batch committed between two of its statements. A serialization failure reruns
 * the whole function (it was rolled back, so running it again is safe).
 */
class PgDb implements Db {
  constructor(
    private readonly pool: pg.Pool,
    readonly keys: ReplicaKeys,
  ) {}

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const level = options.isolation === 'read-committed' ? 'READ COMMITTED' : 'REPEATABLE READ';
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken = false;
      // a checked-out client has no pool listener: a connection lost between two statements must not be an uncaught 'error'
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query(`BEGIN ISOLATION LEVEL ${level}`);
        const result = await fn(queryable(client, this.keys));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection itself failed: do not give it back to the pool
        }
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue;
        // the connection was lost (backend terminated, server restarted): the pool drops it, the next attempt gets a new one
        if (broken && LOST.test(code ?? '') && attempt < 3) continue;
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export interface PgDbOptions {
  /** postgres://user@host:port/database */
  connectionString: string;
  /** Pool size; a city-server worker needs few. */
  max?: number;
  /** Wraps the replica's data key: the city's token in service; default the development wrapper. */
  keyWrapper?: KeyWrapper;
}

export async function openPgDb(options: PgDbOptions): Promise<Db> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 8 });
  // an idle client's error (server restart) must not crash the process; the next query reports it
  pool.on('error', () => undefined);
  // nor while a client is between hands (pg-pool gives it no listener then): it is dropped as not queryable
  pool.on('connect', (c) => c.on('error', () => undefined));
  const client = await pool.connect(); // fail at start, not at the first resident
  client.release();
  return new PgDb(pool, new ReplicaKeys(options.keyWrapper));
}

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//.test(spec);
}
