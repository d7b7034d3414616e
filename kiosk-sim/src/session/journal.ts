import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrorCode, KonbiniError, MAX_COPIES, type ErrorCode } from '@konbini/protocol';
import type { CentreConnection } from '../centre/connection.js';
import type { Printer } from '../printer/printer.js';

/**
 * Where an issuance stands at the kiosk, as far as the centre may not know yet:
 * `received` (the document is here, nothing handed to the printer), `printing`
 * (handed to the printer: the sheets may be out), `printed`, `failed`.
 */
export type JournalState = 'received' | 'printing' | 'printed' | 'failed';

/** One entry: ids and counts only, never document bytes or anything about the resident. */
export interface JournalEntry {
  issuanceId: string;
  kioskId: string;
  state: JournalState;
  /** Copies the document holds. */
  copies: number;
  copiesPrinted: number;
  failureCode?: ErrorCode;
  /** When the entry was last written (kiosk clock). */
  at: string;
}

const ISSUANCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATES: readonly JournalState[] = ['received', 'printing', 'printed', 'failed'];

/**
 * The kiosk's journal of outcomes the centre has not acknowledged, in the kiosk's
 * private directory: one small file per issuance, named by its issuance id only
 * (DESIGN §5 invariant 1), replaced atomically (written, fsynced, renamed, the
 * directory fsynced) so a kill -9 leaves either the old entry or the new one.
 * The centre can record "printed" only if it hears it; when the line drops or the
 * kiosk dies after the sheet came out, this is what it hears it from later.
 */
export class OutcomeJournal {
  constructor(
    readonly dir: string,
    readonly kioskId: string,
    /** Where the kiosk says what became of each entry (ids and codes only). */
    private readonly log?: (event: string, info: Record<string, string | number>) => void,
  ) {}

  private path(issuanceId: string): string {
    if (!ISSUANCE_ID.test(issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'bad-issuance-id' });
    return join(this.dir, `${issuanceId}.json`);
  }

