import WebSocket from 'ws';
import {
  decodeDocumentChunk,
  errorFromBody,
  KonbiniError,
  MAX_DOCUMENT_BYTES,
  parseCentreMessage,
  type CentreMessage,
  type KioskMessage,
} from '@konbini/protocol';
import { DocumentBuffer } from '../session/document-buffer.js';

export interface CentreTls {
  key: string;
  cert: string;
  ca: string;
}

type Waiter = { types: string[]; resolve: (m: CentreMessage) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout };

/**
 * The kiosk's line to the centre: WSS with the kiosk's device certificate.
 * Messages are taken strictly in order; document chunks are accepted only for the
 * one issuance the kiosk is waiting for, into a buffer the kiosk can wipe.
 */
export class CentreConnection {
  private readonly inbox: CentreMessage[] = [];
  private waiter: Waiter | null = null;
  private failure: KonbiniError | null = null;
  private expecting: { issuanceId: string; doc: DocumentBuffer } | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => this.onFrame(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary));
    ws.on('close', () => this.fail(new KonbiniError('CITY_UNREACHABLE', { reason: 'centre-closed' })));
    ws.on('error', () => this.fail(new KonbiniError('CITY_UNREACHABLE', { reason: 'centre-error' })));
  }

  static connect(url: string, tls: CentreTls, timeoutMs = 10_000): Promise<CentreConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { key: tls.key, cert: tls.cert, ca: tls.ca, handshakeTimeout: timeoutMs, maxPayload: MAX_DOCUMENT_BYTES + 64 });
      const onError = (err: Error) => reject(new KonbiniError('CITY_UNREACHABLE', { reason: 'connect' }, { cause: err }));
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        resolve(new CentreConnection(ws));
      });
    });
  }

  send(msg: KioskMessage): void {
    if (this.failure) throw this.failure;
    this.ws.send(JSON.stringify(msg));
  }

  /** Wait for the next message, which must be one of `types`; an error message rejects with its code. */
  next<T extends CentreMessage['type']>(types: T[], timeoutMs = 60_000): Promise<Extract<CentreMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new KonbiniError('CITY_UNREACHABLE', { reason: 'timeout', waitingFor: types.join(',') }));
      }, timeoutMs);
      this.waiter = { types, resolve: resolve as (m: CentreMessage) => void, reject, timer };
      this.drain();
    });
  }

  /** Accept document chunks for this issuance (and only this one) into `doc`. */
  expectDocument(issuanceId: string, doc: DocumentBuffer): void {
    this.expecting = { issuanceId, doc };
  }

  stopExpecting(): void {
    this.expecting = null;
  }

  close(): void {
    this.ws.close(1000);
  }

  private onFrame(frame: Buffer, isBinary: boolean): void {
    try {
      if (isBinary) {
        const { issuanceId, chunk } = decodeDocumentChunk(frame);
        if (!this.expecting || this.expecting.issuanceId !== issuanceId) {
          // A chunk of any other issuance poisons the one in progress: never print it.
          this.expecting?.doc.poison('foreign-chunk');
          return;
        }
        this.expecting.doc.append(chunk);
        return;
      }
      this.inbox.push(parseCentreMessage(frame));
      this.drain();
    } catch (err) {
      this.fail(err instanceof KonbiniError ? err : new KonbiniError('MESSAGE_INVALID'));
    }
  }

  private drain(): void {
    const w = this.waiter;
    if (!w) return;
    const msg = this.inbox.shift();
    if (!msg) {
      if (this.failure) {
        this.waiter = null;
        clearTimeout(w.timer);
        w.reject(this.failure);
      }
      return;
    }
    this.waiter = null;
    clearTimeout(w.timer);
    if (msg.type === 'error') {
      const err = errorFromBody(msg);
      if ('triesLeft' in msg && typeof (msg as { triesLeft?: unknown }).triesLeft === 'number') err.detail.triesLeft = (msg as { triesLeft: number }).triesLeft;
      w.reject(err);
    } else if (!w.types.includes(msg.type)) {
      w.reject(new KonbiniError('MESSAGE_OUT_OF_ORDER', { got: msg.type, expected: w.types.join(',') }));
    } else {
      w.resolve(msg);
    }
  }

  private fail(err: KonbiniError): void {
    if (!this.failure) this.failure = err;
    this.drain();
  }
}
