/**
 * The operator's view of the demo cards on a test kiosk: card files in the kiosk's
 * cards directory. Like a city counter, it can look at a card's counters and reset
 * them; it can also make a fresh card file from a fixture card.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KonbiniError } from '@konbini/protocol';
import { readCardFile, writeCardFileAtomic } from '../card/card-file.js';
import {
  AUTH_PIN_MAX_TRIES, CARD_INFO_PIN_MAX_TRIES, FOUR_DIGIT_PIN, SIGN_PASSWORD_MAX_TRIES, type CardProfile,
} from '../card/profile.js';

/** Card ids are file names: letters, digits, `-` and `_` only (no paths). */
export const CARD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export type PinName = 'auth' | 'sign' | 'card-info';
export const PIN_NAMES: readonly PinName[] = ['auth', 'sign', 'card-info'];

const PIN_STATE: Record<PinName, { key: keyof CardProfile['state']; max: number; label: string }> = {
  auth: { key: 'authPinTries', max: AUTH_PIN_MAX_TRIES, label: '利用者証明用電子証明書 PIN' },
  sign: { key: 'signPasswordTries', max: SIGN_PASSWORD_MAX_TRIES, label: '署名用電子証明書 パスワード' },
  'card-info': { key: 'cardInfoPinTries', max: CARD_INFO_PIN_MAX_TRIES, label: '券面事項入力補助 PIN' },
};

export interface PinStatus {
  pin: PinName;
  label: string;
  triesLeft: number;
  maxTries: number;
  locked: boolean;
}

export function cardFilePath(cardsDir: string, cardId: string): string {
  if (!CARD_ID.test(cardId)) throw new KonbiniError('CARD_UNKNOWN', { reason: 'bad-id' });
  return join(cardsDir, `${cardId}.json`);
}

/** Reads a card file; a missing or unreadable one is CARD_UNKNOWN. */
export function loadCard(cardsDir: string, cardId: string): { path: string; profile: CardProfile } {
  const path = cardFilePath(cardsDir, cardId);
  try {
    return { path, profile: readCardFile(path) };
  } catch (err) {
    throw new KonbiniError('CARD_UNKNOWN', { cardId }, { cause: err });
  }
}

export function pinStatus(profile: CardProfile): PinStatus[] {
  return PIN_NAMES.map((pin) => {
    const s = PIN_STATE[pin];
    const triesLeft = profile.state[s.key];
    return { pin, label: s.label, triesLeft, maxTries: s.max, locked: triesLeft <= 0 };
  });
}

/** Resets retry counters to their maximum, as the city counter does after checking the holder. */
export function unlockCard(cardsDir: string, cardId: string, pins: readonly PinName[] = PIN_NAMES): PinStatus[] {
  const { path, profile } = loadCard(cardsDir, cardId);
  for (const pin of pins) profile.state[PIN_STATE[pin].key] = PIN_STATE[pin].max;
  writeCardFileAtomic(path, profile);
  return pinStatus(profile);
}

export interface CreateCardOptions {
  /** Directory of the fixture cards to copy from. */
  fixturesDir: string;
  /** Fixture card id to copy; default: the new card's id. */
  from?: string;
  /** New 利用者証明用 PIN (4 digits); default the fixture's. */
  pin?: string;
  /** Replace an existing card file. */
  force?: boolean;
}

/**
 * Writes `<cardsDir>/<cardId>.json` from a fixture card: the same resident, keys and
 * certificates (the centre knows the card by its certificate), every counter at its
 * maximum, optionally a new PIN.
 */
export function createCard(cardsDir: string, cardId: string, opts: CreateCardOptions): CardProfile {
  const to = cardFilePath(cardsDir, cardId);
  if (existsSync(to) && !opts.force) throw new KonbiniError('CARD_EXISTS', { cardId });
  if (opts.pin !== undefined && !FOUR_DIGIT_PIN.test(opts.pin)) throw new KonbiniError('PIN_FORMAT');
  const { profile } = loadCard(opts.fixturesDir, opts.from ?? cardId);
  profile.cardId = cardId;
  if (opts.pin !== undefined) profile.jpki.authPin = opts.pin;
  for (const pin of PIN_NAMES) profile.state[PIN_STATE[pin].key] = PIN_STATE[pin].max;
  writeCardFileAtomic(to, profile);
  return profile;
}
