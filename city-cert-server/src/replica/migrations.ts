import { CERT_MIGRATIONS } from './cert-migrations.js';
import { APPLY_CHANGES_SQL } from './apply-changes.sql.js';
import { APPLY_CHANGES_SEALED_SQL } from './apply-changes-sealed.sql.js';
import { unlockReplica } from '../crypto/replica-keys.js';
import type { Db } from './db.js';
import { CENTRE_OUTBOX_SQL } from '../outbox/schema.js';
import { SEAL_SEX_RELATIONSHIP_SQL, sealLeftovers } from './seal-sex-relationship.js';
import { GROUP_RESIDENT_FIELDS_SQL, regroupLeftovers } from './group-resident-fields.js';

/*
 * Personal fields become AES-256-GCM envelopes (bytea, crypto/field-cipher.ts),
 * sealed and opened in TypeScript only. SQL never needs their values: lookups are by
 * resident id, household id and card serial; the rules compare status, flags and the
 * dates left in clear. A replica holding plaintext rows cannot be sealed here (the
 * key is not in SQL), so its resident data is emptied and must be loaded again; the
 * 交付記録 stays. See docs/PROTECTION-AT-REST.md for the list and the reasons.
 */
const PROTECTION_AT_REST_SQL = `
  DELETE FROM tax_records; DELETE FROM seal_registrations; DELETE FROM card_links;
  DELETE FROM residents; DELETE FROM households; DELETE FROM fees; DELETE FROM city; DELETE FROM replica_state;
  DELETE FROM sync_changes;
  UPDATE sync_state SET last_seq = 0, last_sync_at = NULL, last_batch_id = NULL, full_load_at = NULL;
  ALTER TABLE residents DROP CONSTRAINT IF EXISTS residents_my_number_check;
  ALTER TABLE residents
    ALTER COLUMN family_name TYPE bytea USING NULL,
    ALTER COLUMN given_name TYPE bytea USING NULL,
    ALTER COLUMN family_name_kana TYPE bytea USING NULL,
    ALTER COLUMN given_name_kana TYPE bytea USING NULL,
    ALTER COLUMN birth_date TYPE bytea USING NULL,
    ALTER COLUMN previous_address TYPE bytea USING NULL,
    ALTER COLUMN honseki TYPE bytea USING NULL,
    ALTER COLUMN koseki_head TYPE bytea USING NULL,
    ALTER COLUMN foreign_info TYPE bytea USING NULL,
    ALTER COLUMN my_number TYPE bytea USING NULL;
  ALTER TABLE households ALTER COLUMN address TYPE bytea USING NULL;
  ALTER TABLE tax_records ALTER COLUMN record TYPE bytea USING NULL;
  -- seal_registrations.image_png stays bytea: it now holds the envelope of the PNG
  -- one row: the data key, wrapped (never in clear), and which wrapper can unwrap it
  CREATE TABLE replica_keys (
    id          integer PRIMARY KEY CHECK (id = 1),
    wrapped_key bytea NOT NULL,
    wrapper     text NOT NULL,
    created_at  timestamptz NOT NULL
  );
  ${APPLY_CHANGES_SEALED_SQL}
`;

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
  // protection at rest (issue 5 item 7). Listed after 0010/0011 because it converts their
  // columns too; numbered 0004 as the next replica/sync migration.
  { id: '0004-protection-at-rest', sql: PROTECTION_AT_REST_SQL },
  // card link changes waiting for the centre's card directory (outbox/, issue 5 item 4)
  { id: '0005-centre-outbox', sql: CENTRE_OUTBOX_SQL },
  // 性別 and 続柄 sealed too (seal-sex-relationship.ts); existing rows are sealed after the unlock
  { id: '0006-seal-sex-relationship', sql: SEAL_SEX_RELATIONSHIP_SQL },
  // a resident's personal fields as two envelopes (names, attributes); existing rows re-sealed after the unlock
  { id: '0007-group-resident-fields', sql: GROUP_RESIDENT_FIELDS_SQL },
];

/**
 * Apply pending migrations; safe to run from several workers at once (advisory lock).
 * Then unlock the replica's data key (refuses with REPLICA_KEY_UNAVAILABLE when its
 * wrapper cannot): nothing reads or writes personal fields before this.
 */
export async function migrate(db: Db): Promise<string[]> {
  const applied = await applyMigrations(db);
  await unlockReplica(db);
  await sealLeftovers(db);
  await regroupLeftovers(db);
  return applied;
}

/**
 * The SQL of the pending migrations, in order, without the unlock and the re-sealing
 * that migrate() does after it. `until`: stop after that migration (tests build a
 * replica as an older release left it).
 */
export async function applyMigrations(db: Db, until?: string): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(7406001)');
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (!done.has(m.id)) {
        await tx.exec(m.sql);
        await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [m.id]);
        applied.push(m.id);
      }
      if (m.id === until) break;
    }
    return applied;
  }, { isolation: 'read-committed' });
}
