import { CERT_MIGRATIONS } from './cert-migrations.js';
import { APPLY_CHANGES_SQL } from './apply-changes.sql.js';
import type { Db } from './db.js';

/**
 * Schema changes, applied in order at start, each once (schema_migrations).
 * Plain PostgreSQL so the same list serves PGlite and a real server. Never edit a
 * released migration: add a new one.
 */
export const MIGRATIONS: readonly { id: string; sql: string }[] = [
  {
    id: '0001-replica',
    sql: `
      CREATE TABLE city (
        code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
        name        text NOT NULL,
        prefecture  text NOT NULL,
        mayor_name  text NOT NULL,
        service_hours jsonb
      );
      CREATE TABLE fees (
        cert_type text PRIMARY KEY,
        fee       integer NOT NULL CHECK (fee >= 0)
      );
      CREATE TABLE households (
        id      text PRIMARY KEY,
        address text NOT NULL,
        head_id text NOT NULL
      );
      CREATE TABLE residents (
        id                text PRIMARY KEY,
        household_id      text NOT NULL REFERENCES households(id) DEFERRABLE INITIALLY DEFERRED,
        family_name       text NOT NULL,
        given_name        text NOT NULL,
        family_name_kana  text NOT NULL,
        given_name_kana   text NOT NULL,
        birth_date        date NOT NULL,
        sex               text NOT NULL CHECK (sex IN ('male', 'female')),
        relationship      text NOT NULL,
        resident_since    date NOT NULL,
        address_since     date,
        notified_on       date NOT NULL,
        previous_address  text,
        honseki           text,
        koseki_head       text,
        foreign_info      jsonb,
        status            text NOT NULL CHECK (status IN ('active', 'moved-out', 'deceased')),
        flags             text[] NOT NULL DEFAULT '{}',
        removed_on        date
      );
      CREATE INDEX residents_household ON residents (household_id);
      CREATE TABLE card_links (
        serial      text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{1,64}$'),
        resident_id text NOT NULL REFERENCES residents(id) DEFERRABLE INITIALLY DEFERRED,
        valid_from  date NOT NULL
      );
      CREATE INDEX card_links_resident ON card_links (resident_id);
      -- 交付記録: what was issued, to which card (as an HMAC), never the document itself
      CREATE TABLE issuance_records (
        issuance_id      uuid PRIMARY KEY,
        kiosk_id         text NOT NULL,
        cert_type        text NOT NULL,
        copies           integer NOT NULL CHECK (copies BETWEEN 1 AND 10),
        fee              integer NOT NULL CHECK (fee >= 0),
        document_sha256  text CHECK (document_sha256 ~ '^[0-9a-f]{64}$'),
        card_serial_hmac text NOT NULL CHECK (card_serial_hmac ~ '^[0-9a-f]{64}$'),
        status           text NOT NULL CHECK (status IN ('issued', 'printed', 'failed')),
        copies_printed   integer CHECK (copies_printed BETWEEN 0 AND 10),
        issued_at        timestamptz NOT NULL DEFAULT now(),
        outcome_at       timestamptz
      );
      CREATE TABLE replica_state (
        id               integer PRIMARY KEY CHECK (id = 1),
        dataset_version  integer NOT NULL,
        dataset_seed     bigint NOT NULL,
        city_code        text NOT NULL,
        reference_date   date,
        loaded_at        timestamptz NOT NULL
      );
    `,
  },
  {
    // 随時連携 bookkeeping, seals, revocable card links (issue 5)
    id: '0002-sync',
    sql: `
      ALTER TABLE card_links ADD COLUMN revoked_on date;
      CREATE TABLE seal_registrations (
        resident_id   text PRIMARY KEY REFERENCES residents(id) DEFERRABLE INITIALLY DEFERRED,
        seal_number   text NOT NULL,
        image_png     bytea,
        status        text NOT NULL CHECK (status IN ('active', 'abolished')),
        registered_on date NOT NULL,
        abolished_on  date
      );
      -- one row: where the replica stands in the core system's change sequence
      CREATE TABLE sync_state (
        id            integer PRIMARY KEY CHECK (id = 1),
        last_seq      bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
        last_sync_at  timestamptz,
        last_batch_id text,
        full_load_at  timestamptz
      );
      INSERT INTO sync_state (id) VALUES (1);
      -- each applied change by sequence number and content hash: a re-sent batch is
      -- recognised (same hash: skipped) or refused (other content under a used number)
      CREATE TABLE sync_changes (
        seq        bigint PRIMARY KEY,
        kind       text NOT NULL,
        sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        batch_id   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  // 異動 application as one server-side function: one round trip per batch
  { id: '0003-apply-changes', sql: APPLY_CHANGES_SQL },
  // certificate types (issue 6), numbered 0010+: see cert-migrations.ts
  ...CERT_MIGRATIONS,
];

/** Apply pending migrations; safe to run from several workers at once (advisory lock). */
export async function migrate(db: Db): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(7406001)');
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [m.id]);
      applied.push(m.id);
    }
    return applied;
  }, { isolation: 'read-committed' });
}
