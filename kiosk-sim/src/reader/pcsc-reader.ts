/**
 * A CardReader on PC/SC (pcsc-lite through the `pcsclite` npm package): a real reader,
 * or pcscd's vpcd reader with a VirtualCard connected through the vpcd bridge.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { KonbiniError } from '@konbini/protocol';
import { abortable, type CardPresence, type CardReader } from './card-reader.js';

// pcsclite is CommonJS with a native addon; load it lazily so that kiosks without
// PC/SC (the in-process reader) never need the addon.
const require = createRequire(import.meta.url);

/* Minimal shapes of the pcsclite objects we use (its index.d.ts uses `export =`). */
interface PcscLiteReader extends EventEmitter {
  name: string;
  connected: boolean;
  SCARD_SHARE_SHARED: number;
  SCARD_SHARE_EXCLUSIVE: number;
  SCARD_PROTOCOL_T1: number;
  SCARD_STATE_EMPTY: number;
  SCARD_STATE_PRESENT: number;
  SCARD_STATE_MUTE: number;
  SCARD_LEAVE_CARD: number;
  SCARD_RESET_CARD: number;
  connect(options: { share_mode?: number; protocol?: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(disposition: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: unknown, response: Buffer) => void): void;
  close(): void;
}
interface PcscLite extends EventEmitter {
  readers: Record<string, PcscLiteReader>;
  close(): void;
}

export interface PcscReaderOptions {
  /** Which reader to use: exact name, a RegExp, or the first reader that appears when omitted. */
  reader?: string | RegExp;
  /** Default 'exclusive' (a kiosk owns its reader); 'shared' lets tools look at the card too. */
  shareMode?: 'shared' | 'exclusive';
  /** When a transmit fails, how long to wait for pcscd to report removal before calling it CARD_UNREADABLE (ms). Default 1200 (pcscd polls vpcd every 400 ms). */
  removalGraceMs?: number;
}

/** PC/SC return codes (pcsclite puts them in the error message as `(0x8010....)`). */
const SCARD_REMOVED_CODES = new Set([
  0x80100069, // SCARD_W_REMOVED_CARD
  0x8010000c, // SCARD_E_NO_SMARTCARD
  0x80100067, // SCARD_W_UNPOWERED_CARD
  0x80100066, // SCARD_W_UNRESPONSIVE_CARD
]);

export function pcscErrorCode(err: unknown): number | undefined {
  const m = /\(0x([0-9a-f]{8})\)/i.exec(String((err as Error | undefined)?.message ?? err));
  return m ? parseInt(m[1], 16) : undefined;
}

type Session = 'none' | 'active' | 'removed';

export class PcscReader extends EventEmitter implements CardReader {
  private readonly pcsc: PcscLite;
  private readonly options: Required<Pick<PcscReaderOptions, 'shareMode' | 'removalGraceMs'>> & Pick<PcscReaderOptions, 'reader'>;
  private reader: PcscLiteReader | null = null;
  private lastState = 0;
  private connected = false;
  private connecting = false;
  private protocol = 0;
  private atr: Buffer | null = null;
  private session: Session = 'none';
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Opens a PC/SC context. Throws KonbiniError CARD_UNREADABLE (detail.reason
   * 'pcsc-unavailable') when pcscd is not running or pcsclite is not built.
   */
  constructor(options: PcscReaderOptions = {}) {
    super();
    this.options = { shareMode: options.shareMode ?? 'exclusive', removalGraceMs: options.removalGraceMs ?? 1200, reader: options.reader };
    let pcsc: PcscLite;
    try {
      const factory = require('pcsclite') as () => PcscLite;
      pcsc = factory();
    } catch (cause) {
      throw new KonbiniError('CARD_UNREADABLE', { reason: 'pcsc-unavailable' }, { cause });
    }
    this.pcsc = pcsc;
    // Errors of the context (including 'Command cancelled' when close() cancels the
    // status thread) must never become uncaught exceptions.
    pcsc.on('error', (err: unknown) => {
      if (!this.closed) this.emit('pcsc-error', err);
    });
    pcsc.on('reader', (r: PcscLiteReader) => this.onReader(r));
  }

  get name(): string {
    return this.reader?.name ?? '';
  }

  get cardPresent(): boolean {
    return this.connected;
  }

  /** Names of the PC/SC readers seen so far. */
  readerNames(): string[] {
    return Object.keys(this.pcsc.readers ?? {});
  }

  private matches(name: string): boolean {
    const want = this.options.reader;
    if (want === undefined) return true;
    return typeof want === 'string' ? name === want : want.test(name);
  }

  private onReader(r: PcscLiteReader): void {
    r.on('error', (err: unknown) => {
      if (!this.closed) this.emit('pcsc-error', err);
    });
    if (this.closed || this.reader || !this.matches(r.name)) return;
    this.reader = r;
    this.lastState = 0;
    this.emit('reader', r.name);
    r.on('status', (status: { state: number; atr?: Buffer }) => this.onStatus(r, status));
    r.on('end', () => {
      if (this.reader !== r) return;
      this.cardGone();
      this.reader = null;
      this.emit('reader-end', r.name);
    });
  }

