import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import { WebSocketServer } from 'ws';
import { pino, type Logger } from 'pino';
import { errorMessage, KonbiniError } from '@konbini/protocol';
import { ChallengeStore } from '../auth/challenge-store.js';
import { CardValidator, type CardTrust } from '../auth/card-validator.js';
import { CardAuthenticator } from '../auth/card-authenticator.js';
import { CrlSource } from '../auth/crl-source.js';
import { CityClient, type LgwanTls } from '../routing/city-client.js';
import { Directory, type CardEntry, type CityDirectory, type DirectoryEvent, type CityEntry, type KioskEntry } from '../routing/directory.js';
import { SqlDirectory } from '../routing/sql-directory.js';
import type { ServiceHoursMode } from '../routing/service-hours.js';
import { openDb, type SqlDb } from '../ledger/db.js';
import { MemoryAudit, SqlAudit, type AuditLog } from '../ops/audit.js';
import { cityApi } from './city-api.js';
import { operatorConsole, type ConsoleOptions } from '../ops/console.js';
import type { CommissionRates, Settlement } from '../ledger/settlement.js';
import { MemoryLedger, type Ledger } from '../ledger/ledger.js';
import { SqlLedger } from '../ledger/sql-ledger.js';
import type { DbConfig } from '../ledger/db.js';
import { KioskConnection } from '../kiosk-gateway/connection.js';
import { CityNotices } from '../kiosk-gateway/city-notices.js';
import { KioskRateLimiter } from '../kiosk-gateway/rate-limit.js';
import { loggerOptions } from './logger.js';
import { auditRefusal, CentreMetrics } from './metrics.js';

export const KIOSK_PATH = '/v1/kiosk';
/** Hard limit for a frame from a kiosk; the parser refuses smaller ones with a code. */
const MAX_FRAME = 64 * 1024;

export interface CentreOptions {
  /** Kiosk leg: the centre's server certificate and the kiosk-line CA (and its CRL). */
  kioskTls: { key: string; cert: string; ca: string; crl?: string };
  /** City leg: the centre's LGWAN client certificate and the LGWAN-sim CA. */
  lgwanTls: LgwanTls;
  /**
   * JPKI-sim user-authentication CA certificates (PEM) and its CRL: fixed bytes
   * (`crlDer`, DER or PEM), or a file path / URL fetched at start and every
   * `crlRefreshMs` (`crlLocation`). `requireCrl` refuses cards while no CRL is loaded.
   */
  jpki: { roots: string[]; crlDer?: Buffer; crlLocation?: string; crlRefreshMs?: number; requireCrl?: boolean };
  /** Cities, card links and kiosks. With `ledgerDb` the cities and card links live in that database (seeded from these), shared by every instance on it. */
  directory: CityDirectory | { cities: CityEntry[]; cards: CardEntry[]; kiosks: KioskEntry[] };
  /** The origin kiosks sign into their challenge context; default wss://localhost:<port>. */
  origin?: string;
  /** The evidence ledger; or `ledgerDb` to open the SQL ledger at start (PGlite dir or postgres URL). Neither: in memory. */
  ledger?: Ledger;
  ledgerDb?: DbConfig;
  now?: () => Date;
  logger?: Logger | false;
  cityTimeoutMs?: number;
  /** Also serve /metrics on a plain-HTTP listener (for Prometheus on the operator network), e.g. { host: '127.0.0.1', port: 9464 }. */
  metricsListen?: { host: string; port: number };
  /** Include Node process metrics (off in tests: they are per process, not per centre). */
  processMetrics?: boolean;
  /** Messages per kiosk id: burst and sustained per second (default 40 and 10). */
  kioskRate?: { burst: number; perSecond: number };
  /**
   * `enforce`: each city's service hours (6:30-23:00 Asia/Tokyo, closed 12/29-1/3,
   * and the per-type hours a city sets). `always-open` (the default here, so tests
   * and the development stack work at any hour): hours are not checked.
   */
  serviceHours?: ServiceHoursMode;
  /** The LGWAN-side listener where cities maintain their card links (mutual TLS, pinned city certificates). */
  cityApiListen?: { host: string; port: number };
  /** The operator console and API on their own listener. */
  console?: ConsoleOptions;
  /** Commission withheld per printed copy for the console's settlement (default 115 yen, a placeholder). */
  settlementRates?: CommissionRates;
  /** How long a delivered issuance whose kiosk left unreported waits for the kiosk's late report (ms, default 15 min). */
  kioskReportGraceMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    directory: CityDirectory;
    audit: AuditLog;
    connectedKiosks: Map<string, { since: string; connections: number }>;
    ledger: Ledger;
    challenges: ChallengeStore;
    crls: CrlSource | undefined;
    kioskSockets: WebSocketServer;
    metrics: CentreMetrics;
    cityApi?: ReturnType<typeof cityApi>;
    operatorConsole?: ReturnType<typeof operatorConsole>;
  }
}

