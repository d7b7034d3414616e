import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createHash, X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import {
  CITY_API,
  DOCUMENT_HEADERS,
  errorFromBody,
  KonbiniError,
  MAX_DOCUMENT_BYTES,
  parseCityMenuResponse,
  parseCityOutcomeResponse,
  type CityIssueRequest,
  type CityMenuRequest,
  type CityMenuResponse,
  type CityOutcomeRequest,
  type CityOutcomeResponse,
} from '@konbini/protocol';
import type { CityEntry } from './directory.js';

export interface LgwanTls {
  key: string;
  cert: string;
  ca: string;
}

const MAX_JSON_RESPONSE = 64 * 1024;

/**
 * The centre's client for the city leg: mutual TLS with the LGWAN-sim CA, and the
 * city's certificate pinned by fingerprint, checked during the handshake so no
 * request body leaves the centre for an impostor.
 */
export class CityClient {
  /**
   * One keep-alive agent per city and pin: a connection is made (full mutual TLS
   * handshake, the pin checked) once and then reused for the next menu, issue and
   * outcome calls, instead of three handshakes per issuance. TLS session
   * resumption is off, so every new connection is a full handshake with the pin
   * checked against the certificate the city presents.
   */
  private readonly agents = new Map<string, Agent>();

  private agentFor(city: CityEntry): Agent {
    const key = `${city.code} ${city.endpoint} ${city.fingerprint256}`;
    let agent = this.agents.get(key);
    if (!agent) {
      for (const [k, a] of this.agents) if (k.startsWith(`${city.code} `)) (a.destroy(), this.agents.delete(k)); // endpoint or pin changed
      agent = new Agent({ keepAlive: true, maxCachedSessions: 0, maxFreeSockets: 64, scheduling: 'lifo' });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /**
   * At most this many issue requests in flight per city; the rest wait here, in
   * order, before anything is sent. A city renders a few documents at a time: sent
   * all at once, hundreds of requests waited in its queue past the time-out, were
   * abandoned by the centre and rendered anyway (work for nothing, and fewer
   * documents delivered the more kiosks asked: at 500 kiosks on two cores half the
   * issuances failed with CITY_UNREACHABLE). The wait here is bounded by the same
   * time-out.
   */
  static readonly MAX_ISSUES_PER_CITY = 16;
  private readonly slots = new Map<string, { busy: number; waiting: (() => void)[] }>();

  private async acquire(city: CityEntry): Promise<() => void> {
    let s = this.slots.get(city.code);
    if (!s) this.slots.set(city.code, (s = { busy: 0, waiting: [] }));
    const slot = s;
    if (slot.busy >= CityClient.MAX_ISSUES_PER_CITY) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          slot.waiting.splice(slot.waiting.indexOf(go), 1);
          reject(new KonbiniError('CITY_UNREACHABLE', { cityCode: city.code, reason: 'busy' }));
        }, this.timeoutMs);
        slot.waiting.push(go);
      });
    } else slot.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = slot.waiting.shift();
      if (next) next(); // the slot passes straight to the next request
      else slot.busy--;
    };
  }

  /** Close the idle connections (at shutdown). */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** The centre's LGWAN key and certificates parsed once, not for every connection. */
  private secureContext: SecureContext | undefined;

  constructor(
    private readonly tls: LgwanTls,
    private readonly timeoutMs = 30_000,
    /** Latency of each call until the response headers (or the error), for metrics. */
    private readonly observe?: (call: string, seconds: number, result: string) => void,
  ) {}

  private open(city: CityEntry, path: string, body: unknown): Promise<IncomingMessage> {
    if (!this.observe) return this.request(city, path, body);
    const started = process.hrtime.bigint();
    const call = path.split('/').pop() ?? path;
    const done = (result: string) => this.observe!(call, Number(process.hrtime.bigint() - started) / 1e9, result);
    return this.request(city, path, body).then(
      (res) => {
        done(String(res.statusCode));
        return res;
      },
      (err: unknown) => {
        done(err instanceof KonbiniError ? err.code : 'error');
        throw err;
      },
    );
  }

  private request(city: CityEntry, path: string, body: unknown): Promise<IncomingMessage> {
    const url = new URL(path, city.endpoint);
    const payload = Buffer.from(JSON.stringify(body));
    const options: RequestOptions & { secureContext: SecureContext } = {
      method: 'POST',
      hostname: url.hostname,
      port: url.port,
      path: url.pathname,
      secureContext: (this.secureContext ??= createSecureContext({ key: this.tls.key, cert: this.tls.cert, ca: this.tls.ca })),
      agent: this.agentFor(city),
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
      checkServerIdentity: (_host: string, peer: PeerCertificate) => {
        const fp = createHash('sha256').update(peer.raw).digest('hex');
        if (fp !== city.fingerprint256) {
          return new KonbiniError('CITY_CERT_MISMATCH', { cityCode: city.code });
        }
        return undefined;
      },
    };
    return new Promise((resolve, reject) => {
      const req = request(options, resolve);
      req.setTimeout(this.timeoutMs, () => req.destroy(new KonbiniError('CITY_UNREACHABLE', { cityCode: city.code, reason: 'timeout' })));
      req.on('error', (err) => {
        if (err instanceof KonbiniError) return reject(err);
        const cause = (err as { reason?: unknown }).reason;
        if (cause instanceof KonbiniError) return reject(cause);
        reject(new KonbiniError('CITY_UNREACHABLE', { cityCode: city.code, reason: (err as NodeJS.ErrnoException).code ?? 'error' }, { cause: err }));
      });
      req.end(payload);
    });
  }

  private async json<T>(city: CityEntry, path: string, body: unknown, parse: (d: unknown) => T): Promise<T> {
    const res = await this.open(city, path, body);
    const text = await readLimited(res, MAX_JSON_RESPONSE, city.code);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new KonbiniError('CITY_PROTOCOL', { cityCode: city.code, reason: 'json' });
    }
    if (res.statusCode !== 200) throw errorFromBody(data);
    try {
      return parse(data);
    } catch {
      throw new KonbiniError('CITY_PROTOCOL', { cityCode: city.code, reason: 'schema' });
    }
  }

  menu(city: CityEntry, req: CityMenuRequest): Promise<CityMenuResponse> {
    return this.json(city, CITY_API.menu, req, parseCityMenuResponse);
  }

  outcome(city: CityEntry, req: CityOutcomeRequest): Promise<CityOutcomeResponse> {
    return this.json(city, CITY_API.outcome, req, parseCityOutcomeResponse);
  }

  /**
   * Ask the city to render. On success the response is the PDF, to be streamed on
   * as it arrives; the caller reads `document` and must check the end result.
   */
  async issue(city: CityEntry, req: CityIssueRequest): Promise<IssuedDocument> {
    const release = await this.acquire(city);
    // the slot is the city's rendering: given back once its answer starts (the PDF then streams)
    const res = await this.open(city, CITY_API.issue, req).finally(release);
    if (res.statusCode !== 200) {
      const text = await readLimited(res, MAX_JSON_RESPONSE, city.code);
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        throw new KonbiniError('CITY_PROTOCOL', { cityCode: city.code, reason: 'error-body' });
      }
      throw errorFromBody(data);
    }
    const contentType = String(res.headers['content-type'] ?? '');
    const issuanceId = String(res.headers[DOCUMENT_HEADERS.issuanceId] ?? '');
    const sha256 = String(res.headers[DOCUMENT_HEADERS.sha256] ?? '');
    const fee = Number(res.headers[DOCUMENT_HEADERS.fee]);
    const length = Number(res.headers['content-length']);
    const bad =
      !contentType.startsWith('application/pdf') ? 'content-type'
      : issuanceId !== req.issuanceId ? 'issuance-id'
      : !/^[0-9a-f]{64}$/.test(sha256) ? 'sha256'
      : !Number.isInteger(fee) || fee < 0 ? 'fee'
      : !Number.isInteger(length) || length <= 0 || length > MAX_DOCUMENT_BYTES ? 'length'
      : null;
    if (bad) {
      res.destroy();
      throw new KonbiniError('CITY_PROTOCOL', { cityCode: city.code, reason: bad, issuanceId: req.issuanceId });
    }
    return { issuanceId, sha256, fee, length, body: res };
  }
}

export interface IssuedDocument {
  issuanceId: string;
  sha256: string;
  fee: number;
  length: number;
  body: IncomingMessage;
}

function readLimited(res: IncomingMessage, limit: number, cityCode: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        res.destroy();
        reject(new KonbiniError('CITY_PROTOCOL', { cityCode, reason: 'too-large' }));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => reject(new KonbiniError('CITY_UNREACHABLE', { cityCode, reason: 'read' }, { cause: err })));
  });
}

/** Fingerprint of a PEM certificate as the directory stores it. */
export function fingerprintOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}
