/**
 * A resident at the kiosk, for session tests over any reader: types the given PINs,
 * takes `choice`, pays, and takes the card when told to (or at the step the test
 * names, to pull it early). Reader-agnostic: `take` removes the card however the
 * reader in use needs it (in-process remove, closing the vpcd bridge).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KonbiniError, type CertOptions } from '@konbini/protocol';
import type { IssuanceStep, KioskUi } from '../../src/session/issuance.js';

export interface ResidentOptions {
  pins: string[];
  choice?: { certType: string; options?: CertOptions; copies?: number };
  /** Take the card at this step instead of when asked ('remove-card'). */
  pullAt?: IssuanceStep | 'pin';
  /** When pulling at 'pin': the resident is still typing (the PIN never comes). */
  typingForever?: boolean;
  /** Called at 'remove-card' before taking the card (e.g. to look at the tray first). */
  beforeTaking?: () => Promise<void> | void;
}

export function resident(take: () => void | Promise<void>, o: ResidentOptions) {
  const steps: string[] = [];
  const shownTries: number[] = [];
  const pins = [...o.pins];
  const choice = o.choice ?? { certType: 'resident-record' };
  const ui: KioskUi = {
    step: (name) => {
      steps.push(name);
      if (o.pullAt === name) void take();
      else if (name === 'remove-card' && o.pullAt === undefined) {
        void (async () => {
          await o.beforeTaking?.();
          await take();
        })();
      }
    },
    pin: async (tries, wrong) => {
      shownTries.push(tries);
      if (o.pullAt === 'pin') {
        void take();
        if (o.typingForever) return new Promise<string>(() => {});
      }
      const pin = pins.shift();
      if (pin === undefined) throw wrong ?? new KonbiniError('PIN_FORMAT');
      return pin;
    },
    choose: async () => ({ certType: choice.certType, options: choice.options ?? { scope: 'self' }, copies: choice.copies ?? 1 }),
    pay: async (fee) => ({ paid: fee, change: 0 }),
  };
  return { ui, steps, shownTries };
}

export function filesUnder(dir: string): string[] {
  let found: string[] = [];
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      found = statSync(p).isDirectory() ? found.concat(filesUnder(p)) : found.concat(p);
    }
  } catch {
    /* missing dir: nothing there */
  }
  return found;
}