export function buildApp(opts: CentreOptions) {
  const logger: Logger = opts.logger === false ? pino({ level: 'silent' }) : (opts.logger ?? pino(loggerOptions));
  const now = opts.now ?? (() => new Date());
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 16 * 1024,
    // No 10 s limit on start-up hooks: onReady opens the ledger and directory (a PGlite
    // database, schema set-up and seeding), which on a busy machine took longer and the
    // centre then failed to start at all.
    pluginTimeout: 0,
    https: {
      key: opts.kioskTls.key,
      cert: opts.kioskTls.cert,
      ca: opts.kioskTls.ca,
      crl: opts.kioskTls.crl,
      requestCert: true,
      // The TLS handshake refuses kiosks without a certificate from the kiosk-line CA.
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
  });

  const seed = 'kiosk' in opts.directory ? undefined : opts.directory;
  let directory: CityDirectory;
  let ledger: Ledger;
  let audit: AuditLog;
  let dbReady: Promise<SqlDb> | undefined;
  let settlement: ((month: string) => Promise<Settlement>) | undefined;
  const needsDb = opts.ledgerDb !== undefined || opts.console !== undefined;
  if (needsDb) {
    // One database for the ledger, the directories, operators and the audit log:
    // PGlite (a directory, or memory when only the console needs one) or PostgreSQL.
    const dbOpening = openDb(opts.ledgerDb ?? {});
    const parts = dbOpening.then(async (db: SqlDb) => ({
      db,
      ledger: opts.ledger ?? (opts.ledgerDb ? await SqlLedger.open(db) : new MemoryLedger()),
      directory: seed && opts.ledgerDb ? await SqlDirectory.open(db, seed) : undefined,
      audit: await SqlAudit.open(db),
    }));
    parts.catch(() => undefined); // reported by onReady
    dbReady = parts.then((p) => p.db);
    if (opts.ledgerDb && !opts.ledger) {
      const rates = opts.settlementRates ?? { perCopy: 115 };
      settlement = async (month) => ((await parts).ledger as SqlLedger).settlement(month, rates);
    }
    const memory = seed ? new Directory(seed) : (opts.directory as CityDirectory);
    let opened: CityDirectory | undefined;
    directory = seed && opts.ledgerDb ? deferredDirectory(() => opened, parts.then((p) => p.directory!)) : memory;
    ledger = opts.ledger ?? deferredLedger(parts.then((p) => p.ledger));
    audit = deferredAudit(parts.then((p) => p.audit));
    app.addHook('onReady', async () => {
      opened = (await parts).directory;
    });
    app.addHook('onClose', async () => {
      const p = await parts.catch(() => undefined);
      if (!p) return;
      await p.directory?.close();
      await p.db.close();
    });
  } else {
    directory = seed ? new Directory(seed) : (opts.directory as CityDirectory);
    ledger = opts.ledger ?? new MemoryLedger();
    audit = new MemoryAudit();
  }
  const connectedKiosks = new Map<string, { since: string; connections: number }>();
  app.decorate('audit', audit);
  app.decorate('connectedKiosks', connectedKiosks);
  const challenges = new ChallengeStore(() => now().getTime());
  const roots = opts.jpki.roots.map((pem) => new X509Certificate(pem));
  const crls = opts.jpki.crlLocation
    ? new CrlSource({ location: opts.jpki.crlLocation, ca: roots[0]!, refreshMs: opts.jpki.crlRefreshMs, log: logger })
    : opts.jpki.crlDer
      ? CrlSource.fixed(opts.jpki.crlDer, roots[0]!)
      : undefined;
  const trust: CardTrust = { roots, crl: () => crls?.current(), requireCrl: opts.jpki.requireCrl };
  const validator = new CardValidator(trust, now);
  const metrics = new CentreMetrics({ processMetrics: opts.processMetrics });
  const cities = new CityClient(opts.lgwanTls, opts.cityTimeoutMs, (call, seconds, result) => metrics.cityRequest.observe({ call, result }, seconds));
  app.decorate('metrics', metrics);

  app.decorate('directory', directory);
  app.decorate('ledger', ledger);
  app.decorate('challenges', challenges);
  app.decorate('crls', crls);

  const origin = (): string => {
    if (opts.origin) return opts.origin;
    const addr = app.server.address() as AddressInfo | null;
    return `wss://localhost:${addr?.port ?? 0}`;
  };

  const auth = new CardAuthenticator(validator, challenges, origin);
  // Outcome notices to the cities, sent again until confirmed (a durable ledger keeps them).
  const notices = new CityNotices(ledger, directory, cities, logger, { reportGraceMs: opts.kioskReportGraceMs, audit });
  app.addHook('onReady', async () => notices.start());
  app.addHook('preClose', async () => notices.stop());
  // Real time, not the replaceable clock: a rate is about the wall clock the kiosk sends on.
  const rate = new KioskRateLimiter(opts.kioskRate?.burst, opts.kioskRate?.perSecond);
  if (opts.jpki.crlLocation) {
    app.addHook('onReady', async () => crls!.start());
    app.addHook('onClose', async () => crls!.stop());
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  app.decorate('kioskSockets', wss);

  app.server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const url = (req.url ?? '').split('?')[0];
    if (url !== KIOSK_PATH) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const kioskId = peer?.subject?.CN;
      let kiosk: KioskEntry;
      try {
        if (typeof kioskId !== 'string') throw new KonbiniError('KIOSK_UNKNOWN');
        kiosk = directory.kiosk(kioskId);
      } catch (err) {
        const e = err instanceof KonbiniError ? err : new KonbiniError('KIOSK_UNKNOWN');
        auditRefusal(logger, metrics, e, { kioskId: typeof kioskId === 'string' ? kioskId : undefined }, 'kiosk-connect');
        ws.send(JSON.stringify(errorMessage(e)));
        ws.close(4403, e.code);
        return;
      }
      logger.info({ event: 'kiosk-connected', kioskId: kiosk.kioskId, storeId: kiosk.storeId }, 'kiosk connected');
      metrics.kiosksConnected.inc();
      const seen = connectedKiosks.get(kiosk.kioskId) ?? { since: now().toISOString(), connections: 0 };
      seen.connections += 1;
      connectedKiosks.set(kiosk.kioskId, seen);
      ws.on('close', () => {
        metrics.kiosksConnected.dec();
        if (--seen.connections === 0) connectedKiosks.delete(kiosk.kioskId);
        logger.info({ event: 'kiosk-disconnected', kioskId: kiosk.kioskId }, 'kiosk disconnected');
      });
      ws.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        // Frame-level violations: ws has already closed the socket with 1009/1002/1007.
        if (code.startsWith('WS_ERR_')) {
          const e =
            code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
              ? new KonbiniError('MESSAGE_TOO_LARGE', { reason: 'frame' })
              : new KonbiniError('MESSAGE_INVALID', { reason: code.slice(7).toLowerCase() });
          auditRefusal(logger, metrics, e, { kioskId: kiosk.kioskId }, 'kiosk-frame');
        } else logger.warn({ kioskId: kiosk.kioskId, code }, 'kiosk socket error');
      });
      new KioskConnection(ws, kiosk, { challenges, auth, directory, cities, ledger, now, log: logger, metrics, rate, hoursMode: opts.serviceHours ?? 'always-open', notices, audit });
    });
  });

  app.get('/v1/health', async () => ({ status: 'ok', kiosks: wss.clients.size }));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  if (opts.metricsListen) {
    const { host, port } = opts.metricsListen;
    const server = createHttpServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    app.decorate('metricsServer', server);
    app.addHook('onReady', () => new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve())));
    app.addHook('onClose', () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())));
  }

  if (opts.cityApiListen) {
    const api = cityApi({ tls: opts.lgwanTls, directory, audit, now, log: logger, metrics });
    app.decorate('cityApi', api);
    app.addHook('onReady', async () => {
      await api.listen(opts.cityApiListen!);
    });
    app.addHook('onClose', async () => api.close());
  }

  if (opts.console) {
    const ops = operatorConsole(opts.console, { db: dbReady!, directory, ledger, audit, now, log: logger, connectedKiosks, metrics, settlement });
    app.decorate('operatorConsole', ops);
    app.addHook('onReady', async () => {
      await ops.listen(opts.console!.listen);
    });
    app.addHook('onClose', async () => ops.close());
  }

  // preClose, not onClose: the server's close waits for every socket, and an
  // upgraded kiosk socket never ends on its own.
  app.addHook('preClose', async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });

  return app;
}
export type CentreApp = ReturnType<typeof buildApp>;

