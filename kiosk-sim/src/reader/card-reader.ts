/**
 * What the kiosk session needs from a card reader. Everything the kiosk says to the
 * card goes through `transmit` as APDU bytes, whatever the implementation.
 *
 * Session rule: `waitForCard()` starts a card session. Once that card is removed,
 * `transmit` fails with CARD_REMOVED until `waitForCard()` is called again, even when
 * another card has been placed meanwhile (a swapped card never continues a session).
 */
import type { EventEmitter } from 'node:events';

export interface CardPresence {
  /** The card's ATR. */
  atr: Buffer;
  /** Name of the reader the card is in. */
  readerName: string;
}

export interface CardReader extends EventEmitter {
  /** Human-readable reader name (e.g. `Virtual PCD 00 00`, `in-process`). */
  readonly name: string;
  /** True while a card is present and connected. */
  readonly cardPresent: boolean;
  /**
   * Resolves when a card is present and connected (at once if one already is) and starts
   * a card session. Rejects with `signal.reason` when aborted.
   */
  waitForCard(signal?: AbortSignal): Promise<CardPresence>;
  /**
   * Sends one command APDU, resolves with `response data || SW1 SW2`.
   * Rejects with KonbiniError CARD_NOT_PRESENT (no session), CARD_REMOVED (the session's
   * card went away) or CARD_UNREADABLE (transport failure).
   */
  transmit(apdu: Buffer): Promise<Buffer>;
  /** Resolves when the current card is removed (at once when none is present). */
  waitForRemoval(signal?: AbortSignal): Promise<void>;
  /** Stops the reader: pending waits reject with CARD_NOT_PRESENT; releases every handle. */
  close(): Promise<void>;

  on(event: 'inserted', listener: (p: CardPresence) => void): this;
  on(event: 'removed', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * A promise that `run` settles, rejecting with `signal.reason` when the signal aborts first.
 * `run` returns its cleanup (remove listeners), called exactly once however it ends.
 */
export function abortable<T>(signal: AbortSignal | undefined, run: (resolve: (v: T) => void, reject: (e: unknown) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    let cleanup: (() => void) | null = null;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      return true;
    };
    const onAbort = () => {
      if (finish()) reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const c = run(
      (v) => { if (finish()) resolve(v); },
      (e) => { if (finish()) reject(e); },
    );
    if (settled) c();
    else cleanup = c;
  });
}
