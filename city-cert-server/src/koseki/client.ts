/**
 * The replica's side of the koseki path: requests to the koseki server over mutual
 * TLS (LGWAN-sim), the server's certificate pinned by SHA-256 fingerprint (CA trust
 * alone is not enough, as on the centre ↔ city leg). A fresh connection per request:
 * no pooled socket can carry one request's answer to another.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { KonbiniError, errorFromBody, MAX_DOCUMENT_BYTES } from '@konbini/protocol';
import { KOSEKI_API, KOSEKI_MARK_HEADERS, type KosekiIssueRequest, type KosekiStatusResponse } from './api.js';

export interface KosekiClientOptions {
  /** https://host:port of the koseki server. */
  url: string;
  /** This replica's LGWAN certificate (client) and the CA the koseki server's certificate chains to. */
  tls: { key: string; cert: string; ca: string };
  /** SHA-256 (hex) of the koseki server's certificate DER. */
  pinSha256: string;
  timeoutMs?: number;
}

/** SHA-256 fingerprint (hex, lowercase) of a PEM certificate, as pinned. */
export function certSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

class PinMismatch extends Error {}

export class KosekiClient {
  private readonly base: URL;
  constructor(private readonly o: KosekiClientOptions) {
    this.base = new URL(o.url);
    if (this.base.protocol !== 'https:') throw new Error('koseki server URL must be https');
    if (!/^[0-9a-f]{64}$/.test(o.pinSha256)) throw new Error('koseki server pin must be a SHA-256 in hex');
  }

  async status(residentId: string): Promise<KosekiStatusResponse> {
    const r = await this.post(KOSEKI_API.status, { residentId }, 64 * 1024);
    if (r.status !== 200) throw errorFromBody(safeJson(r.body));
    const body = safeJson(r.body) as KosekiStatusResponse | null;
    if (!body || !Array.isArray(body.types)) throw new KonbiniError('CITY_PROTOCOL', { reason: 'koseki-status' });
    return body;
  }

  /** The signed PDF (and its anti-forgery mark), or the koseki server's refusal as a KonbiniError with its code. */
  async issue(req: KosekiIssueRequest): Promise<{ pdf: Buffer; mark: { verificationNumber: string; contentSha256: string } | null }> {
    const r = await this.post(KOSEKI_API.issue, req, MAX_DOCUMENT_BYTES);
    if (r.status !== 200) throw errorFromBody(safeJson(r.body));
    if (!String(r.contentType).startsWith('application/pdf') || r.body.subarray(0, 5).toString('latin1') !== '%PDF-') {
      r.body.fill(0);
      throw new KonbiniError('CITY_PROTOCOL', { issuanceId: req.issuanceId, reason: 'koseki-not-pdf' });
    }
    const vn = r.headers[KOSEKI_MARK_HEADERS.verificationNumber];
    const ch = r.headers[KOSEKI_MARK_HEADERS.contentSha256];
    const mark = typeof vn === 'string' && typeof ch === 'string' && /^\d{16}$/.test(vn) && /^[0-9a-f]{64}$/.test(ch) ? { verificationNumber: vn, contentSha256: ch } : null;
    return { pdf: r.body, mark };
  }

  private post(path: string, body: unknown, limit: number): Promise<{ status: number; contentType: string | undefined; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const payload = Buffer.from(JSON.stringify(body));
    const pin = this.o.pinSha256;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port || 443,
          method: 'POST',
          path,
          key: this.o.tls.key,
          cert: this.o.tls.cert,
          ca: this.o.tls.ca,
          agent: false,
          minVersion: 'TLSv1.2',
          timeout: this.o.timeoutMs ?? 30_000,
          headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
          checkServerIdentity: (host: string, cert: PeerCertificate) => {
            const err = checkServerIdentity(host, cert);
            if (err) return err;
            const got = createHash('sha256').update(cert.raw).digest('hex');
            return got === pin ? undefined : new PinMismatch('koseki server certificate does not match its pin');
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > limit) {
              req.destroy();
              reject(new KonbiniError('CITY_PROTOCOL', { reason: 'koseki-too-large' }));
            } else chunks.push(c);
          });
          res.on('end', () => {
            const out = Buffer.concat(chunks);
            for (const c of chunks) c.fill(0);
            resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], headers: res.headers, body: out });
          });
          res.on('error', () => reject(new KonbiniError('CITY_UNREACHABLE', { reason: 'koseki-response' })));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        reject(err instanceof PinMismatch || (err as { reason?: unknown }).reason instanceof PinMismatch || /pin/.test(err.message)
          ? new KonbiniError('CITY_CERT_MISMATCH', { reason: 'koseki-pin' })
          : new KonbiniError('CITY_UNREACHABLE', { reason: 'koseki' }, { cause: err }));
      });
      req.end(payload);
    });
  }
}

function safeJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}