/** A ledger usable before its database has opened: every call waits for it. */
function deferredLedger(opening: Promise<Ledger>): Ledger {
  return {
    begin: async (r) => (await opening).begin(r),
    delivered: async (...a) => (await opening).delivered(...a),
    outcome: async (...a) => (await opening).outcome(...a),
    get: async (id) => (await opening).get(id),
    cityNoticeDone: async (id) => (await opening).cityNoticeDone?.(id),
    claimCityNotices: async (...a) => (await opening).claimCityNotices?.(...a) ?? [],
    cityNoticeFailed: async (...a) => (await opening).cityNoticeFailed?.(...a),
    closeAbandoned: async (...a) => (await opening).closeAbandoned?.(...a) ?? [],
    kioskLeft: async (...a) => (await opening).kioskLeft?.(...a),
    closeUnreported: async (...a) => (await opening).closeUnreported?.(...a) ?? [],
    listUnreported: async (page) => (await opening).listUnreported?.(page) ?? { total: 0, needingAction: 0, ...page, items: [] },
    lateOutcome: async (r) => {
      const l = await opening;
      if (!l.lateOutcome) throw new KonbiniError('ISSUANCE_UNKNOWN', { reason: 'no-late-reports' });
      return l.lateOutcome(r);
    },
  };
}

