/**
 * Which virtual card is in which vpcd slot, across processes: `card insert` claims
 * `<runDir>/vpcd-slot-<n>.json` and `<runDir>/card-<id>.json` with O_EXCL and holds
 * them while it runs; `card remove` finds the process there and stops it by its PID.
 * A claim whose process is gone is stale and is taken over.
 */
import { mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { KonbiniError } from '@konbini/protocol';

export interface InsertedCard {
  pid: number;
  cardId: string;
  slot: number;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readClaim(path: string): InsertedCard | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as InsertedCard;
  } catch {
    return null;
  }
}

/** Creates `path` exclusively; takes over a claim whose process is dead. Returns the live holder otherwise. */
function claim(path: string, me: InsertedCard): InsertedCard | null {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try { writeSync(fd, JSON.stringify(me) + '\n'); } finally { closeSync(fd); }
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readClaim(path);
    if (holder && alive(holder.pid)) return holder;
    // Stale (its process is gone) or half-written by a process that died: remove and retry.
    try { unlinkSync(path); } catch { /* someone else cleaned up */ }
  }
  return readClaim(path) ?? me;
}

function release(path: string, pid: number): void {
  const holder = readClaim(path);
  if (holder?.pid === pid) try { unlinkSync(path); } catch { /* already gone */ }
}

export class SlotRegistry {
  constructor(readonly runDir: string) {}

  private slotFile(slot: number): string {
    return join(this.runDir, `vpcd-slot-${slot}.json`);
  }

  private cardFile(cardId: string): string {
    return join(this.runDir, `card-${cardId}.json`);
  }

  /**
   * Claims the card and the slot for this process. CARD_IN_USE when the card is in a
   * slot already, READER_SLOT_BUSY when another card is in this slot.
   */
  claim(cardId: string, slot: number, pid = process.pid): () => void {
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    const me: InsertedCard = { pid, cardId, slot, since: new Date().toISOString() };
    const cardHolder = claim(this.cardFile(cardId), me);
    if (cardHolder) throw new KonbiniError('CARD_IN_USE', { cardId, slot: cardHolder.slot, pid: cardHolder.pid });
    const slotHolder = claim(this.slotFile(slot), me);
    if (slotHolder) {
      release(this.cardFile(cardId), pid);
      throw new KonbiniError('READER_SLOT_BUSY', { slot, cardId: slotHolder.cardId, pid: slotHolder.pid });
    }
    return () => {
      release(this.slotFile(slot), pid);
      release(this.cardFile(cardId), pid);
    };
  }

  /** Cards inserted by live processes (stale claims are ignored). */
  list(): InsertedCard[] {
    let names: string[];
    try {
      names = readdirSync(this.runDir);
    } catch {
      return [];
    }
    return names
      .filter((n) => /^vpcd-slot-\d+\.json$/.test(n))
      .map((n) => readClaim(join(this.runDir, n)))
      .filter((c): c is InsertedCard => c !== null && alive(c.pid))
      .sort((a, b) => a.slot - b.slot);
  }

  find(cardId: string): InsertedCard | null {
    return this.list().find((c) => c.cardId === cardId) ?? null;
  }
}
