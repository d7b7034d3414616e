import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { VirtualCard } from '../card/virtual-card.js';
import { readCardFile } from '../card/card-file.js';
import { InProcessReader } from '../reader/in-process-reader.js';
import type { CardReader } from '../reader/card-reader.js';
import { CentreConnection, type CentreTls } from '../centre/connection.js';
import { TrayPrinter, type Printer } from '../printer/printer.js';
import { OutcomeJournal } from '../session/journal.js';
import { KioskScreen } from './kiosk-screen.js';
import type { DocumentBuffer } from '../session/document-buffer.js';
import type { DocumentTrust } from '../session/verify-signature.js';
import { MaintenanceGate, type MaintenanceOptions } from './maintenance.js';
import { COINS, LANGUAGES, type ScreenAction } from './state.js';

export type PrinterFault = 'jam' | 'out-of-paper';

export interface ScreenOptions {
  kioskId: string;
  centreUrl: string;
  centreOrigin: string;
  tls: CentreTls;
  /** Demo card files (the card controls insert these). */
  cardsDir: string;
  /** Kiosk-private working directory: the spool lives in `<workDir>/<kioskId>/spool`. */
  workDir: string;
  /** Output tray: the paper in the resident's hand. Default `<workDir>/<kioskId>/tray`. */
  trayDir?: string;
  idleMs?: number;
  printMsPerCopy?: number;
  /** Opens the line to the centre (tests wrap it); default a new WSS connection per session. */
  connect?: () => Promise<CentreConnection>;
  /** Whose document signatures to accept (default: the dev PKI's LGPKI-sim CA). */
  documentTrust?: DocumentTrust;
  /** Test hook: each document buffer as it is made. */
  onDocument?: (doc: DocumentBuffer) => void;
  /** Replaces the tray printer (tests). */
  printer?: Printer;
  log?: (event: string, fields: Record<string, string | number>) => void;
  /** Maintenance screen at /maintenance; without it the kiosk has none. */
  maintenance?: MaintenanceOptions;
  /**
   * The card reader (e.g. a PcscReader for `--reader pcsc[:name]`); closed with the
   * screen. Default: an in-process reader that the demo panel's buttons put cards into.
   */
  reader?: CardReader;
}

