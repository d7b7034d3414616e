/**
 * A centre in-process on port 0 with a scripted city (HTTPS, mutual TLS with the
 * LGWAN-sim CA) whose answers a test chooses, and a kiosk WebSocket client that
 * keeps every frame. Cards are made on the fly by the JPKI-sim auth CA.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { pino } from 'pino';
import { CITY_API, DOCUMENT_HEADERS, type CityIssueRequest, type CityMenuResponse } from '@konbini/protocol';
import { buildApp, type CentreApp, type CentreOptions } from '../../src/http/app.js';
import { fingerprintOf } from '../../src/routing/city-client.js';
import type { CardEntry, CityEntry, KioskEntry } from '../../src/routing/directory.js';
import { cardKit, type CardKit, type TestCard } from '../auth/helpers.js';

export const ORIGIN = 'wss://centre.test';
export const CITY_CODE = '991015';

export const MENU: CityMenuResponse = {
  city: { code: CITY_CODE, name: '星見市', prefecture: '東雲県' },
  items: [{ certType: 'resident-record', fee: 200, options: ['scope'] }],
  refusals: [],
};

export type IssueHandler = (req: CityIssueRequest, res: ServerResponse) => void;

/** A city that answers like the real one; `issue` may be replaced per test. */
export interface FakeCity {
  port: number;
  cert: string;
  calls: string[];
  issue: IssueHandler;
  close(): Promise<void>;
}

export const goodPdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(300_000, 0x20), Buffer.from('\n%%EOF\n')]);

export function sendPdf(body: Buffer, opts: { contentType?: string; declaredLength?: number; truncateAt?: number } = {}): IssueHandler {
  return (req, res) => {
    res.writeHead(200, {
      'content-type': opts.contentType ?? 'application/pdf',
      'content-length': String(opts.declaredLength ?? body.length),
      [DOCUMENT_HEADERS.issuanceId]: req.issuanceId,
      [DOCUMENT_HEADERS.sha256]: createHash('sha256').update(body).digest('hex'),
      [DOCUMENT_HEADERS.fee]: String(200 * req.copies),
    });
    if (opts.truncateAt === undefined) {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, opts.truncateAt), () => setTimeout(() => res.socket?.destroy(), 20));
  };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

export async function startFakeCity(kit: CardKit, opts: { certName?: string } = {}): Promise<FakeCity> {
  const tls = kit.pki.entry(opts.certName ?? `lgwan-city-${CITY_CODE}`);
  const calls: string[] = [];
  const city: FakeCity = {
    port: 0,
    cert: tls.certPem,
    calls,
    issue: sendPdf(goodPdf),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createHttpsServer(
    { key: tls.keyPem, cert: tls.certPem, ca: kit.pki.lgwan.ca.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      void readJson(req).then((body) => {
        calls.push(req.url ?? '');
        if (req.url === CITY_API.menu) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MENU));
        else if (req.url === CITY_API.issue) city.issue(body as CityIssueRequest, res);
        else if (req.url === CITY_API.outcome)
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuanceId: (body as { issuanceId: string }).issuanceId, recorded: true }));
        else res.writeHead(404).end('{}');
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  city.port = (server.address() as AddressInfo).port;
  return city;
}

export interface TestCentre {
  app: CentreApp;
  url: string;
  port: number;
  kit: CardKit;
  city: FakeCity;
  card: TestCard;
  logs: Record<string, unknown>[];
  kiosk(name?: string): Promise<KioskClient>;
  close(): Promise<void>;
}

type Seed = { cities: CityEntry[]; cards: CardEntry[]; kiosks: KioskEntry[] };

