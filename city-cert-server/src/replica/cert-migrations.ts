/**
 * Schema for the certificate types beyond the 住民票 (issue 6): tax records and the
 * city's 個人番号 setting. Numbered from 0010 so they never collide with the
 * replica/sync migrations 0003-0009. Never edit a released migration: add a new one.
 */
export const CERT_MIGRATIONS: readonly { id: string; sql: string }[] = [
  {
    id: '0010-certificates',
    sql: `
      ALTER TABLE city ADD COLUMN allow_my_number boolean NOT NULL DEFAULT false;
      -- 所得・課税: one row per taxpayer and 年度; the figures as the tax system assessed them
      CREATE TABLE tax_records (
        -- cascade: a full load or sync that replaces residents takes their tax rows with them
        resident_id  text NOT NULL REFERENCES residents(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        fiscal_year  integer NOT NULL CHECK (fiscal_year BETWEEN 1989 AND 2200),
        record       jsonb NOT NULL,
        PRIMARY KEY (resident_id, fiscal_year)
      );
    `,
  },
  {
    id: '0011-my-number',
    sql: `
      -- 個人番号: copied only for a city that prints it on request (city.allow_my_number)
      ALTER TABLE residents ADD COLUMN my_number text CHECK (my_number ~ '^[0-9]{12}$');
    `,
  },
  {
    id: '0012-verification',
    sql: `
      -- anti-forgery (verify/): the 確認番号 printed on the back and the hash of the content the 2D code carries
      CREATE TABLE verification_marks (
        issuance_id         uuid PRIMARY KEY REFERENCES issuance_records(issuance_id) ON DELETE CASCADE,
        verification_number text NOT NULL UNIQUE CHECK (verification_number ~ '^[0-9]{16}$'),
        content_sha256      text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$')
      );
    `,
  },
];
