/**
 * The kiosk's real line to the real centre, seen through a wrapper that keeps a copy
 * of every document byte that reached the kiosk (so tests can look for those bytes
 * afterwards), and can do to the line what goes wrong on real lines:
 *
 * - `tamper`: one byte of the document changed in transit (the centre's announced
 *   hash no longer matches);
 * - `substitute`: another issuance's whole document delivered in place of this one,
 *   announced with the right id and a matching hash (the binding must catch it);
 * - `drop`: the line dies (socket destroyed) once the first document bytes are in.
 *
 * Also drives a KioskScreen by its state, for tests that need no browser.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CentreConnection } from '../../src/centre/connection.js';
import type { DocumentBuffer } from '../../src/session/document-buffer.js';
import type { KioskScreen } from '../../src/screen/kiosk-screen.js';
import type { ScreenName } from '../../src/screen/state.js';

export type LineFault =
  | { kind: 'tamper' }
  | { kind: 'substitute'; pdf: Buffer }
  | { kind: 'drop' }
  /** Whatever `make` returns for this issuance id is delivered instead, announced with its own hash. */
  | { kind: 'replace'; make: (issuanceId: string) => Buffer };

export interface WatchedLine {
  connect: () => Promise<CentreConnection>;
  /** Every document as the kiosk received it (copies owned by the test), by issuance id. */
  documents: Map<string, Buffer>;
  fault: LineFault | null;
  /** Destroys the socket of the line opened last (the cable pulled). */
  terminate(): void;
}

export function watchedLine(open: () => Promise<CentreConnection>, fault: LineFault | null = null): WatchedLine {
  let last: { terminate(): void } | null = null;
  const line: WatchedLine = { connect: async () => wrap(await open()), documents: new Map(), fault, terminate: () => last?.terminate() };
  function wrap(conn: CentreConnection): CentreConnection {
    let current: { issuanceId: string; doc: DocumentBuffer; chunks: Buffer[] } | null = null;
    const ws = (conn as unknown as { ws: { terminate(): void } }).ws;
    last = ws;
    return new Proxy(conn, {
      get(target, prop, receiver) {
        if (prop === 'expectDocument') {
          return (issuanceId: string, doc: DocumentBuffer) => {
            const rec = { issuanceId, doc, chunks: [] as Buffer[] };
            current = rec;
            const tee = {
              append(chunk: Buffer) {
                const copy = Buffer.from(chunk);
                rec.chunks.push(copy);
                line.documents.set(issuanceId, Buffer.concat(rec.chunks));
                const f = line.fault;
                if (f?.kind === 'substitute' || f?.kind === 'replace') {
                  chunk.fill(0);
                  return; // the real bytes never reach the kiosk; the stand-in comes with the announcement
                }
                if (f?.kind === 'tamper' && rec.chunks.length === 1) chunk[Math.floor(chunk.length / 2)]! ^= 0x01;
                doc.append(chunk);
                if (f?.kind === 'drop') ws.terminate();
              },
              poison(reason: string) {
                doc.poison(reason);
              },
            };
            target.expectDocument(issuanceId, tee as unknown as DocumentBuffer);
          };
        }
        if (prop === 'next') {
          return async (types: string[], timeoutMs?: number) => {
            const m = await target.next(types as never, timeoutMs);
            const f = line.fault;
            if (m.type === 'issue.document' && current && f && (f.kind === 'substitute' || f.kind === 'replace')) {
              const stand = f.kind === 'replace' ? f.make(current.issuanceId) : Buffer.from(f.pdf);
              line.documents.set(current.issuanceId, Buffer.from(stand));
              current.doc.append(stand);
              return { ...m, bytes: stand.length, sha256: createHash('sha256').update(line.documents.get(current.issuanceId)!).digest('hex') };
            }
            return m;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }
  return line;
}

/** Resolves when the kiosk shows `name` (now or later); rejects after `ms`. */
export function reach(kiosk: KioskScreen, name: ScreenName, ms = 15_000): Promise<void> {
  if (kiosk.state.screen === name) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kiosk.off('state', on);
      reject(new Error(`kiosk did not reach ${name} (at ${kiosk.state.screen})`));
    }, ms);
    const on = (s: { screen: ScreenName }) => {
      if (s.screen !== name) return;
      clearTimeout(timer);
      kiosk.off('state', on);
      resolve();
    };
    kiosk.on('state', on);
  });
}

/** The resident's taps, through the same act() the page posts to. */
export async function walk(kiosk: KioskScreen, pin: string, until: 'confirm' | 'received' | 'pay' | 'paid'): Promise<void> {
  const act = (a: Parameters<KioskScreen['act']>[0]) => {
    const r = kiosk.act({ ...a, seq: kiosk.state.seq });
    if (!r.ok) throw new Error(`${a.action} refused on ${kiosk.state.screen}: ${r.reason}`);
  };
  if (kiosk.state.screen === 'start') act({ action: 'start' });
  await reach(kiosk, 'pin');
  for (const d of pin) act({ action: 'digit', digit: d });
  act({ action: 'pin-ok' });
  await reach(kiosk, 'menu');
  act({ action: 'choose-type', certType: 'resident-record' });
  await reach(kiosk, 'options');
  act({ action: 'options-ok' });
  await reach(kiosk, 'copies');
  act({ action: 'copies-ok' });
  await reach(kiosk, 'confirm');
  if (until === 'confirm') return;
  act({ action: 'confirm' });
  await reach(kiosk, 'received');
  if (until === 'received') return;
  act({ action: 'to-pay' });
  await reach(kiosk, 'pay');
  if (until === 'pay') return;
  const fee = kiosk.state.pay!.fee;
  for (let paid = 0; paid < fee; paid += 100) act({ action: 'coin', yen: 100 });
  act({ action: 'pay' });
  await reach(kiosk, 'remove-card');
}

/** Files under `dir` whose bytes contain any 64-byte window of `doc` taken at a few places. */
export function filesHolding(dir: string, doc: Buffer): string[] {
  const probes = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => {
    const at = Math.min(Math.floor(doc.length * f), Math.max(0, doc.length - 64));
    return doc.subarray(at, at + 64);
  });
  return allFiles(dir).filter((f) => {
    const b = readFileSync(f);
    return probes.some((p) => p.length > 0 && b.includes(p)) || b.includes('%PDF-');
  });
}

export function allFiles(dir: string): string[] {
  let out: string[] = [];
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      out = statSync(p).isDirectory() ? out.concat(allFiles(p)) : out.concat(p);
    }
  } catch {
    /* missing: nothing there */
  }
  return out;
}
