import type { FieldCipher } from '../crypto/field-cipher.js';

/*
 * Which replica fields are sealed (AES-256-GCM, crypto/field-cipher.ts) and how a row
 * is sealed on its way into SQL: each sealed value travels base64-encoded in the
 * JSON parameter and is stored with decode(..., 'base64'). The row id in the
 * associated data is the resident id, the household id, or "<resident id>/<year>"
 * for a tax record. The reasons for what stays in clear: docs/PROTECTION-AT-REST.md.
 */

/** Resident fields in the load/delta JSON → column, sealed as UTF-8 text. */
export const RESIDENT_SEALED_TEXT = {
  familyName: 'family_name',
  givenName: 'given_name',
  familyNameKana: 'family_name_kana',
  givenNameKana: 'given_name_kana',
  birthDate: 'birth_date',
  sex: 'sex',
  relationship: 'relationship',
  previousAddress: 'previous_address',
  honseki: 'honseki',
  kosekiHead: 'koseki_head',
} as const;

const b64 = (b: Buffer | null): string | null => (b ? b.toString('base64') : null);

/** A resident row (load or delta JSON) with its personal fields replaced by base64 envelopes; `foreign` sealed as JSON. */
export function sealResidentRow<T extends Record<string, unknown>>(cipher: FieldCipher, row: T): T {
  const id = String(row.id);
  const out: Record<string, unknown> = { ...row };
  for (const [field, column] of Object.entries(RESIDENT_SEALED_TEXT)) {
    if (field in row) out[field] = b64(cipher.sealText('residents', column, id, row[field] as string | null));
  }
  if ('foreign' in row) out.foreign = b64(cipher.sealJson('residents', 'foreign_info', id, row.foreign));
  return out as T;
}

/** Only the name fields a name-change carries, sealed for the resident it names. */
export function sealNameFields<T extends Record<string, unknown>>(cipher: FieldCipher, residentId: string, change: T): T {
  const out: Record<string, unknown> = { ...change };
  for (const f of ['familyName', 'givenName', 'familyNameKana', 'givenNameKana'] as const) {
    if (typeof change[f] === 'string') out[f] = b64(cipher.sealText('residents', RESIDENT_SEALED_TEXT[f], residentId, change[f] as string));
  }
  return out as T;
}

/** 続柄 as a 世帯変更 sets it, sealed for the resident it describes. */
export function sealRelationship(cipher: FieldCipher, residentId: string, relationship: string): string {
  return cipher.sealText('residents', RESIDENT_SEALED_TEXT.relationship, residentId, relationship).toString('base64');
}

export function sealHouseholdAddress(cipher: FieldCipher, householdId: string, address: string): string {
  return cipher.sealText('households', 'address', householdId, address).toString('base64');
}

export function sealHouseholdRow<T extends { id: string; address: string }>(cipher: FieldCipher, row: T): T {
  return { ...row, address: sealHouseholdAddress(cipher, row.id, row.address) };
}

/** The 印影 PNG (base64 in the file) as the base64 of its envelope; absent stays absent. */
export function sealSealImage(cipher: FieldCipher, residentId: string, imagePng: unknown): string | null | undefined {
  if (imagePng === undefined) return undefined;
  if (imagePng === null || imagePng === '') return null;
  return cipher.seal('seal_registrations', 'image_png', residentId, Buffer.from(String(imagePng), 'base64')).toString('base64');
}

export const taxRowId = (residentId: string, fiscalYear: number): string => `${residentId}/${fiscalYear}`;

export function sealTaxRecord(cipher: FieldCipher, residentId: string, fiscalYear: number, record: unknown): string {
  return cipher.sealJson('tax_records', 'record', taxRowId(residentId, fiscalYear), record)!.toString('base64');
}

export function sealMyNumber(cipher: FieldCipher, residentId: string, myNumber: string): string {
  return cipher.sealText('residents', 'my_number', residentId, myNumber).toString('base64');
}

/** Households as sealHouseholdRow gives them, as a JSON array in $1. */
export const INSERT_SEALED_HOUSEHOLDS = `INSERT INTO households (id, address, head_id)
  SELECT id, decode(address, 'base64'), "headId" FROM jsonb_to_recordset($1::jsonb) AS x(id text, address text, "headId" text)`;

/** Residents as sealResidentRow gives them, as a JSON array in $1 (個人番号 is never copied). */
export const INSERT_SEALED_RESIDENTS = `INSERT INTO residents (id, household_id, family_name, given_name, family_name_kana, given_name_kana,
    birth_date, sex, relationship, resident_since, address_since, notified_on, previous_address,
    honseki, koseki_head, foreign_info, status, flags, removed_on)
  SELECT id, "householdId", decode("familyName", 'base64'), decode("givenName", 'base64'),
    decode("familyNameKana", 'base64'), decode("givenNameKana", 'base64'),
    decode("birthDate", 'base64'), decode(sex, 'base64'), decode(relationship, 'base64'), "residentSince", "addressSince", "notifiedOn",
    decode("previousAddress", 'base64'), decode(honseki, 'base64'), decode("kosekiHead", 'base64'), decode("foreign", 'base64'),
    status, ARRAY(SELECT jsonb_array_elements_text(flags)), "removedOn"
  FROM jsonb_to_recordset($1::jsonb) AS x(id text, "householdId" text, "familyName" text, "givenName" text,
    "familyNameKana" text, "givenNameKana" text, "birthDate" text, sex text, relationship text,
    "residentSince" date, "addressSince" date, "notifiedOn" date, "previousAddress" text,
    honseki text, "kosekiHead" text, "foreign" text, status text, flags jsonb, "removedOn" date)`;
