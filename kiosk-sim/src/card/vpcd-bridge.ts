/**
 * Puts a VirtualCard into pcscd's vpcd reader (vsmartcard): the card is a TCP client of
 * vpcd. Connected = card inserted; `close()` = card removed.
 *
 * Framing both ways: 2-byte big-endian length, then the payload.
 *   payload 00 / 01 / 02 (1 byte): power off / on / reset — no reply;
 *   payload 04 (1 byte): get ATR — reply [len][ATR], powered or not;
 *   anything else: a command APDU — reply [len][response data || SW1 SW2].
 * vpcd has no time-outs, so every APDU gets an answer (VirtualCard.transmit never throws).
 */
import { Socket, connect } from 'node:net';
import { EventEmitter } from 'node:events';
import { KonbiniError } from '@konbini/protocol';
import type { VirtualCard } from './virtual-card.js';

export const VPCD_DEFAULT_HOST = '127.0.0.1';
export const VPCD_SLOT0_PORT = 35963;

export interface VpcdBridgeOptions {
  /** vpcd host; default 127.0.0.1. */
  host?: string;
  /** Explicit port; default 35963 + slot. */
  port?: number;
  /** vpcd slot: 0 (`Virtual PCD 00 00`, port 35963) or 1 (`Virtual PCD 00 01`, port 35964). */
  slot?: number;
  /** Connect time-out in ms; default 5000. */
  connectTimeoutMs?: number;
  /**
   * Resolve only once vpcd has spoken to the card (pcscd polls every 400 ms), failing
   * with READER_SLOT_BUSY when it has not within this many ms. vpcd serves one card per
   * slot: a second connection is accepted by the kernel and then left unserved until
   * the first card leaves, so without this a second card would wait silently.
   * Default: resolve as soon as TCP is up.
   */
  confirmWithinMs?: number;
}

export interface VpcdBridgeStats {
  apdus: number;
  controls: number;
}

/**
 * Splits a byte stream into length-prefixed frames; copes with partial reads and
 * several frames in one chunk.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      frames.push(Buffer.from(this.buf.subarray(2, 2 + len)));
      this.buf = this.buf.subarray(2 + len);
    }
    return frames;
  }
}

export function frame(payload: Buffer): Buffer {
  const out = Buffer.alloc(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  payload.copy(out, 2);
  return out;
}

/**
 * Answers one vpcd payload; null means "no reply". Exported so the protocol can be
 * tested without pcscd.
 */
export function vpcdAnswer(card: VirtualCard, payload: Buffer): Buffer | null {
  if (payload.length === 1) {
    switch (payload[0]) {
      case 0x00: card.powerOff(); return null;
      case 0x01: card.powerOn(); return null;
      case 0x02: card.reset(); return null;
      case 0x04: return Buffer.from(card.atr);
      default: break; // a 1-byte "APDU": the card answers 6700
    }
  }
  return card.transmit(payload);
}

export class VpcdBridge extends EventEmitter {
  readonly stats: VpcdBridgeStats = { apdus: 0, controls: 0 };
  private closed = false;
  private readonly closedPromise: Promise<void>;
  private spoken!: () => void;
  private readonly spokenPromise: Promise<void> = new Promise((r) => { this.spoken = r; });

  private constructor(private readonly socket: Socket, readonly card: VirtualCard) {
    super();
    const decoder = new FrameDecoder();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const replies: Buffer[] = [];
      this.spoken();
      for (const payload of decoder.push(chunk)) {
        if (payload.length === 1 && payload[0] <= 0x04) this.stats.controls++;
        else this.stats.apdus++;
        const answer = vpcdAnswer(card, payload);
        if (answer) replies.push(frame(answer));
      }
      // One write per chunk: length and payload leave in the same segment.
      if (replies.length > 0 && !socket.destroyed) socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        card.powerOff();
        this.emit('close');
        resolve();
      });
    });
    socket.on('error', (err) => {
      // 'close' follows; report for logs only if someone listens.
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Inserts `card` into the vpcd reader: resolves once the TCP connection is up. */
  static connect(card: VirtualCard, options: VpcdBridgeOptions = {}): Promise<VpcdBridge> {
    const host = options.host ?? VPCD_DEFAULT_HOST;
    const port = options.port ?? VPCD_SLOT0_PORT + (options.slot ?? 0);
    const timeout = options.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`vpcd: no connection to ${host}:${port} within ${timeout} ms`));
      }, timeout);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        const bridge = new VpcdBridge(socket, card);
        const confirm = options.confirmWithinMs;
        if (confirm === undefined) {
          resolve(bridge);
          return;
        }
        let busy = false;
        const busyTimer = setTimeout(() => {
          busy = true;
          void bridge.close().then(() => reject(new KonbiniError('READER_SLOT_BUSY', { port, waitedMs: confirm })));
        }, confirm);
        void Promise.race([bridge.spokenPromise, bridge.closedPromise]).then(() => {
          clearTimeout(busyTimer);
          if (busy) return;
          if (bridge.closed) reject(new KonbiniError('READER_UNAVAILABLE', { port, reason: 'closed-by-vpcd' }));
          else resolve(bridge);
        });
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when the connection is gone (closed by us or by pcscd). */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** Removes the card: closes the connection and waits for it to be gone. */
  async close(): Promise<void> {
    if (!this.closed) this.socket.destroy();
    await this.closedPromise;
  }
}
