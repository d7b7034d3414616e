import { mkdirSync } from 'node:fs';

/**
 * The centre's PostgreSQL, whichever way it runs: PGlite (PostgreSQL in WASM,
 * in-process, a data directory or memory) by default, or a real server through
 * `pg` when a connection URL is configured. Both speak the same SQL; this is the
 * little the ledger needs from them.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface SqlDb extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Run `fn` in one transaction on one connection; rolled back if it throws. */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  exec(sql: string): Promise<void>;
  /**
   * LISTEN on `channel`: PostgreSQL on its own connection (reconnected after a
   * loss, then `onReconnect`, since notices sent meanwhile are gone); PGlite in
   * its own process. Returns the unlisten.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DbConfig {
  /** postgres://… : a PostgreSQL server. */
  url?: string;
  /** PGlite data directory; neither this nor url: PGlite in memory. */
  dataDir?: string;
}

/** `--db` on the command line: a postgres:// URL or a PGlite data directory. */
export function dbConfigFromArg(arg: string | undefined): DbConfig {
  if (!arg) return {};
  return /^postgres(ql)?:\/\//.test(arg) ? { url: arg } : { dataDir: arg };
}

export async function openDb(cfg: DbConfig): Promise<SqlDb> {
  if (cfg.url) return openPostgres(cfg.url);
  return openPglite(cfg.dataDir);
}

async function openPglite(dataDir?: string): Promise<SqlDb> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  // PGlite has one connection: its own queue serialises queries and transactions.
  return {
    kind: 'pglite',
    query: async (sql, params) => ({ rows: (await db.query(sql, params)).rows as never[] }),
    transaction: (fn) => db.transaction((tx) => fn({ query: async (sql, params) => ({ rows: (await tx.query(sql, params)).rows as never[] }) })),
    exec: async (sql) => {
      await db.exec(sql);
    },
    listen: async (channel, onMessage) => db.listen(channel, onMessage),
    close: () => db.close(),
  };
}

async function openPostgres(url: string): Promise<SqlDb> {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // A pool error on an idle client must not crash the centre; the next query reports it.
  pool.on('error', () => undefined);
  const query = async <R,>(sql: string, params?: unknown[]) => ({ rows: (await pool.query(sql, params as unknown[])).rows as R[] });
  return {
    kind: 'postgres',
    query,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn({ query: async (sql, params) => ({ rows: (await client.query(sql, params as unknown[])).rows as never[] }) });
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    listen: (channel, onMessage, onReconnect) => listenPostgres(pg, url, channel, onMessage, onReconnect),
    close: () => pool.end(),
  };
}

/** A dedicated connection for LISTEN (a pooled one would be handed to queries). */
async function listenPostgres(
  pg: typeof import('pg').default,
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
  onReconnect?: () => void,
): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new RangeError(`channel name ${channel}`);
  let stopped = false;
  let client: import('pg').Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const reconnectLater = () => {
    if (stopped) return;
    retry = setTimeout(() => void connect().then(() => onReconnect?.(), reconnectLater), 1000);
  };
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel === channel) onMessage(n.payload ?? '');
    });
    const lost = () => {
      if (stopped || client !== c) return;
      client = undefined;
      c.end().catch(() => undefined);
      reconnectLater();
    };
    c.on('error', lost);
    c.on('end', lost);
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      c.end().catch(() => undefined);
      throw err;
    }
    client = c;
  };
  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
