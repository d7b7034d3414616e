import type { Db, Queryable } from './db.js';
import { asBytes, type FieldCipher } from '../crypto/field-cipher.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { openGroup } from './sealed-fields.js';
import type { CardLink, CityInfo, Household, Resident } from './dataset.js';

/*
 * Read side of the replica. Residents are found only by card serial or resident
 * id, never by name; a household is read only through a resident already found.
 * Personal fields are stored sealed (crypto/field-cipher.ts) and opened here, for
 * the one resident (and their household's record) being issued.
 */

const RESIDENT_COLUMNS = `id, household_id, names, attributes, resident_since::text AS resident_since,
  address_since::text AS address_since, notified_on::text AS notified_on, status, flags, removed_on::text AS removed_on`;

/** Sealed columns come back as bytea (Uint8Array on PGlite, Buffer on pg). */
type Sealed = unknown;

interface ResidentRow {
  id: string;
  household_id: string;
  /** The four names, one envelope (replica/sealed-fields.ts). */
  names: Sealed;
  /** Birth date, 性別, 続柄, 転入前住所, 本籍, 筆頭者, foreign-resident data: one envelope. */
  attributes: Sealed;
  resident_since: string;
  address_since: string | null;
  notified_on: string;
  status: Resident['status'];
  flags: Resident['flags'];
  removed_on: string | null;
}

function toResident(cipher: FieldCipher, r: ResidentRow): Resident {
  const n = openGroup(cipher, 'names', r.id, asBytes(r.names));
  const a = openGroup(cipher, 'attributes', r.id, asBytes(r.attributes));
  return {
    id: r.id,
    householdId: r.household_id,
    familyName: n.familyName,
    givenName: n.givenName,
    familyNameKana: n.familyNameKana,
    givenNameKana: n.givenNameKana,
    birthDate: a.birthDate as string,
    sex: a.sex as Resident['sex'],
    relationship: a.relationship as string,
    residentSince: r.resident_since,
    addressSince: r.address_since,
    notifiedOn: r.notified_on,
    previousAddress: a.previousAddress as string | null,
    honseki: a.honseki as string | null,
    kosekiHead: a.kosekiHead as string | null,
    foreign: a.foreign as Resident['foreign'],
    status: r.status,
    flags: r.flags ?? [],
    ...(r.removed_on ? { removedOn: r.removed_on } : {}),
  };
}

export type CityRecord = Omit<CityInfo, 'fees' | 'serviceHours'>;

export async function cityOf(db: Queryable): Promise<CityRecord | null> {
  const rows = await db.query<{ code: string; name: string; prefecture: string; mayor_name: string }>(
    'SELECT code, name, prefecture, mayor_name FROM city LIMIT 2',
  );
  if (rows.length !== 1) return null;
  const c = rows[0]!;
  return { code: c.code, name: c.name, prefecture: c.prefecture, mayorName: c.mayor_name };
}

export async function feeTable(db: Queryable): Promise<Map<string, number>> {
  const rows = await db.query<{ cert_type: string; fee: number }>('SELECT cert_type, fee FROM fees');
  return new Map(rows.map((r) => [r.cert_type, r.fee]));
}

export async function cardLinkBySerial(db: Queryable, serial: string): Promise<CardLink | null> {
  const rows = await db.query<{ serial: string; resident_id: string; valid_from: string }>(
    'SELECT serial, resident_id, valid_from::text AS valid_from FROM card_links WHERE serial = $1 AND revoked_on IS NULL',
    [serial.toLowerCase()],
  );
  const r = rows[0];
  return r ? { serial: r.serial, residentId: r.resident_id, validFrom: r.valid_from } : null;
}

export async function residentById(db: Queryable, id: string): Promise<Resident | null> {
  const rows = await db.query<ResidentRow>(`SELECT ${RESIDENT_COLUMNS} FROM residents WHERE id = $1`, [id]);
  return rows[0] ? toResident(cipherOf(db), rows[0]) : null;
}

export interface HouseholdView {
  household: Household;
  /** Every person on the household's record, removed ones included (rules need them; rendering filters). */
  members: Resident[];
}

/** The household of a resident already identified by card or id. */
export async function householdOfResident(db: Queryable, resident: Resident): Promise<HouseholdView | null> {
  const cipher = cipherOf(db);
  const hh = await db.query<{ id: string; address: Sealed; head_id: string }>(
    'SELECT id, address, head_id FROM households WHERE id = $1',
    [resident.householdId],
  );
  const h = hh[0];
  if (!h) return null;
  const members = await db.query<ResidentRow>(
    `SELECT ${RESIDENT_COLUMNS} FROM residents WHERE household_id = $1 ORDER BY id`,
    [h.id],
  );
  const address = cipher.openText('households', 'address', h.id, asBytes(h.address)!);
  return { household: { id: h.id, address, headId: h.head_id }, members: members.map((m) => toResident(cipher, m)) };
}

