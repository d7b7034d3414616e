import { EventEmitter } from 'node:events';
import { KonbiniError, type CardLinkChange, type ErrorCode } from '@konbini/protocol';
import type { CityHours } from './service-hours.js';

export interface CityEntry {
  code: string;
  name: string;
  prefecture: string;
  /** Base URL of the city's certificate server on the LGWAN leg, e.g. https://127.0.0.1:7443 */
  endpoint: string;
  /** SHA-256 of the city server's certificate DER, lowercase hex: CA trust alone is not enough. */
  fingerprint256: string;
  status: 'active' | 'suspended';
  fees: Record<string, number>;
  /** Service hours (Asia/Tokyo); absent: 6:30-23:00, closed 12/29-1/3. */
  hours?: CityHours;
}

export interface CardEntry {
  serial: string;
  cityCode: string;
  /** First Asia/Tokyo calendar day the link may be used (YYYY-MM-DD). */
  validFrom: string;
}

export interface KioskEntry {
  kioskId: string;
  storeId: string;
  storeOperator: string;
  status: 'active' | 'revoked';
}

/** Asia/Tokyo calendar date of an instant, as YYYY-MM-DD. */
// Built once: constructing an Intl.DateTimeFormat (ICU, time-zone data) per login cost
// more than the whole directory look-up around it.
const TOKYO_DAY = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' });

export function tokyoDate(now: Date): string {
  return TOKYO_DAY.format(now);
}

/** The Asia/Tokyo day after `now`: a link added today is used from then (継続利用 rule). */
export function tokyoTomorrow(now: Date): string {
  return tokyoDate(new Date(now.getTime() + 24 * 3600_000));
}

export const normaliseFingerprint = (fp: string) => fp.toLowerCase().replace(/:/g, '');
export const normaliseSerial = (s: string) => s.toLowerCase();

/** What one change of a batch did: for the audit log and the answer. */
export type LinkEffect = 'added' | 'kept' | 'removed' | 'not-linked';

export interface LinkBatchPlan {
  /** Changes from the start that take effect; the rest (from `refused.index`) are not looked at. */
  applied: number;
  notLinked: number;
  refused?: { index: number; code: ErrorCode };
  /** One per applied change. */
  effects: LinkEffect[];
  /** The links to write: each touched card's state after the applied changes (null: removed). */
  writes: Map<string, CardEntry | null>;
}

/**
 * A batch of one city's link changes against the links the centre holds now
 * (`held`: active links of the batch's cards), with the rules of the one-card calls:
 * adding a card this city holds changes nothing; adding or removing another city's
 * card is FORBIDDEN; removing a card nobody holds is the state wanted (not-linked).
 * Stops at the first refusal: what follows it may depend on it (add then remove),
 * so it is neither applied nor judged.
 */
export function planLinkBatch(changes: CardLinkChange[], held: Map<string, CardEntry>, cityCode: string, now: Date): LinkBatchPlan {
  const state = new Map<string, CardEntry | null>(held);
  const writes = new Map<string, CardEntry | null>();
  const effects: LinkEffect[] = [];
  let notLinked = 0;
  for (const [index, change] of changes.entries()) {
    const key = normaliseSerial(change.serial);
    const current = state.get(key) ?? null;
    if (current && current.cityCode !== cityCode) return { applied: index, notLinked, refused: { index, code: 'FORBIDDEN' }, effects, writes };
    if (change.op === 'add') {
      if (current) {
        effects.push('kept');
        continue;
      }
      const card = { serial: key, cityCode, validFrom: tokyoTomorrow(now) };
      state.set(key, card);
      writes.set(key, card);
      effects.push('added');
    } else if (!current) {
      notLinked++;
      effects.push('not-linked');
    } else {
      state.set(key, null);
      writes.set(key, null);
      effects.push('removed');
    }
  }
  return { applied: changes.length, notLinked, effects, writes };
}

export type DirectoryEvent = { kind: 'city'; code: string; status: CityEntry['status'] };

/**
 * The centre's directories: which city a card belongs to, how to reach and
 * recognise each city, and which kiosks may connect. `Directory` keeps them in
 * memory (tests, the development stack without a database); `SqlDirectory`
 * keeps cities and card links in the centre's PostgreSQL, shared by instances.
 */
