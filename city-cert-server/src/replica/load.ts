import { loadCertificateData } from './cert-queries.js';
import type { Db } from './db.js';
import type { CityDataset } from './dataset.js';
import { markFullLoad, takeSyncLock } from './sync-state.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { INSERT_SEALED_HOUSEHOLDS, INSERT_SEALED_RESIDENTS, sealHouseholdRow, sealResidentRow } from './sealed-fields.js';

export interface LoadSummary {
  households: number;
  residents: number;
  cardLinks: number;
}

/**
 * Initial full load: replaces the whole resident replica in one transaction, so
 * issuance never sees half a dataset (DESIGN §5 invariant 4). The 交付記録 is the
 * city server's own history and survives a reload.
 *
 * Rows go in as one JSON parameter per table (jsonb_to_recordset): one round trip
 * per table whatever the size, and the same SQL on PGlite and on a PostgreSQL server.
 */
export async function loadDataset(db: Db, dataset: CityDataset): Promise<LoadSummary> {
  if (dataset.version !== 1) throw new Error(`unsupported dataset version ${String(dataset.version)}`);
  const { city } = dataset;
  return db.transaction(async (tx) => {
    await takeSyncLock(tx);
    const cipher = cipherOf(tx);
    await tx.exec('DELETE FROM seal_registrations; DELETE FROM card_links; DELETE FROM residents; DELETE FROM households; DELETE FROM fees; DELETE FROM city;');
    await tx.query('INSERT INTO city (code, name, prefecture, mayor_name, service_hours) VALUES ($1, $2, $3, $4, $5)', [
      city.code,
      city.name,
      city.prefecture,
      city.mayorName,
      city.serviceHours ? JSON.stringify(city.serviceHours) : null,
    ]);
    await tx.query(
      `INSERT INTO fees (cert_type, fee)
       SELECT key, value::integer FROM jsonb_each_text($1::jsonb)`,
      [JSON.stringify(city.fees)],
    );
    await tx.query(INSERT_SEALED_HOUSEHOLDS, [JSON.stringify(dataset.households.map((h) => sealHouseholdRow(cipher, h)))]);
    // 個人番号 is deliberately not copied: no kiosk product here prints it.
    const residents = dataset.residents.map(({ myNumber: _omit, ...r }) => sealResidentRow(cipher, r));
    await tx.query(INSERT_SEALED_RESIDENTS, [JSON.stringify(residents)]);
    await tx.query(
      `INSERT INTO card_links (serial, resident_id, valid_from)
       SELECT lower(serial), "residentId", "validFrom"
       FROM jsonb_to_recordset($1::jsonb) AS x(serial text, "residentId" text, "validFrom" date)`,
      [JSON.stringify(dataset.cardLinks)],
    );
    // seals, tax records, city settings of the other certificate types (issue 6)
    await loadCertificateData(tx, dataset);
    await tx.query(
      `INSERT INTO replica_state (id, dataset_version, dataset_seed, city_code, reference_date, loaded_at)
       VALUES (1, $1, $2, $3, $4, now())
       ON CONFLICT (id) DO UPDATE SET dataset_version = EXCLUDED.dataset_version, dataset_seed = EXCLUDED.dataset_seed,
         city_code = EXCLUDED.city_code, reference_date = EXCLUDED.reference_date, loaded_at = EXCLUDED.loaded_at`,
      [dataset.version, dataset.generatedWithSeed, city.code, dataset.referenceDate ?? null],
    );
    await markFullLoad(tx, 0, new Date());
    return { households: dataset.households.length, residents: residents.length, cardLinks: dataset.cardLinks.length };
  });
}

/**
 * Full load only when the replica is empty or holds another city or another
 * generation of the data; otherwise the replica (and its deltas) is kept.
 * Returns the summary when it loaded, null when nothing changed.
 */
export async function loadDatasetIfChanged(db: Db, dataset: CityDataset): Promise<LoadSummary | null> {
  const rows = await db.query<{ dataset_seed: string; city_code: string }>(
    'SELECT dataset_seed::text AS dataset_seed, city_code FROM replica_state WHERE id = 1',
  );
  const r = rows[0];
  if (r && r.city_code === dataset.city.code && Number(r.dataset_seed) === dataset.generatedWithSeed) return null;
  return loadDataset(db, dataset);
}