  /** Write (or replace) the entry durably: on disk before this resolves. */
  async record(e: Omit<JournalEntry, 'kioskId' | 'at'>): Promise<void> {
    const path = this.path(e.issuanceId);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const entry: JournalEntry = { ...e, kioskId: this.kioskId, at: new Date().toISOString() };
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(entry));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await this.syncDir();
  }

  /** The centre acknowledged it: forget the entry. */
  async remove(issuanceId: string): Promise<void> {
    try {
      await unlink(this.path(issuanceId));
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
      return;
    }
    await this.syncDir();
  }

  async get(issuanceId: string): Promise<JournalEntry | undefined> {
    try {
      return parseEntry(await readFile(this.path(issuanceId), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Every entry not yet acknowledged, oldest first. A half-written temporary file is no entry. */
  async pending(): Promise<JournalEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || !ISSUANCE_ID.test(name.slice(0, -5))) continue;
      const e = parseEntry(await readFile(join(this.dir, name), 'utf8').catch(() => ''));
      if (e && e.issuanceId === name.slice(0, -5) && e.kioskId === this.kioskId) out.push(e);
      else this.log?.('journal-entry-unreadable', { file: name.slice(0, 36) });
    }
    return out.sort((a, b) => a.at.localeCompare(b.at));
  }

  private async syncDir(): Promise<void> {
    // The rename or unlink itself must survive a power cut, not only the file's bytes.
    const fh = await open(this.dir, 'r');
    try {
      await fh.sync();
    } catch {
      /* some file systems cannot fsync a directory; the rename is still atomic */
    } finally {
      await fh.close();
    }
  }

  /**
   * Send every pending entry to the centre (issue.late-outcome), one at a time, and
   * forget each one the centre has answered for good. Call on a fresh connection,
   * before any session. An entry left at `printing` (the kiosk died at the printer)
   * is settled by asking the printer about that issuance's own job; if it cannot
   * say, the entry is reported failed (never charged without proof of paper).
   * Throws when the line fails (the entries stay for the next connection).
   */
  async reportPending(centre: CentreConnection, printer: Printer): Promise<{ sent: number; kept: number }> {
    let sent = 0;
    const entries = await this.pending();
    for (let i = 0; i < entries.length; i++) {
      let e = entries[i]!;
      if (e.state === 'printing' || e.state === 'received') e = await this.resolve(e, printer);
      const outcome = e.state === 'printed' ? 'printed' : 'failed';
      centre.send({
        type: 'issue.late-outcome',
        issuanceId: e.issuanceId,
        outcome,
        copiesPrinted: outcome === 'printed' ? e.copiesPrinted : 0,
        at: e.at,
        ...(e.failureCode ? { failureCode: e.failureCode } : {}),
      });
      try {
        const ack = await centre.next(['issue.late-recorded'], 15_000);
        if (ack.issuanceId !== e.issuanceId) throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { reason: 'late-ack-id' });
        await this.remove(e.issuanceId);
        sent++;
        this.log?.('late-report', { issuanceId: e.issuanceId, outcome: ack.outcome, charged: ack.charged });
      } catch (err) {
        const code = err instanceof KonbiniError ? err.code : 'INTERNAL';
        if (FINAL.has(code)) {
          // The centre's answer will not change however often the entry is sent.
          await this.remove(e.issuanceId);
          sent++;
          this.log?.(code === 'LATE_OUTCOME_EXPIRED' ? 'alarm' : 'late-report-refused', { issuanceId: e.issuanceId, outcome, code });
          continue;
        }
        // The line or the centre's ledger is not there now: keep it (and the rest) for the next connection.
        this.log?.('late-report-kept', { issuanceId: e.issuanceId, code });
        if (code === 'CITY_UNREACHABLE' || code === 'MESSAGE_INVALID') throw err;
        return { sent, kept: entries.length - i };
      }
    }
    return { sent, kept: 0 };
  }

  /** After a restart: what became of an entry the kiosk never finished. */
  private async resolve(e: JournalEntry, printer: Printer): Promise<JournalEntry> {
    let printed: number | null = null;
    if (e.state === 'printing') {
      try {
        printed = (await printer.recover?.(e.issuanceId, e.copies)) ?? null;
      } catch {
        printed = null;
      }
    } else {
      // Never handed to the printer: whatever is left of its spool goes.
      await printer.recover?.(e.issuanceId, e.copies).catch(() => null);
    }
    const resolved: Omit<JournalEntry, 'kioskId' | 'at'> =
      printed && printed > 0
        ? { issuanceId: e.issuanceId, state: 'printed', copies: e.copies, copiesPrinted: printed }
        : { issuanceId: e.issuanceId, state: 'failed', copies: e.copies, copiesPrinted: 0, failureCode: e.state === 'printing' ? 'PRINTER_UNAVAILABLE' : 'INTERNAL' };
    this.log?.('journal-resolved', { issuanceId: e.issuanceId, was: e.state, now: resolved.state });
    await this.record(resolved);
    return { ...resolved, kioskId: this.kioskId, at: new Date().toISOString() };
  }
}

/** The centre's answers to a late report that do not change on a retry. */
// MESSAGE_OUT_OF_ORDER: the centre never delivered it (nothing to report on); kept, it would stop every session.
const FINAL = new Set<string>(['LATE_OUTCOME_EXPIRED', 'LATE_OUTCOME_WRONG_KIOSK', 'LATE_OUTCOME_CONFLICT', 'ISSUANCE_UNKNOWN', 'COPIES_OUT_OF_RANGE', 'MESSAGE_OUT_OF_ORDER']);

function parseEntry(text: string): JournalEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const e = v as Partial<JournalEntry> | null;
  if (!e || typeof e !== 'object') return undefined;
  if (typeof e.issuanceId !== 'string' || !ISSUANCE_ID.test(e.issuanceId)) return undefined;
  if (typeof e.kioskId !== 'string' || !STATES.includes(e.state as JournalState)) return undefined;
  if (!Number.isInteger(e.copies) || e.copies! < 1 || e.copies! > MAX_COPIES) return undefined;
  if (!Number.isInteger(e.copiesPrinted) || e.copiesPrinted! < 0 || e.copiesPrinted! > e.copies!) return undefined;
  if (typeof e.at !== 'string') return undefined;
  if (e.failureCode !== undefined && !isErrorCode(e.failureCode)) return undefined;
  return e as JournalEntry;
}