export interface CityDirectory {
  kiosk(kioskId: string): KioskEntry;
  kiosks(): KioskEntry[];
  city(code: string): CityEntry | undefined;
  cities(): CityEntry[];
  /** The city whose pinned certificate this is (the city leg's client certificates). */
  cityByFingerprint(fingerprint256: string): CityEntry | undefined;
  /** Route a card to its city: linked, link in force today, city known and active. */
  cityForCard(serial: string, now: Date): Promise<CityEntry>;
  /** Suspend or resume a city, on every instance sharing this directory. */
  setCityStatus(code: string, status: CityEntry['status']): Promise<CityEntry>;
  /** Seed or replace a link as given (configuration, tests). */
  linkCard(card: CardEntry): Promise<void>;
  /** A city adds a link for its resident's card, valid from tomorrow; refused if another city holds the card. */
  addLink(serial: string, cityCode: string, now: Date): Promise<CardEntry>;
  /** A city removes a link of its own. */
  removeLink(serial: string, cityCode: string, now: Date): Promise<void>;
  /** A city's changes in their order, taken together, up to the first one refused (planLinkBatch). */
  applyLinkBatch(changes: CardLinkChange[], cityCode: string, now: Date): Promise<LinkBatchPlan>;
  readonly events: EventEmitter<{ change: [DirectoryEvent] }>;
  close(): Promise<void>;
}

export class Directory implements CityDirectory {
  protected readonly cityMap = new Map<string, CityEntry>();
  private readonly cards = new Map<string, CardEntry>();
  private readonly kioskMap = new Map<string, KioskEntry>();
  readonly events = new EventEmitter<{ change: [DirectoryEvent] }>();

  constructor(init: { cities?: CityEntry[]; cards?: CardEntry[]; kiosks?: KioskEntry[] } = {}) {
    for (const c of init.cities ?? []) this.upsertCity(c);
    for (const c of init.cards ?? []) this.cards.set(normaliseSerial(c.serial), c);
    for (const k of init.kiosks ?? []) this.kioskMap.set(k.kioskId, k);
  }

  upsertCity(city: CityEntry): void {
    this.cityMap.set(city.code, { ...city, fingerprint256: normaliseFingerprint(city.fingerprint256) });
  }

  async linkCard(card: CardEntry): Promise<void> {
    this.cards.set(normaliseSerial(card.serial), card);
  }

  async addLink(serial: string, cityCode: string, now: Date): Promise<CardEntry> {
    const key = normaliseSerial(serial);
    const held = this.cards.get(key);
    if (held && held.cityCode !== cityCode) throw new KonbiniError('FORBIDDEN', { cityCode, reason: 'card-of-another-city' });
    if (held) return held;
    const card = { serial: key, cityCode, validFrom: tokyoTomorrow(now) };
    this.cards.set(key, card);
    return card;
  }

  async removeLink(serial: string, cityCode: string): Promise<void> {
    const key = normaliseSerial(serial);
    const held = this.cards.get(key);
    if (!held) throw new KonbiniError('CARD_NOT_LINKED', { cityCode });
    if (held.cityCode !== cityCode) throw new KonbiniError('FORBIDDEN', { cityCode, reason: 'card-of-another-city' });
    this.cards.delete(key);
  }

  async applyLinkBatch(changes: CardLinkChange[], cityCode: string, now: Date): Promise<LinkBatchPlan> {
    const plan = planLinkBatch(changes, this.cards, cityCode, now);
    for (const [key, card] of plan.writes) {
      if (card) this.cards.set(key, card);
      else this.cards.delete(key);
    }
    return plan;
  }

  async setCityStatus(code: string, status: CityEntry['status']): Promise<CityEntry> {
    const city = this.cityMap.get(code);
    if (!city) throw new KonbiniError('CITY_UNKNOWN', { cityCode: code });
    city.status = status;
    this.events.emit('change', { kind: 'city', code, status });
    return city;
  }

  kiosk(kioskId: string): KioskEntry {
    const k = this.kioskMap.get(kioskId);
    if (!k) throw new KonbiniError('KIOSK_UNKNOWN', { kioskId });
    if (k.status !== 'active') throw new KonbiniError('KIOSK_REVOKED', { kioskId });
    return k;
  }

  kiosks(): KioskEntry[] {
    return [...this.kioskMap.values()];
  }

  protected async cardLink(serial: string): Promise<CardEntry | undefined> {
    return this.cards.get(normaliseSerial(serial));
  }

  async cityForCard(serial: string, now: Date): Promise<CityEntry> {
    const card = await this.cardLink(serial);
    if (!card) throw new KonbiniError('CARD_NOT_LINKED');
    if (tokyoDate(now) < card.validFrom) throw new KonbiniError('CARD_LINK_NOT_YET_VALID', { cityCode: card.cityCode });
    const city = this.cityMap.get(card.cityCode);
    if (!city) throw new KonbiniError('CITY_UNKNOWN', { cityCode: card.cityCode });
    if (city.status !== 'active') throw new KonbiniError('CITY_SUSPENDED', { cityCode: city.code });
    return city;
  }

  city(code: string): CityEntry | undefined {
    return this.cityMap.get(code);
  }

  cities(): CityEntry[] {
    return [...this.cityMap.values()].sort((a, b) => a.code.localeCompare(b.code));
  }

  cityByFingerprint(fingerprint256: string): CityEntry | undefined {
    const fp = normaliseFingerprint(fingerprint256);
    return [...this.cityMap.values()].find((c) => c.fingerprint256 === fp);
  }

  async close(): Promise<void> {}
}
