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

/**
 * Errors after which the connection is gone (server restarted or failed over, a
 * backend terminated, the network cut), not the statement refused: the pool drops
 * the connection and an idempotent operation may simply be run again.
 */
export function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(08|57P0)/.test(code)) return true; // connection_exception, admin/crash shutdown, cannot_connect_now
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN', 'ERR_STREAM_DESTROYED'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|read-only|recovery/i.test(message) || code === '25006';
}

/**
 * Run an idempotent database operation, again after a lost connection, with a
 * growing pause, until it succeeds or `deadlineMs` has passed (then the last error).
 * A refusal by the server (a constraint, a bad statement) is thrown at once.
 */
export async function retryLostConnection<T>(fn: () => Promise<T>, deadlineMs = 20_000, onRetry?: (err: unknown, attempt: number) => void): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionLost(err) || Date.now() - started > deadlineMs) throw err;
      onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (attempt - 1), 1000)));
    }
  }
}

/**
 * `postgres://h1:p1,h2:p2/db?target_session_attrs=read-write`: the hosts in order;
 * node-postgres takes one host, so the pool's clients are made here, each for the
 * host that last answered as a primary, and a client that finds itself on a
 * standby (in recovery, read-only) fails its connect and moves on to the next.
 */
export function parseHosts(url: string): { hosts: { host: string; port: number }[]; readWrite: boolean; single: string[] } {
  const m = /^(postgres(?:ql)?:\/\/)([^@/]*@)?([^/?]*)(.*)$/.exec(url);
  if (!m) return { hosts: [], readWrite: false, single: [url] };
  const [, scheme, userinfo = '', hostlist, rest] = m;
  const hosts = hostlist!.split(',').map((h) => {
    const at = h.lastIndexOf(':');
    return at > 0 && !h.endsWith(']') ? { host: h.slice(0, at), port: Number(h.slice(at + 1)) } : { host: h, port: 5432 };
  });
  const params = new URLSearchParams(rest!.split('?')[1] ?? '');
  const readWrite = params.get('target_session_attrs') === 'read-write' || params.get('target_session_attrs') === 'primary';
  params.delete('target_session_attrs');
  const path = rest!.split('?')[0]!;
  const query = params.toString();
  const single = hosts.map((h) => `${scheme}${userinfo}${h.host}:${h.port}${path}${query ? `?${query}` : ''}`);
  return { hosts, readWrite, single };
}

async function openPostgres(url: string): Promise<SqlDb> {
  const pg = (await import('pg')).default;
  const { single, readWrite } = parseHosts(url);
  let current = 0;
  // One host: node-postgres as it is. Several: each new client tries the host that
  // last worked first, then the others, and keeps the first primary it finds.
  class FailoverClient extends pg.Client {
    // pg-pool calls connect(callback)
    override connect(): Promise<import('pg').Client>;
    override connect(callback: (err: Error | null, c?: import('pg').Client) => void): void;
    override connect(callback?: (err: Error | null, c?: import('pg').Client) => void): Promise<import('pg').Client> | void {
      const p = this.failover();
      if (!callback) return p;
      p.then((c) => callback(null, c), (err: Error) => callback(err));
    }
    private async failover(): Promise<import('pg').Client> {
      let lastErr: unknown;
      let found = -1;
      for (let i = 0; i < single.length && found < 0; i++) {
        const idx = (current + i) % single.length;
        const probe = new pg.Client({ connectionString: single[idx], connectionTimeoutMillis: 5000 });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          if (readWrite && (await probe.query('SELECT pg_is_in_recovery() AS r')).rows[0]?.r) {
            throw Object.assign(new Error('host is read-only (in recovery)'), { code: '25006' });
          }
          found = idx;
        } catch (err) {
          lastErr = err;
        } finally {
          await probe.end().catch(() => undefined);
        }
      }
      if (found < 0) throw lastErr;
      current = found;
      // this client (the one the pool holds) connects to the host just found
      const u = new URL(single[found]!);
      const self = this as unknown as { host: string; port: number };
      self.host = u.hostname;
      self.port = Number(u.port || 5432);
      await super.connect();
      return this;
    }
  }
  const pool =
    single.length > 1
      ? new pg.Pool({ connectionString: single[0], max: 4, connectionTimeoutMillis: 10_000, Client: FailoverClient as unknown as typeof pg.Client })
      : new pg.Pool({ connectionString: single[0], max: 4, connectionTimeoutMillis: 10_000 });
  // A pool error on an idle client must not crash the centre; the next query reports it.
  pool.on('error', () => undefined);
  // Nor on a client between two hands: pg-pool gives a client no 'error' listener
  // from the moment it is handed out until the taker attaches one, and a backend
  // terminated in that gap (its FATAL in the same packet as the last answer) would
  // be an uncaught 'error'. A lost client is still dropped: it is not queryable.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const query = async <R,>(sql: string, params?: unknown[]) => ({ rows: (await pool.query(sql, params as unknown[])).rows as R[] });
  return {
    kind: 'postgres',
    query,
    async transaction(fn) {
      const client = await pool.connect();
      // A checked-out client has no pool listener: a backend terminated between two
      // statements would otherwise be an uncaught 'error' event.
      let lost: unknown;
      const onError = (err: unknown) => {
        lost = err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const out = await fn({ query: async (sql, params) => ({ rows: (await client.query(sql, params as unknown[])).rows as never[] }) });
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          lost ??= e;
        });
        throw err;
      } finally {
        client.off('error', onError);
        // a broken connection is dropped, not handed to the next query
        client.release(lost ? (lost as Error) : undefined);
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    listen: (channel, onMessage, onReconnect) => listenPostgres(pg, single, channel, onMessage, onReconnect),
    close: () => pool.end(),
  };
}

/** A dedicated connection for LISTEN (a pooled one would be handed to queries). */
async function listenPostgres(
  pg: typeof import('pg').default,
  urls: string[],
  channel: string,
  onMessage: (payload: string) => void,
  onReconnect?: () => void,
): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new RangeError(`channel name ${channel}`);
  let stopped = false;
  let client: import('pg').Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let next = 0;
  const reconnectLater = () => {
    if (stopped) return;
    retry = setTimeout(() => void connect().then(() => onReconnect?.(), reconnectLater), 1000);
  };
  const connect = async (): Promise<void> => {
    // several hosts: the next one after each failure (a standby refuses LISTEN? it allows it, so check)
    const url = urls[next % urls.length]!;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
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
      if (urls.length > 1 && (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0]?.r) throw new Error('host is read-only (in recovery)');
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      next++;
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
