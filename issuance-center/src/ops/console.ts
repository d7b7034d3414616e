import { readFileSync } from 'node:fs';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { KonbiniError } from '@konbini/protocol';
import type { SqlDb } from '../ledger/db.js';
import { UNREPORTED_PAGE_MAX, withNeedsAction, type Ledger } from '../ledger/ledger.js';
import { settlementCsv, type Settlement } from '../ledger/settlement.js';
import type { CityDirectory } from '../routing/directory.js';
import { isOpen, STANDARD_HOURS } from '../routing/service-hours.js';
import type { CentreMetrics } from '../http/metrics.js';
import type { AuditLog } from './audit.js';
import { OperatorAuth, OperatorFile, type LoginPolicy, type OperatorRecord } from './operators.js';

export interface ConsoleOptions {
  /** Its own listener (plain HTTP: keep it on the operator network, or behind a TLS proxy). */
  listen: { host: string; port: number };
  /** The operators: a JSON file written by `issuance-center operator add`, or records (tests). */
  operators: string | OperatorRecord[];
  policy?: Partial<LoginPolicy>;
  /** Mark the session cookie Secure (when served over HTTPS by a proxy). */
  secureCookie?: boolean;
}

export interface ConsoleDeps {
  db: Promise<SqlDb>;
  directory: CityDirectory;
  ledger: Ledger;
  audit: AuditLog;
  now: () => Date;
  log: Logger;
  metrics: CentreMetrics;
  connectedKiosks: Map<string, { since: string; connections: number }>;
  /** Settlement of a month (Asia/Tokyo), when the ledger is in SQL. */
  settlement?: (month: string) => Promise<Settlement>;
}

export const COOKIE = 'konbini_ops';
const STATIC = new URL('../../console/', import.meta.url);
const ASSETS: Record<string, string> = { '/': 'index.html', '/console.js': 'console.js', '/console.css': 'console.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // "null" (sandboxed, file:) or garbage: not this console
  }
}

function cookieOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return undefined;
}

/** A paging parameter: absent is the default; anything but a whole number in range is refused. */
function pageNumber(raw: string | undefined, fallback: number, min: number, max: number, reason: string): number {
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new KonbiniError('MESSAGE_INVALID', { reason });
  return n;
}

const loginBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'password', 'totp'],
  properties: { name: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 }, totp: { type: 'string', maxLength: 10 } },
} as const;

/**
 * The operator console: static pages and a JSON API on their own listener.
 * Login is password (scrypt) + TOTP; the session is an HttpOnly, SameSite=Strict
 * cookie; every operator action, allowed or refused, is written to the audit log.
 */