/** The SQL directory once open; async calls wait for it, sync ones exist only after start. */
function deferredDirectory(current: () => CityDirectory | undefined, opening: Promise<CityDirectory>): CityDirectory {
  const now = (): CityDirectory => {
    const d = current();
    if (!d) throw new KonbiniError('INTERNAL', { reason: 'directory-not-open' });
    return d;
  };
  const events = new EventEmitter<{ change: [DirectoryEvent] }>();
  opening.then((d) => d.events.on('change', (e) => events.emit('change', e))).catch(() => undefined);
  return {
    events,
    kiosk: (id) => now().kiosk(id),
    kiosks: () => now().kiosks(),
    city: (code) => now().city(code),
    cities: () => now().cities(),
    cityByFingerprint: (fp) => now().cityByFingerprint(fp),
    cityForCard: async (serial, at) => (await opening).cityForCard(serial, at),
    setCityStatus: async (code, status) => (await opening).setCityStatus(code, status),
    linkCard: async (card) => (await opening).linkCard(card),
    addLink: async (...a) => (await opening).addLink(...a),
    removeLink: async (...a) => (await opening).removeLink(...a),
    applyLinkBatch: async (...a) => (await opening).applyLinkBatch(...a),
    close: async () => undefined,
  };
}

function deferredAudit(opening: Promise<AuditLog>): AuditLog {
  return {
    record: async (e) => (await opening).record(e),
    recordMany: async (e) => (await opening).recordMany(e),
    list: async (q) => (await opening).list(q),
  };
}
