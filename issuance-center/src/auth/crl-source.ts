import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { KonbiniError } from '@konbini/protocol';
import { parseCrl, type Crl } from './crl.js';

/** A CRL of the JPKI-sim CA is a few KB per thousand revocations; 16 MiB is generous. */
const MAX_CRL_BYTES = 16 * 1024 * 1024;

export interface CrlSourceOptions {
  /** A file path, or an http(s):// URL the CA publishes its CRL at. DER or PEM. */
  location: string;
  /** The CA that must have signed the CRL. */
  ca: X509Certificate;
  /** How often to fetch again; default one hour. 0: never (load once). */
  refreshMs?: number;
  fetchTimeoutMs?: number;
  log?: Logger;
}

/** PEM (`-----BEGIN X509 CRL-----`) or DER bytes to DER. */
export function crlToDer(bytes: Buffer): Buffer {
  const text = bytes.subarray(0, 64).toString('latin1');
  if (!text.includes('-----BEGIN')) return bytes;
  const b64 = bytes
    .toString('latin1')
    .replace(/-----(BEGIN|END) X509 CRL-----/g, '')
    .replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}

function fetchUrl(url: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new KonbiniError('CRL_UNAVAILABLE', { reason: 'http-status', status: res.statusCode }));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_CRL_BYTES) {
          res.destroy();
          reject(new KonbiniError('CRL_UNAVAILABLE', { reason: 'too-large' }));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (err) => reject(new KonbiniError('CRL_UNAVAILABLE', { reason: 'read' }, { cause: err })));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new KonbiniError('CRL_UNAVAILABLE', { reason: 'timeout' })));
    req.on('error', (err) => reject(err instanceof KonbiniError ? err : new KonbiniError('CRL_UNAVAILABLE', { reason: 'fetch' }, { cause: err })));
  });
}

/**
 * The CA's current CRL, loaded from a file or URL and refreshed on a schedule.
 * A failed refresh keeps the list it has (which the revocation validator refuses
 * as CRL_STALE once its nextUpdate passes); an older list never replaces a newer.
 */
export class CrlSource {
  private crl: Crl | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<Crl> | undefined;
  /** Outcome counters, for metrics and tests. */
  readonly stats = { loaded: 0, failed: 0, lastError: undefined as string | undefined };

  constructor(private readonly opts: CrlSourceOptions) {}

  /** A source holding one fixed CRL (from config bytes); never refreshes. */
  static fixed(der: Buffer, ca: X509Certificate): CrlSource {
    const src = new CrlSource({ location: '', ca, refreshMs: 0 });
    src.crl = parseCrl(crlToDer(der), ca);
    return src;
  }

  current(): Crl | undefined {
    return this.crl;
  }

  /** Fetch and verify now; resolves with the list in force afterwards. */
  refresh(): Promise<Crl> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(): Promise<Crl> {
    const { location, ca } = this.opts;
    try {
      const bytes = /^https?:\/\//.test(location) ? await fetchUrl(location, this.opts.fetchTimeoutMs ?? 10_000) : await readFile(location);
      const next = parseCrl(crlToDer(bytes), ca);
      if (!this.crl || next.thisUpdate.getTime() >= this.crl.thisUpdate.getTime()) this.crl = next;
      this.stats.loaded++;
      this.opts.log?.info({ event: 'crl-loaded', revoked: next.revoked.size, thisUpdate: next.thisUpdate.toISOString(), nextUpdate: next.nextUpdate?.toISOString() }, 'CRL loaded');
      return this.crl;
    } catch (err) {
      this.stats.failed++;
      const e = err instanceof KonbiniError ? err : new KonbiniError('CRL_UNAVAILABLE', { reason: (err as NodeJS.ErrnoException).code ?? 'load' }, { cause: err });
      this.stats.lastError = String(e.detail.reason ?? e.code);
      this.opts.log?.warn({ event: 'crl-refresh-failed', code: e.code, reason: e.detail.reason }, 'CRL refresh failed; keeping the list in force');
      throw e;
    }
  }

  /** Load once (failure tolerated: the validator refuses with CRL_UNAVAILABLE) and schedule refreshes. */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    const every = this.opts.refreshMs ?? 3_600_000;
    if (every > 0 && !this.timer) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
