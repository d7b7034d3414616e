/**
 * The embedded reader: a VirtualCard is inserted and removed programmatically and
 * every APDU goes to it as bytes, exactly as over PC/SC.
 */
import { EventEmitter } from 'node:events';
import { KonbiniError } from '@konbini/protocol';
import type { VirtualCard } from '../card/virtual-card.js';
import { abortable, type CardPresence, type CardReader } from './card-reader.js';

export interface InProcessReaderOptions {
  name?: string;
  /** Added to every APDU round trip, in ms (to behave like a slow reader); default 0. */
  latencyMs?: number;
}

type Session = 'none' | 'active' | 'removed';

export class InProcessReader extends EventEmitter implements CardReader {
  readonly name: string;
  private readonly latencyMs: number;
  private card: VirtualCard | null = null;
  private session: Session = 'none';
  private closed = false;

  constructor(options: InProcessReaderOptions = {}) {
    super();
    this.name = options.name ?? 'in-process';
    this.latencyMs = options.latencyMs ?? 0;
  }

  get cardPresent(): boolean {
    return this.card !== null;
  }

  /** The card now in the reader, if any. */
  get currentCard(): VirtualCard | null {
    return this.card;
  }

  /** Places a card: it is powered on (volatile state cleared) and 'inserted' is emitted. */
  insert(card: VirtualCard): void {
    if (this.closed) throw new Error('reader closed');
    if (this.card) throw new Error('a card is already in the reader');
    const atr = card.powerOn();
    this.card = card;
    this.emit('inserted', { atr, readerName: this.name } satisfies CardPresence);
  }

  /** Takes the card away: it loses power and 'removed' is emitted. No-op when empty. */
  remove(): void {
    const card = this.card;
    if (!card) return;
    this.card = null;
    card.powerOff();
    if (this.session === 'active') this.session = 'removed';
    this.emit('removed');
  }

  waitForCard(signal?: AbortSignal): Promise<CardPresence> {
    if (this.closed) return Promise.reject(new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' }));
    return abortable<CardPresence>(signal, (resolve, reject) => {
      const start = () => {
        this.session = 'active';
        resolve({ atr: Buffer.from(this.card!.atr), readerName: this.name });
      };
      if (this.card) {
        start();
        return () => {};
      }
      const onInserted = () => start();
      const onClosed = () => reject(new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' }));
      this.once('inserted', onInserted);
      this.once('_closed', onClosed);
      return () => {
        this.off('inserted', onInserted);
        this.off('_closed', onClosed);
      };
    });
  }

  async transmit(apdu: Buffer): Promise<Buffer> {
    const bytes = Buffer.from(apdu); // the card gets its own copy, as on a wire
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    else await new Promise((r) => setImmediate(r));
    this.checkSession();
    return this.card!.transmit(bytes);
  }

  waitForRemoval(signal?: AbortSignal): Promise<void> {
    return abortable<void>(signal, (resolve) => {
      if (!this.card || this.closed) {
        resolve();
        return () => {};
      }
      const onRemoved = () => resolve();
      this.once('removed', onRemoved);
      this.once('_closed', onRemoved);
      return () => {
        this.off('removed', onRemoved);
        this.off('_closed', onRemoved);
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.remove();
    this.closed = true;
    this.session = 'none';
    this.emit('_closed');
  }

  private checkSession(): void {
    if (this.closed) throw new KonbiniError('CARD_NOT_PRESENT', { reason: 'reader-closed' });
    if (this.session === 'removed') throw new KonbiniError('CARD_REMOVED');
    if (this.session === 'none' || !this.card) throw new KonbiniError('CARD_NOT_PRESENT');
  }
}