export interface ReplicaState {
  datasetVersion: number;
  datasetSeed: number;
  cityCode: string;
  referenceDate: string | null;
  loadedAt: string;
}

export async function replicaState(db: Queryable): Promise<ReplicaState | null> {
  const rows = await db.query<{
    dataset_version: number;
    dataset_seed: string | number;
    city_code: string;
    reference_date: string | null;
    loaded_at: string;
  }>(
    `SELECT dataset_version, dataset_seed::text AS dataset_seed, city_code, reference_date::text AS reference_date,
       to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS loaded_at
     FROM replica_state WHERE id = 1`,
  );
  const r = rows[0];
  if (!r) return null;
  return {
    datasetVersion: r.dataset_version,
    datasetSeed: Number(r.dataset_seed),
    cityCode: r.city_code,
    referenceDate: r.reference_date,
    loadedAt: r.loaded_at,
  };
}

// ---------------------------------------------------------------- 交付記録

export interface IssuanceReservation {
  issuanceId: string;
  kioskId: string;
  certType: string;
  copies: number;
  fee: number;
  cardSerialHmac: string;
}

/**
 * Claims an issuance id before anything is rendered. The primary key makes the
 * claim atomic across workers: false means the id was used already.
 */
export async function reserveIssuance(db: Queryable, r: IssuanceReservation): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO issuance_records (issuance_id, kiosk_id, cert_type, copies, fee, card_serial_hmac, status)
     VALUES ($1, $2, $3, $4, $5, $6, 'issued')
     ON CONFLICT (issuance_id) DO NOTHING
     RETURNING issuance_id`,
    [r.issuanceId, r.kioskId, r.certType, r.copies, r.fee, r.cardSerialHmac],
  );
  return rows.length === 1;
}

export async function issuanceIdUsed(db: Queryable, issuanceId: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM issuance_records WHERE issuance_id = $1', [issuanceId]);
  return rows.length > 0;
}

/**
 * The rendered document's hash, kept as it is about to be sent. False when the record
 * is no longer open: the centre gave up on the request while it rendered and its
 * "failed" closed the record, so the document must not be sent at all.
 */
export async function recordDocument(db: Queryable, issuanceId: string, documentSha256: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE issuance_records SET document_sha256 = $2 WHERE issuance_id = $1 AND document_sha256 IS NULL AND status = 'issued' RETURNING 1`,
    [issuanceId, documentSha256],
  );
  return rows.length === 1;
}

/** A render that failed leaves no record, so nothing claims a document that never existed. */
export async function releaseIssuance(db: Queryable, issuanceId: string): Promise<void> {
  await db.query('DELETE FROM issuance_records WHERE issuance_id = $1 AND document_sha256 IS NULL', [issuanceId]);
}

export interface IssuanceRecord {
  issuanceId: string;
  kioskId: string;
  certType: string;
  copies: number;
  fee: number;
  documentSha256: string | null;
  cardSerialHmac: string;
  status: 'issued' | 'printed' | 'failed';
  copiesPrinted: number | null;
  issuedAt: string;
  outcomeAt: string | null;
}

export async function issuanceRecord(db: Db | Queryable, issuanceId: string): Promise<IssuanceRecord | null> {
  const rows = await db.query<{
    issuance_id: string;
    kiosk_id: string;
    cert_type: string;
    copies: number;
    fee: number;
    document_sha256: string | null;
    card_serial_hmac: string;
    status: IssuanceRecord['status'];
    copies_printed: number | null;
    issued_at: string;
    outcome_at: string | null;
  }>(
    `SELECT issuance_id::text AS issuance_id, kiosk_id, cert_type, copies, fee, document_sha256, card_serial_hmac,
       status, copies_printed, issued_at::text AS issued_at, outcome_at::text AS outcome_at
     FROM issuance_records WHERE issuance_id = $1`,
    [issuanceId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    issuanceId: r.issuance_id,
    kioskId: r.kiosk_id,
    certType: r.cert_type,
    copies: r.copies,
    fee: r.fee,
    documentSha256: r.document_sha256,
    cardSerialHmac: r.card_serial_hmac,
    status: r.status,
    copiesPrinted: r.copies_printed,
    issuedAt: r.issued_at,
    outcomeAt: r.outcome_at,
  };
}