export async function startCentre(
  opts: { kit?: CardKit; cityCert?: string; centre?: Partial<CentreOptions>; directory?: (seed: Seed) => Seed } = {},
): Promise<TestCentre> {
  const kit = opts.kit ?? (await cardKit(new Date()));
  const city = await startFakeCity(kit, { certName: opts.cityCert });
  const card = kit.card();
  const logs: Record<string, unknown>[] = [];
  const pinned = kit.pki.entry(`lgwan-city-${CITY_CODE}`).certPem;
  const seed: Seed = {
    cities: [{ code: CITY_CODE, name: MENU.city.name, prefecture: MENU.city.prefecture, endpoint: `https://localhost:${city.port}`, fingerprint256: fingerprintOf(pinned), status: 'active', fees: { 'resident-record': 200 } }],
    cards: [{ serial: card.serial, cityCode: CITY_CODE, validFrom: '2000-01-01' }],
    kiosks: [
      { kioskId: 'K0001', storeId: 'S0001', storeOperator: 'op', status: 'active' },
      { kioskId: 'K0002', storeId: 'S0002', storeOperator: 'op', status: 'active' },
      { kioskId: 'K0003', storeId: 'S0003', storeOperator: 'op', status: 'revoked' },
    ],
  };
  const app = buildApp({
    kioskTls: { key: kit.pki.kioskLine.centre.keyPem, cert: kit.pki.kioskLine.centre.certPem, ca: kit.pki.kioskLine.ca.certPem },
    lgwanTls: { key: kit.pki.lgwan.centre.keyPem, cert: kit.pki.lgwan.centre.certPem, ca: kit.pki.lgwan.ca.certPem },
    jpki: { roots: [kit.pki.jpki.authCa.certPem] },
    directory: opts.directory ? opts.directory(seed) : seed,
    origin: ORIGIN,
    logger: pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) }),
    cityTimeoutMs: 5000,
    ...opts.centre,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const url = `wss://localhost:${port}/v1/kiosk`;
  const clients: KioskClient[] = [];
  return {
    app,
    url,
    port,
    kit,
    city,
    card,
    logs,
    async kiosk(name = 'kiosk-K0001') {
      const e = kit.pki.entry(name);
      const c = await KioskClient.connect(url, { key: e.keyPem, cert: e.certPem, ca: kit.pki.kioskLine.ca.certPem });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.ws.terminate();
      await app.close();
      await city.close();
    },
  };
}

export type Frame = { type: string; [k: string]: unknown } | { binary: Buffer };

/** A kiosk that records every frame and the close; `next` takes them in order. */
export class KioskClient {
  private readonly frames: Frame[] = [];
  private waiters: ((f: Frame | undefined) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const f: Frame = isBinary ? { binary: buf } : (JSON.parse(buf.toString('utf8')) as Frame);
      const w = this.waiters.shift();
      if (w) w(f);
      else this.frames.push(f);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        for (const w of this.waiters.splice(0)) w(undefined);
        resolve({ code, reason: reason.toString() });
      }),
    );
    ws.on('error', () => undefined);
  }

  static connect(url: string, tls: { key: string; cert: string; ca: string }): Promise<KioskClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ...tls, maxPayload: 64 * 1024 * 1024 });
      const c = new KioskClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next frame (undefined once closed), within 10 s. */
  next(): Promise<Frame | undefined> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.ws.readyState >= WebSocket.CLOSING) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame within 10 s')), 10_000);
      this.waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }

  /** The next JSON message, skipping binary document chunks (counted into `chunks`). */
  async message(chunks?: Buffer[]): Promise<{ type: string; [k: string]: unknown } | undefined> {
    for (;;) {
      const f = await this.next();
      if (!f) return undefined;
      if ('binary' in f) chunks?.push(f.binary);
      else return f;
    }
  }

  /** session.start → challenge → signed session.auth → the answer to it. */
  async login(kit: CardKit, card: TestCard, kioskId = 'K0001') {
    this.send({ type: 'session.start', authCert: card.b64 });
    const ch = await this.message();
    if (ch?.type !== 'session.challenge') return { challenge: undefined, answer: ch };
    const sessionId = ch.sessionId as string;
    this.send({ type: 'session.auth', sessionId, signature: kit.sign(card, ORIGIN, kioskId, Buffer.from(ch.nonce as string, 'base64')) });
    return { sessionId, answer: await this.message() };
  }
}

export function certFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** Poll `fn` every 50 ms until it gives a value; fail after `ms` naming what was awaited. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
