import { KonbiniError } from '@konbini/protocol';

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
export function tokyoDate(now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/**
 * The centre's directories: which city a card belongs to, how to reach and
 * recognise each city, and which kiosks may connect. Held in memory for the
 * skeleton; the interface is what the PostgreSQL-backed version keeps.
 */
export class Directory {
  private readonly cities = new Map<string, CityEntry>();
  private readonly cards = new Map<string, CardEntry>();
  private readonly kiosks = new Map<string, KioskEntry>();

  constructor(init: { cities?: CityEntry[]; cards?: CardEntry[]; kiosks?: KioskEntry[] } = {}) {
    for (const c of init.cities ?? []) this.upsertCity(c);
    for (const c of init.cards ?? []) this.linkCard(c);
    for (const k of init.kiosks ?? []) this.kiosks.set(k.kioskId, k);
  }

  upsertCity(city: CityEntry): void {
    this.cities.set(city.code, { ...city, fingerprint256: city.fingerprint256.toLowerCase().replace(/:/g, '') });
  }

  linkCard(card: CardEntry): void {
    this.cards.set(card.serial.toLowerCase(), card);
  }

  setCityStatus(code: string, status: CityEntry['status']): void {
    const city = this.cities.get(code);
    if (!city) throw new KonbiniError('CITY_UNKNOWN', { cityCode: code });
    city.status = status;
  }

  kiosk(kioskId: string): KioskEntry {
    const k = this.kiosks.get(kioskId);
    if (!k) throw new KonbiniError('KIOSK_UNKNOWN', { kioskId });
    if (k.status !== 'active') throw new KonbiniError('KIOSK_REVOKED', { kioskId });
    return k;
  }

  /** Route a card to its city: linked, link in force today, city known and active. */
  cityForCard(serial: string, now: Date): CityEntry {
    const card = this.cards.get(serial);
    if (!card) throw new KonbiniError('CARD_NOT_LINKED');
    if (tokyoDate(now) < card.validFrom) throw new KonbiniError('CARD_LINK_NOT_YET_VALID');
    const city = this.cities.get(card.cityCode);
    if (!city) throw new KonbiniError('CITY_UNKNOWN', { cityCode: card.cityCode });
    if (city.status !== 'active') throw new KonbiniError('CITY_SUSPENDED', { cityCode: city.code });
    return city;
  }

  city(code: string): CityEntry | undefined {
    return this.cities.get(code);
  }
}
