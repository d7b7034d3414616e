import type { SealRegistrationRecord, TaxRecord } from '@konbini/protocol';
import type { Queryable } from './db.js';
import type { CityDataset } from './dataset.js';
import { asBytes } from '../crypto/field-cipher.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { sealMyNumber, sealSealImage, sealTaxRecord, taxRowId } from './sealed-fields.js';

/*
 * Replica data of the certificate types beyond the 住民票 (issue 6): seal
 * registrations (table from 0002), tax records and the city's 個人番号 setting (0010).
 */

/**
 * Load the dataset's seals, tax records and city settings, inside the full load's
 * transaction (after residents and city are in). Datasets without them load as before.
 */
export async function loadCertificateData(tx: Queryable, dataset: CityDataset): Promise<{ seals: number; taxRecords: number }> {
  // 個人番号, 印影 and tax records are sealed like the other personal fields (sealed-fields.ts)
  const cipher = cipherOf(tx);
  await tx.query('UPDATE city SET allow_my_number = $1', [dataset.city.allowMyNumber === true]);
  await tx.query('DELETE FROM tax_records');
  if (dataset.city.allowMyNumber === true) {
    const numbers = dataset.residents.filter((r) => r.myNumber && r.status === 'active').map((r) => ({ id: r.id, n: sealMyNumber(cipher, r.id, r.myNumber!) }));
    await tx.query(
      `UPDATE residents SET my_number = decode(x.n, 'base64') FROM jsonb_to_recordset($1::jsonb) AS x(id text, n text) WHERE residents.id = x.id`,
      [JSON.stringify(numbers)],
    );
  }
  const seals: SealRegistrationRecord[] = dataset.seals ?? [];
  if (seals.length) {
    await tx.query(
      `INSERT INTO seal_registrations (resident_id, seal_number, image_png, status, registered_on, abolished_on)
       SELECT "residentId", "sealNumber", decode("imagePng", 'base64'), status, "registeredOn", "abolishedOn"
       FROM jsonb_to_recordset($1::jsonb) AS x("residentId" text, "sealNumber" text, "imagePng" text, status text,
         "registeredOn" date, "abolishedOn" date)`,
      [JSON.stringify(seals.map((x) => ({ ...x, imagePng: sealSealImage(cipher, x.residentId, x.imagePng) })))],
    );
  }
  const tax: TaxRecord[] = dataset.taxRecords ?? [];
  if (tax.length) {
    await tx.query(
      `INSERT INTO tax_records (resident_id, fiscal_year, record)
       SELECT "residentId", "fiscalYear", decode(record, 'base64')
       FROM jsonb_to_recordset($1::jsonb) AS x("residentId" text, "fiscalYear" integer, record text)`,
      [JSON.stringify(tax.map((t) => ({ residentId: t.residentId, fiscalYear: t.fiscalYear, record: sealTaxRecord(cipher, t.residentId, t.fiscalYear, t) })))],
    );
  }
  return { seals: seals.length, taxRecords: tax.length };
}

export async function cityAllowsMyNumber(db: Queryable): Promise<boolean> {
  const rows = await db.query<{ allow_my_number: boolean }>('SELECT allow_my_number FROM city LIMIT 1');
  return rows[0]?.allow_my_number === true;
}

/** The fiscal years the city keeps for this taxpayer, newest first. */
export async function taxYearsOf(db: Queryable, residentId: string): Promise<number[]> {
  const rows = await db.query<{ fiscal_year: number }>(
    'SELECT fiscal_year FROM tax_records WHERE resident_id = $1 ORDER BY fiscal_year DESC',
    [residentId],
  );
  return rows.map((r) => Number(r.fiscal_year));
}

export async function taxRecordOf(db: Queryable, residentId: string, fiscalYear: number): Promise<TaxRecord | null> {
  const rows = await db.query<{ record: unknown }>(
    'SELECT record FROM tax_records WHERE resident_id = $1 AND fiscal_year = $2',
    [residentId, fiscalYear],
  );
  const r = rows[0]?.record;
  if (r === undefined) return null;
  return cipherOf(db).openJson<TaxRecord>('tax_records', 'record', taxRowId(residentId, fiscalYear), asBytes(r));
}

/** 個人番号 of a resident: only ever present where the city allows printing it. */
export async function myNumberOf(db: Queryable, residentId: string): Promise<string | null> {
  const rows = await db.query<{ my_number: unknown }>('SELECT my_number FROM residents WHERE id = $1', [residentId]);
  return cipherOf(db).openText('residents', 'my_number', residentId, asBytes(rows[0]?.my_number));
}
