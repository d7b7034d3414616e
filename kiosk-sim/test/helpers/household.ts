/**
 * Household members in the menu, for tests of the members choice (protocol commit
 * 44f0c3f). A real line to the real centre and city, seen through a wrapper that:
 *
 * - records every message the kiosk sends (so a test can read the issue request);
 * - when the city's menu already lists members (the city side of the change has
 *   landed), passes everything through untouched: `injected` is false;
 * - otherwise adds the holder's household, as the city will list it (続柄, year of
 *   birth, the holder marked; opaque refs), to the resident-record and
 *   resident-entries items, and — because that city still refuses a `members`
 *   option — forwards a scope-'members' request to it as 'household'. `injected`
 *   is then true and `forwarded` holds what the city was really sent.
 * - `override`: replaces the members the city lists (cases its fixtures cannot show);
 *   requests go to the city as the kiosk sent them.
 *
 * Nothing else is changed: the document, its binding and the outcome are the city's.
 */
import { createHash } from 'node:crypto';
import type { CityDataset, HouseholdMember, KioskMessage } from '@konbini/protocol';
import type { CentreConnection } from '../../src/centre/connection.js';

export interface HouseholdLine {
  connect: () => Promise<CentreConnection>;
  /** What the kiosk sent, every session, in order. */
  sent: KioskMessage[];
  /** What the city was sent when the wrapper stood in for it (injected mode). */
  forwarded: KioskMessage[];
  /** The members of the last menu the kiosk saw (resident-record). */
  members: HouseholdMember[];
  injected: boolean | null;
}

export function refOf(residentId: string): string {
  return `m${createHash('sha256').update(`test-ref:${residentId}`).digest('hex').slice(0, 16)}`;
}

export function householdOf(dataset: CityDataset, residentId: string): HouseholdMember[] {
  const holder = dataset.residents.find((r) => r.id === residentId);
  if (!holder) throw new Error(`no resident ${residentId}`);
  return dataset.residents
    .filter((r) => r.householdId === holder.householdId && r.status === 'active')
    .map((r) => ({ ref: refOf(r.id), relation: r.relationship, birthYear: Number(r.birthDate.slice(0, 4)), self: r.id === residentId }));
}

const CHOOSABLE = new Set(['resident-record', 'resident-entries']);

/** `override`: replace whatever members the city lists with `household` (cases the fixtures' city cannot show). */
export function householdLine(open: () => Promise<CentreConnection>, household: HouseholdMember[], opts: { override?: boolean } = {}): HouseholdLine {
  const line: HouseholdLine = { connect: async () => wrap(await open()), sent: [], forwarded: [], members: [], injected: null };
  /** The city's own menu lists members, so it takes a 'members' request as it is. */
  let cityLists = false;
  function wrap(conn: CentreConnection): CentreConnection {
    return new Proxy(conn, {
      get(target, prop, receiver) {
        if (prop === 'send') {
          return (msg: KioskMessage) => {
            line.sent.push(structuredClone(msg));
            if (!cityLists && msg.type === 'issue.request' && msg.options.scope === 'members') {
              const { members: _members, ...rest } = msg.options;
              const stand = { ...msg, options: { ...rest, scope: 'household' as const } };
              line.forwarded.push(stand);
              return target.send(stand);
            }
            return target.send(msg);
          };
        }
        if (prop === 'next') {
          return async (types: string[], timeoutMs?: number) => {
            const m = await target.next(types as never, timeoutMs);
            if (m.type !== 'session.menu') return m;
            const items = m.items.map((i) => {
              if (!CHOOSABLE.has(i.certType)) return i;
              if (i.members?.length) cityLists = true;
              if (i.members?.length && !opts.override) {
                line.injected ??= false;
                return i;
              }
              line.injected = true;
              return { ...i, members: household };
            });
            line.members = items.find((i) => i.certType === 'resident-record')?.members ?? [];
            return { ...m, items };
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }
  return line;
}