export interface ScreenServer {
  app: FastifyInstance;
  kiosk: KioskScreen;
  reader: CardReader;
  /** The in-process reader the demo buttons use, or null with a real (PC/SC) reader. */
  demoReader: InProcessReader | null;
  spoolDir: string;
  trayDir: string;
  /** Listens (127.0.0.1 unless told) and resolves with the page's URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** The static front end: plain files, no build step. */
export const PUBLIC_DIR = resolve(import.meta.dirname, '../../public');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const CARD_ID = /^[A-Za-z0-9_-]{1,40}$/;

/**
 * The kiosk's touch screen, served to a browser: the page draws the state the
 * kiosk process holds (server-sent events) and posts taps back. Beside it, for the
 * demo, card controls that place and take away the fixtures' virtual cards.
 */
export function buildScreen(options: ScreenOptions): ScreenServer {
  const demoReader = options.reader ? null : new InProcessReader({ name: 'kiosk-screen' });
  const reader: CardReader = options.reader ?? demoReader!;
  const spoolDir = join(options.workDir, options.kioskId, 'spool');
  const trayDir = options.trayDir ?? join(options.workDir, options.kioskId, 'tray');
  let nextFault: PrinterFault | null = null;
  const printer = options.printer ?? new TrayPrinter(spoolDir, trayDir, () => {
    const f = nextFault;
    nextFault = null;
    return f;
  });
  const kiosk = new KioskScreen({
    issuance: {
      kioskId: options.kioskId,
      centreOrigin: options.centreOrigin,
      ...(options.documentTrust ? { documentTrust: options.documentTrust } : {}),
      // Outcomes the centre has not acknowledged, sent again on the next connection.
      journal: new OutcomeJournal(join(options.workDir, options.kioskId, 'journal'), options.kioskId, options.log),
    },
    reader,
    connect: options.connect ?? (() => CentreConnection.connect(options.centreUrl, options.tls)),
    printer,
    idleMs: options.idleMs,
    printMsPerCopy: options.printMsPerCopy,
    onDocument: options.onDocument,
    log: options.log,
  });

  const app = Fastify({ logger: false, bodyLimit: 4096, forceCloseConnections: true });
  const streams = new Set<ServerResponse>();

  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(PUBLIC_DIR)) {
    const ext = name.slice(name.lastIndexOf('.'));
    if (TYPES[ext]) files.set(name, { type: TYPES[ext], body: readFileSync(join(PUBLIC_DIR, name)) });
  }
  const headers = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; img-src 'self' data:; media-src 'self' data:; frame-ancestors 'none'",
  };
  const sendFile = (name: string) => {
    const f = files.get(name);
    if (!f) return null;
    return f;
  };

  app.get('/', async (_req, reply) => {
    const f = sendFile('index.html')!;
    return reply.headers(headers).type(f.type).send(f.body);
  });
  app.get<{ Params: { name: string } }>('/static/:name', async (req, reply) => {
    const f = sendFile(req.params.name);
    if (!f || req.params.name === 'index.html') return reply.code(404).send({ error: 'not found' });
    return reply.headers(headers).type(f.type).send(f.body);
  });

  app.get('/api/state', async () => kiosk.state);

  app.get('/api/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const send = (s: unknown) => res.write(`data: ${JSON.stringify(s)}\n\n`);
    streams.add(res);
    send(kiosk.state);
    const onState = (s: unknown) => send(s);
    kiosk.on('state', onState);
    req.raw.on('close', () => {
      kiosk.off('state', onState);
      streams.delete(res);
    });
  });

  const actionSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    properties: {
      action: {
        type: 'string',
        enum: ['start', 'lang', 'cancel', 'back', 'digit', 'pin-clear', 'pin-delete', 'pin-ok', 'choose-type', 'set-option', 'options-ok', 'set-member', 'members-ok', 'copies', 'copies-ok', 'confirm', 'to-pay', 'coin', 'pay', 'done'],
      },
      seq: { type: 'integer', minimum: 0 },
      lang: { type: 'string', enum: [...LANGUAGES] },
      digit: { type: 'string', pattern: '^[0-9]$' },
      certType: { type: 'string', maxLength: 40 },
      key: { type: 'string', enum: ['scope', 'includeRelationship', 'includeHonseki', 'includeForeignDetails', 'includeMyNumber', 'fiscalYear'] },
      value: { anyOf: [{ type: 'string', maxLength: 20 }, { type: 'number' }, { type: 'boolean' }] },
      ref: { type: 'string', pattern: '^m[0-9a-f]{16}$' },
      on: { type: 'boolean' },
      copies: { type: 'integer' },
      yen: { type: 'integer', enum: [...COINS] },
    },
  } as const;

  app.post<{ Body: ScreenAction & { seq?: number } }>('/api/action', { schema: { body: actionSchema } }, async (req) => kiosk.act(req.body));

  // ---- card controls (the demo's hand placing a card)
  app.get('/api/cards', async () => {
    const cards = readdirSync(options.cardsDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => readCardFile(join(options.cardsDir, f)))
      .map((p) => ({ cardId: p.cardId, holder: p.holderName, pin: p.jpki.authPin, scenario: p.scenario, triesLeft: p.state.authPinTries }));
    return {
      // What the demo panel shows about the reader: with PC/SC, what pcscd reports.
      reader: demoReader ? { kind: 'in-process' } : { kind: 'pcsc', name: reader.name || null, cardPresent: reader.cardPresent },
      // the fault buttons arm the simulated tray printer only
      printer: options.printer ? 'external' : 'tray',
      inReader: demoReader?.currentCard ? insertedId : null,
      cards,
    };
  });
  let insertedId: string | null = null;
  app.post<{ Body: { cardId: string } }>(
    '/api/card/insert',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['cardId'], properties: { cardId: { type: 'string', pattern: CARD_ID.source } } } } },
    async (req, reply) => {
      if (!demoReader) return reply.code(409).send({ ok: false, reason: 'a PC/SC reader: place the card on it (kiosk-sim card insert for a virtual card)' });
      if (reader.cardPresent) return reply.code(409).send({ ok: false, reason: 'a card is already in the reader' });
      let card: VirtualCard;
      try {
        card = VirtualCard.fromFile(join(options.cardsDir, `${req.body.cardId}.json`));
      } catch {
        return reply.code(404).send({ ok: false, reason: 'no such card' });
      }
      demoReader.insert(card);
      insertedId = req.body.cardId;
      return { ok: true };
    },
  );
  app.post('/api/card/remove', async (_req, reply) => {
    if (!demoReader) return reply.code(409).send({ ok: false, reason: 'a PC/SC reader: take the card off it (kiosk-sim card remove for a virtual card)' });
    demoReader.remove();
    insertedId = null;
    return { ok: true };
  });
  app.post<{ Body: { fault: PrinterFault | null } }>(
    '/api/printer/fault',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['fault'], properties: { fault: { anyOf: [{ type: 'string', enum: ['jam', 'out-of-paper'] }, { type: 'null' }] } } } } },
    async (req) => {
      nextFault = req.body.fault;
      return { ok: true, nextFault };
    },
  );

  // ---- maintenance (staff only; numbers, never resident data)
  const gate = options.maintenance ? new MaintenanceGate(options.maintenance) : null;
  const startedAt = Date.now();
  const bearer = (h: string | undefined) => (h?.startsWith('Bearer ') ? h.slice(7) : undefined);
  app.get('/maintenance', async (_req, reply) => {
    const f = files.get('maintenance.html');
    if (!gate || !f) return reply.code(404).send({ error: 'maintenance is not configured on this kiosk' });
    return reply.headers(headers).type(f.type).send(f.body);
  });
  app.post<{ Body: { password: string } }>(
    '/api/maintenance/login',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { type: 'string', minLength: 1, maxLength: 200 } } } } },
    async (req, reply) => {
      if (!gate) return reply.code(404).send({ ok: false, reason: 'not-configured' });
      const r = await gate.login(req.body.password);
      options.log?.('maintenance-login', { result: r.ok ? 'ok' : r.reason });
      if (r.ok) return { ok: true, token: r.token };
      if (r.reason === 'locked') return reply.code(423).send({ ok: false, reason: 'locked', retryAfterSeconds: Math.ceil((r.retryAfterMs ?? 0) / 1000) });
      return reply.code(401).send({ ok: false, reason: 'wrong', failuresLeft: r.failuresLeft });
    },
  );
  app.get('/api/maintenance/status', async (req, reply) => {
    if (!gate || !gate.check(bearer(req.headers.authorization))) return reply.code(401).send({ ok: false, reason: 'unauthenticated' });
    const s = kiosk.state;
    return {
      kioskId: options.kioskId,
      centre: new URL(options.centreOrigin).host,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      screen: s.screen,
      sessionInProgress: s.screen !== 'start',
      cardPresent: reader.cardPresent,
      nextPrinterFault: nextFault,
      counters: kiosk.counters,
    };
  });
  app.post('/api/maintenance/logout', async (req, reply) => {
    if (!gate || !gate.check(bearer(req.headers.authorization))) return reply.code(401).send({ ok: false, reason: 'unauthenticated' });
    gate.logout();
    return { ok: true };
  });

  app.addHook('onClose', async () => {
    for (const res of streams) res.end();
    streams.clear();
  });

  return {
    app,
    kiosk,
    reader,
    demoReader,
    spoolDir,
    trayDir,
    async listen(port = 0, host = '127.0.0.1') {
      await app.listen({ port, host });
      const shown = host.includes(':') ? `[${host}]` : host;
      return `http://${shown}:${(app.server.address() as AddressInfo).port}/`;
    },
    async close() {
      await kiosk.close();
      await reader.close();
      await app.close();
    },
  };
}