  private onStatus(r: PcscLiteReader, status: { state: number; atr?: Buffer }): void {
    if (this.closed || this.reader !== r) return;
    const changes = this.lastState ^ status.state;
    this.lastState = status.state;
    if (!changes) return;
    const present = (status.state & r.SCARD_STATE_PRESENT) !== 0 && (status.state & r.SCARD_STATE_MUTE) === 0;
    if ((status.state & r.SCARD_STATE_EMPTY) !== 0 || !present) {
      if (this.connected || this.connecting) this.cardGone();
      return;
    }
    if (present && !this.connected && !this.connecting) this.connectCard(r, status.atr);
  }

  private connectCard(r: PcscLiteReader, atr?: Buffer): void {
    this.connecting = true;
    const share = this.options.shareMode === 'shared' ? r.SCARD_SHARE_SHARED : r.SCARD_SHARE_EXCLUSIVE;
    r.connect({ share_mode: share, protocol: r.SCARD_PROTOCOL_T1 }, (err, protocol) => {
      this.connecting = false;
      if (this.closed || this.reader !== r) return;
      if (err) {
        this.emit('pcsc-error', err);
        return;
      }
      // The card may have gone while we were connecting.
      if ((this.lastState & r.SCARD_STATE_PRESENT) === 0) {
        r.disconnect(r.SCARD_LEAVE_CARD, () => {});
        return;
      }
      this.connected = true;
      this.protocol = protocol;
      this.atr = atr ? Buffer.from(atr) : Buffer.alloc(0);
      this.emit('inserted', { atr: Buffer.from(this.atr), readerName: r.name } satisfies CardPresence);
    });
  }

  private cardGone(): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.atr = null;
    if (this.session === 'active') this.session = 'removed';
    const r = this.reader;
    if (r && r.connected) r.disconnect(r.SCARD_LEAVE_CARD, () => {});
    if (wasConnected) this.emit('removed');
  }

  waitForCard(signal?: AbortSignal): Promise<CardPresence> {
    if (this.closed) return Promise.reject(new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' }));
    return abortable<CardPresence>(signal, (resolve, reject) => {
      const start = (p: CardPresence) => {
        this.session = 'active';
        resolve(p);
      };
      if (this.connected && this.reader) {
        start({ atr: Buffer.from(this.atr ?? []), readerName: this.reader.name });
        return () => {};
      }
      const onInserted = (p: CardPresence) => start(p);
      const onClosed = () => reject(new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' }));
      this.once('inserted', onInserted);
      this.once('_closed', onClosed);
      return () => {
        this.off('inserted', onInserted);
        this.off('_closed', onClosed);
      };
    });
  }

  transmit(apdu: Buffer): Promise<Buffer> {
    // One APDU at a time on the handle.
    const run = this.queue.then(() => this.transmitNow(Buffer.from(apdu)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transmitNow(apdu: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' }));
    if (this.session === 'removed') return Promise.reject(new KonbiniError('CARD_REMOVED'));
    const r = this.reader;
    if (this.session === 'none' || !this.connected || !r) return Promise.reject(new KonbiniError('CARD_NOT_PRESENT'));
    return new Promise<Buffer>((resolve, reject) => {
      r.transmit(apdu, 65538, this.protocol, (err, resp) => {
        // A card answers at least SW1 SW2; less means the answer was cut off (the card
        // went away mid-APDU): the same as a failed transmit.
        if (!err && resp.length >= 2) {
          resolve(Buffer.from(resp));
          return;
        }
        err ??= new Error(`response of ${resp.length} bytes`);
        const code = pcscErrorCode(err);
        const detail = { pcsc: code === undefined ? undefined : `0x${code.toString(16)}` };
        if (code !== undefined && SCARD_REMOVED_CODES.has(code)) {
          this.cardGone();
          reject(new KonbiniError('CARD_REMOVED', detail, { cause: err }));
          return;
        }
        // Other failures (e.g. SCARD_E_NOT_TRANSACTED when the vpcd link drops): give
        // pcscd one polling period to tell us whether the card went away.
        this.waitForRemoval(AbortSignal.timeout(this.options.removalGraceMs)).then(
          () => reject(new KonbiniError(this.session === 'removed' ? 'CARD_REMOVED' : 'CARD_UNREADABLE', detail, { cause: err })),
          () => reject(new KonbiniError(this.session === 'removed' ? 'CARD_REMOVED' : 'CARD_UNREADABLE', detail, { cause: err })),
        );
      });
    });
  }

  waitForRemoval(signal?: AbortSignal): Promise<void> {
    return abortable<void>(signal, (resolve) => {
      if (!this.connected || this.closed) {
        resolve();
        return () => {};
      }
      const done = () => resolve();
      this.once('removed', done);
      this.once('_closed', done);
      return () => {
        this.off('removed', done);
        this.off('_closed', done);
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.session = 'none';
    const r = this.reader;
    this.reader = null;
    this.connected = false;
    if (r) {
      if (r.connected) await new Promise<void>((resolve) => r.disconnect(r.SCARD_LEAVE_CARD, () => resolve()));
      r.removeAllListeners('status');
      try { r.close(); } catch { /* already closed */ }
    }
    for (const other of Object.values(this.pcsc.readers ?? {})) {
      if (other !== r) try { other.close(); } catch { /* already closed */ }
    }
    try { this.pcsc.close(); } catch { /* already closed */ }
    this.emit('_closed');
  }
}
