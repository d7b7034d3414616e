import { EventEmitter } from 'node:events';
import { KonbiniError, type CardLinkChange } from '@konbini/protocol';
import type { Queryable, SqlDb } from '../ledger/db.js';
import { retryLostConnection } from '../ledger/db.js';
import {
  normaliseFingerprint,
  normaliseSerial,
  planLinkBatch,
  tokyoDate,
  tokyoTomorrow,
  type CardEntry,
  type CityDirectory,
  type CityEntry,
  type DirectoryEvent,
  type KioskEntry,
  type LinkBatchPlan,
} from './directory.js';
import { parseHours } from './service-hours.js';

class LinkRace extends Error {}

/** Key of the advisory lock serialising schema setup and seeding across instances. */
const DIRECTORY_LOCK = 7_444_002;
/** Channel on which a status change reaches every instance (LISTEN/NOTIFY). */
export const DIRECTORY_CHANNEL = 'konbini_directory';
/** Every instance re-reads the city table this often, whatever notices it missed. */
const RELOAD_MS = 30_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS directory_city (
  code text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
  name text NOT NULL,
  prefecture text NOT NULL,
  endpoint text NOT NULL,
  fingerprint256 text NOT NULL CHECK (fingerprint256 ~ '^[0-9a-f]{64}$|^00$'),
  status text NOT NULL CHECK (status IN ('active', 'suspended')),
  fees jsonb NOT NULL,
  hours jsonb NOT NULL,
  status_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS directory_card (
  serial text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]+$'),
  -- no foreign key: a seed may list cards of cities this centre does not serve (refused CITY_UNKNOWN)
  city_code text NOT NULL,
  valid_from text NOT NULL CHECK (valid_from ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  added_at timestamptz NOT NULL DEFAULT now(),
  removed_at timestamptz
)
`;

type Row = Record<string, unknown>;
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

function cityFromRow(r: Row): CityEntry {
  return {
    code: String(r.code),
    name: String(r.name),
    prefecture: String(r.prefecture),
    endpoint: String(r.endpoint),
    fingerprint256: String(r.fingerprint256),
    status: r.status === 'suspended' ? 'suspended' : 'active',
    fees: json(r.fees) as Record<string, number>,
    hours: parseHours(json(r.hours)),
  };
}

/**
 * The city and card directories in the centre's PostgreSQL (PGlite or a server),
 * beside the ledger. Cities are few and read on every session: each instance
 * keeps them in memory and re-reads a city when any instance NOTIFYs a change
 * (and all of them every 30 s, and after its LISTEN connection was lost). Card
 * links are many: looked up per session. Kiosks stay as configured.
 */
export class SqlDirectory implements CityDirectory {
  readonly events = new EventEmitter<{ change: [DirectoryEvent] }>();
  private readonly cityMap = new Map<string, CityEntry>();
  private readonly kioskMap = new Map<string, KioskEntry>();
  private unlisten: (() => Promise<void>) | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly db: SqlDb) {}

  /** Open on `db`; cities and cards of `seed` are written if absent (a city's status and removed links stay as they are). */
  static async open(db: SqlDb, seed: { cities: CityEntry[]; cards: CardEntry[]; kiosks: KioskEntry[] }): Promise<SqlDirectory> {
    const d = new SqlDirectory(db);
    for (const k of seed.kiosks) d.kioskMap.set(k.kioskId, k);
    await db.transaction(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [DIRECTORY_LOCK]);
      for (const stmt of SCHEMA.split(';').map((s) => s.trim()).filter(Boolean)) await q.query(stmt);
      for (const c of seed.cities) {
        await q.query(
          `INSERT INTO directory_city (code, name, prefecture, endpoint, fingerprint256, status, fees, hours)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, prefecture = EXCLUDED.prefecture, endpoint = EXCLUDED.endpoint,
             fingerprint256 = EXCLUDED.fingerprint256, fees = EXCLUDED.fees, hours = EXCLUDED.hours`,
          [c.code, c.name, c.prefecture, c.endpoint, normaliseFingerprint(c.fingerprint256), c.status, JSON.stringify(c.fees), JSON.stringify(parseHours(c.hours))],
        );
      }
      if (seed.cards.length) {
        await q.query(
          `INSERT INTO directory_card (serial, city_code, valid_from)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (serial) DO NOTHING`,
          [seed.cards.map((c) => normaliseSerial(c.serial)), seed.cards.map((c) => c.cityCode), seed.cards.map((c) => c.validFrom)],
        );
      }
    });
    await d.reloadAll();
    d.unlisten = await db.listen(DIRECTORY_CHANNEL, (payload) => void d.onNotice(payload), () => void d.reloadAll());
    d.reloadTimer = setInterval(() => void d.reloadAll().catch(() => undefined), RELOAD_MS);
    d.reloadTimer.unref();
    return d;
  }

  private async reloadAll(): Promise<void> {
    const { rows } = await this.db.query('SELECT * FROM directory_city');
    for (const r of rows) this.apply(cityFromRow(r));
  }

  private apply(city: CityEntry): void {
    const before = this.cityMap.get(city.code);
    this.cityMap.set(city.code, city);
    if (before && before.status !== city.status) this.events.emit('change', { kind: 'city', code: city.code, status: city.status });
  }

  private async onNotice(payload: string): Promise<void> {
    let code: unknown;
    try {
      code = (JSON.parse(payload) as { code?: unknown }).code;
    } catch {
      return;
    }
    if (typeof code !== 'string') return;
    const { rows } = await this.db.query('SELECT * FROM directory_city WHERE code = $1', [code]);
    if (rows[0]) this.apply(cityFromRow(rows[0]));
  }

  async setCityStatus(code: string, status: CityEntry['status']): Promise<CityEntry> {
    const row = await this.db.transaction(async (q) => {
      const { rows } = await q.query('UPDATE directory_city SET status = $2, status_changed_at = now() WHERE code = $1 RETURNING *', [code, status]);
      if (!rows[0]) throw new KonbiniError('CITY_UNKNOWN', { cityCode: code });
      // Delivered to every listening instance when this transaction commits.
      await q.query('SELECT pg_notify($1, $2)', [DIRECTORY_CHANNEL, JSON.stringify({ kind: 'city', code })]);
      return rows[0];
    });
    const city = cityFromRow(row);
    this.apply(city);
    return city;
  }

  async linkCard(card: CardEntry): Promise<void> {
    await this.db.query(
      `INSERT INTO directory_card (serial, city_code, valid_from) VALUES ($1, $2, $3)
       ON CONFLICT (serial) DO UPDATE SET city_code = EXCLUDED.city_code, valid_from = EXCLUDED.valid_from, added_at = now(), removed_at = NULL`,
      [normaliseSerial(card.serial), card.cityCode, card.validFrom],
    );
  }

  async addLink(serial: string, cityCode: string, now: Date): Promise<CardEntry> {
    const key = normaliseSerial(serial);
    return this.db.transaction(async (q: Queryable) => {
      const { rows } = await q.query('SELECT city_code, valid_from, removed_at FROM directory_card WHERE serial = $1 FOR UPDATE', [key]);
      const held = rows[0];
      if (held && held.removed_at === null) {
        if (held.city_code !== cityCode) throw new KonbiniError('FORBIDDEN', { cityCode, reason: 'card-of-another-city' });
        return { serial: key, cityCode, validFrom: String(held.valid_from) };
      }
      const validFrom = tokyoTomorrow(now);
      await q.query(
        `INSERT INTO directory_card (serial, city_code, valid_from, added_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (serial) DO UPDATE SET city_code = EXCLUDED.city_code, valid_from = EXCLUDED.valid_from, added_at = EXCLUDED.added_at, removed_at = NULL`,
        [key, cityCode, validFrom, now.toISOString()],
      );
      return { serial: key, cityCode, validFrom };
    });
  }

  async removeLink(serial: string, cityCode: string, now: Date): Promise<void> {
    const key = normaliseSerial(serial);
    await this.db.transaction(async (q) => {
      const { rows } = await q.query('SELECT city_code FROM directory_card WHERE serial = $1 AND removed_at IS NULL FOR UPDATE', [key]);
      if (!rows[0]) throw new KonbiniError('CARD_NOT_LINKED', { cityCode });
      if (rows[0].city_code !== cityCode) throw new KonbiniError('FORBIDDEN', { cityCode, reason: 'card-of-another-city' });
      await q.query('UPDATE directory_card SET removed_at = $2 WHERE serial = $1', [key, now.toISOString()]);
    });
  }

  async applyLinkBatch(changes: CardLinkChange[], cityCode: string, now: Date): Promise<LinkBatchPlan> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.linkBatchOnce(changes, cityCode, now);
      } catch (err) {
        // Another city added one of the new cards in the same moment: plan again, now that
        // its row exists (and is locked and judged like any other).
        if (!(err instanceof LinkRace) || attempt >= 3) throw err;
      }
    }
  }

  private linkBatchOnce(changes: CardLinkChange[], cityCode: string, now: Date): Promise<LinkBatchPlan> {
    const serials = [...new Set(changes.map((c) => normaliseSerial(c.serial)))];
    return this.db.transaction(async (q) => {
      // Lock the batch's cards (held or not) so that two batches touching one card take turns.
      const { rows } = await q.query('SELECT serial, city_code, valid_from, removed_at FROM directory_card WHERE serial = ANY($1::text[]) ORDER BY serial FOR UPDATE', [serials]);
      const held = new Map<string, CardEntry>();
      for (const r of rows) if (r.removed_at === null) held.set(String(r.serial), { serial: String(r.serial), cityCode: String(r.city_code), validFrom: String(r.valid_from) });
      const plan = planLinkBatch(changes, held, cityCode, now);
      const added = [...plan.writes.values()].filter((c): c is CardEntry => c !== null);
      const removed = [...plan.writes].filter(([, c]) => c === null).map(([k]) => k);
      if (added.length) {
        // A card first seen in this batch has no row to lock: should another city add it in
        // the same moment, the guard keeps that city's link, the count tells, and the batch
        // is rolled back and planned again (applyLinkBatch).
        const { rows: written } = await q.query(
          `INSERT INTO directory_card (serial, city_code, valid_from, added_at)
           SELECT s, $2, v, $4 FROM unnest($1::text[], $3::text[]) AS x(s, v)
           ON CONFLICT (serial) DO UPDATE SET city_code = EXCLUDED.city_code, valid_from = EXCLUDED.valid_from, added_at = EXCLUDED.added_at, removed_at = NULL
           WHERE directory_card.removed_at IS NOT NULL OR directory_card.city_code = EXCLUDED.city_code
           RETURNING 1`,
          [added.map((c) => c.serial), cityCode, added.map((c) => c.validFrom), now.toISOString()],
        );
        if (written.length !== added.length) throw new LinkRace();
      }
      if (removed.length) {
        await q.query('UPDATE directory_card SET removed_at = $2 WHERE serial = ANY($1::text[]) AND removed_at IS NULL AND city_code = $3', [removed, now.toISOString(), cityCode]);
      }
      return plan;
    });
  }

  async cityForCard(serial: string, now: Date): Promise<CityEntry> {
    // a read: run again after a lost connection (a few seconds at most: a resident is waiting)
    const { rows } = await retryLostConnection(() => this.db.query('SELECT city_code, valid_from FROM directory_card WHERE serial = $1 AND removed_at IS NULL', [normaliseSerial(serial)]), 8_000);
    const card = rows[0];
    if (!card) throw new KonbiniError('CARD_NOT_LINKED');
    const cityCode = String(card.city_code);
    if (tokyoDate(now) < String(card.valid_from)) throw new KonbiniError('CARD_LINK_NOT_YET_VALID', { cityCode });
    const city = this.cityMap.get(cityCode);
    if (!city) throw new KonbiniError('CITY_UNKNOWN', { cityCode });
    if (city.status !== 'active') throw new KonbiniError('CITY_SUSPENDED', { cityCode });
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

  async close(): Promise<void> {
    clearInterval(this.reloadTimer);
    await this.unlisten?.();
  }
}