export function operatorConsole(opts: ConsoleOptions, deps: ConsoleDeps) {
  const app = Fastify({ loggerInstance: deps.log.child({ listener: 'console' }), bodyLimit: 4 * 1024 });
  const source = typeof opts.operators === 'string' ? new OperatorFile(opts.operators) : { find: (n: string) => (opts.operators as OperatorRecord[]).find((o) => o.name === n) };
  let auth: OperatorAuth | undefined;
  const authReady = deps.db.then(async (db) => (auth = await OperatorAuth.open(db, source, opts.policy)));
  authReady.catch(() => undefined);

  const audit = (actor: string, action: string, outcome: 'ok' | 'refused', target?: string, code?: string) =>
    deps.audit.record({ at: deps.now().toISOString(), actor, action, target, outcome, code });

  const fail = async (reply: FastifyReply, err: unknown, actor: string, action: string, target?: string) => {
    const e = err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', {}, { cause: err });
    if (e.code === 'INTERNAL') deps.log.error({ err }, 'console');
    deps.metrics.refusals.inc({ code: e.code });
    deps.log.info({ event: 'audit', action, outcome: 'refused', code: e.code, actor, target }, 'operator action refused');
    await audit(actor, action, 'refused', target, e.code).catch(() => undefined);
    return reply.code(e.status).send(e.toBody());
  };

  /** The operator of this request, or a refusal (401 UNAUTHENTICATED) already sent and audited. */
  const operator = async (req: FastifyRequest, reply: FastifyReply, action: string): Promise<string | undefined> => {
    await authReady;
    const name = await auth!.session(cookieOf(req), deps.now());
    if (name) return name;
    await fail(reply, new KonbiniError('UNAUTHENTICATED'), 'anonymous', action);
    return undefined;
  };

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
    reply.header('cache-control', 'no-store');
    // A state change must come from this console's own pages (besides SameSite=Strict).
    if (req.method !== 'GET' && req.headers.origin !== undefined && originHost(req.headers.origin) !== req.headers.host) {
      return fail(reply, new KonbiniError('FORBIDDEN', { reason: 'origin' }), 'anonymous', `${req.method} ${req.routeOptions.url ?? req.url}`);
    }
  });

  app.setErrorHandler(async (err, req, reply) => {
    const e = (err as { validation?: unknown }).validation || (err as { statusCode?: number }).statusCode === 415 || (err as { statusCode?: number }).statusCode === 400
      ? new KonbiniError('MESSAGE_INVALID', { reason: 'request' })
      : err;
    return fail(reply, e, 'anonymous', `${req.method} ${req.routeOptions?.url ?? 'unknown'}`);
  });

  for (const [path, file] of Object.entries(ASSETS)) {
    app.get(path, async (_req, reply) => {
      reply.type(TYPES[file.split('.').pop()!]!);
      return readFileSync(new URL(file, STATIC));
    });
  }

  app.post<{ Body: { name: string; password: string; totp: string } }>('/api/login', { schema: { body: loginBody } }, async (req, reply) => {
    await authReady;
    const actor = `operator:${req.body.name.slice(0, 64)}`;
    try {
      const { token, expiresAt } = await auth!.login(req.body.name, req.body.password, req.body.totp, deps.now());
      const secure = opts.secureCookie ? '; Secure' : '';
      reply.header('set-cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor((expiresAt.getTime() - deps.now().getTime()) / 1000)}${secure}`);
      await audit(actor, 'login', 'ok');
      return { name: req.body.name, expiresAt: expiresAt.toISOString() };
    } catch (err) {
      return fail(reply, err, actor, 'login');
    }
  });

  app.post('/api/logout', async (req, reply) => {
    const name = await operator(req, reply, 'logout');
    if (!name) return;
    await auth!.logout(cookieOf(req)!);
    reply.header('set-cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    await audit(`operator:${name}`, 'logout', 'ok');
    return { name, loggedOut: true };
  });

  app.get('/api/session', async (req, reply) => {
    const name = await operator(req, reply, 'session');
    if (name) return { name };
  });

  app.get('/api/status', async (req, reply) => {
    const name = await operator(req, reply, 'status');
    if (!name) return;
    const now = deps.now();
    return {
      at: now.toISOString(),
      cities: deps.directory.cities().map((c) => ({
        code: c.code,
        name: c.name,
        prefecture: c.prefecture,
        status: c.status,
        openNow: isOpen(c.hours ?? STANDARD_HOURS, now),
        hours: c.hours ?? STANDARD_HOURS,
      })),
      kiosks: deps.directory.kiosks().map((k) => {
        const seen = deps.connectedKiosks.get(k.kioskId);
        return { kioskId: k.kioskId, storeId: k.storeId, storeOperator: k.storeOperator, registration: k.status, connected: seen !== undefined, connections: seen?.connections ?? 0, since: seen?.since ?? null };
      }),
    };
  });

  for (const [verb, status] of [['suspend', 'suspended'], ['resume', 'active']] as const) {
    app.post<{ Params: { code: string } }>(`/api/cities/:code/${verb}`, async (req, reply) => {
      const action = `city-${verb}`;
      const name = await operator(req, reply, action);
      if (!name) return;
      const target = `city:${req.params.code.slice(0, 16)}`;
      try {
        if (!/^\d{6}$/.test(req.params.code)) throw new KonbiniError('CITY_UNKNOWN');
        const city = await deps.directory.setCityStatus(req.params.code, status);
        await audit(`operator:${name}`, action, 'ok', target);
        deps.log.info({ event: 'audit', action, outcome: 'ok', actor: `operator:${name}`, cityCode: city.code }, 'city status changed');
        return { code: city.code, status: city.status };
      } catch (err) {
        return fail(reply, err, `operator:${name}`, action, target);
      }
    });
  }

  app.get<{ Querystring: { month?: string; format?: string } }>('/api/settlement', async (req, reply) => {
    const name = await operator(req, reply, 'settlement');
    if (!name) return;
    const month = String(req.query.month ?? '');
    const format = req.query.format === 'csv' ? 'csv' : 'json';
    try {
      if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new KonbiniError('MESSAGE_INVALID', { reason: 'month' });
      if (!deps.settlement) throw new KonbiniError('INTERNAL', { reason: 'no-sql-ledger' });
      const s = await deps.settlement(month);
      await audit(`operator:${name}`, 'settlement', 'ok', `month:${month}:${format}`);
      if (format === 'csv') {
        reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="settlement-${month}.csv"`);
        return settlementCsv(s);
      }
      return s;
    } catch (err) {
      return fail(reply, err, `operator:${name}`, 'settlement', `month:${month.slice(0, 7)}`);
    }
  });

  // Issuances closed failed (not charged) after their kiosk left unreported; those
  // with a late "printed" report need action: a sheet went out uncharged. Ids only.
  app.get<{ Querystring: { limit?: string; offset?: string } }>('/api/unreported', async (req, reply) => {
    const name = await operator(req, reply, 'unreported-view');
    if (!name) return;
    try {
      const limit = pageNumber(req.query.limit, 50, 1, UNREPORTED_PAGE_MAX, 'limit');
      const offset = pageNumber(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER, 'offset');
      if (!deps.ledger.listUnreported) throw new KonbiniError('INTERNAL', { reason: 'no-unreported-list' });
      return withNeedsAction(await deps.ledger.listUnreported({ limit, offset }));
    } catch (err) {
      return fail(reply, err, `operator:${name}`, 'unreported-view');
    }
  });

  app.get<{ Querystring: { limit?: string } }>('/api/audit', async (req, reply) => {
    const name = await operator(req, reply, 'audit-view');
    if (!name) return;
    return { events: await deps.audit.list({ limit: Number(req.query.limit ?? 200) || 200 }) };
  });

  return {
    app,
    async listen(at: { host: string; port: number }) {
      await authReady;
      await app.listen(at);
    },
    url(): string {
      const a = app.server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      return `http://${opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host}:${port}/`;
    },
    close: () => app.close(),
  };
}
