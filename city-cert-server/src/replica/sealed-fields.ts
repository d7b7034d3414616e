import { KonbiniError } from '@konbini/protocol';
import type { FieldCipher } from '../crypto/field-cipher.js';

/*
 * Which replica fields are sealed (AES-256-GCM, crypto/field-cipher.ts) and how a row
 * is sealed on its way into SQL: each sealed value travels base64-encoded in the
 * JSON parameter and is stored with decode(..., 'base64'). The row id in the
 * associated data is the resident id, the household id, or "<resident id>/<year>"
 * for a tax record. The reasons for what stays in clear: docs/PROTECTION-AT-REST.md.
 */

/*
 * A resident's personal fields are stored as two envelopes (migration 0007), not
 * one per field: sealing is most of a full load's CPU (≈ 5 µs per envelope, mostly
 * OpenSSL's per-value setup), and these fields are written together anyway.
 * - `names`: the four names, which a 氏名変更 changes (only some of them, at times:
 *   sync/delta.ts opens the current envelope of that resident, merges, re-seals).
 * - `attributes`: everything else: birth date, 性別, 続柄, 転入前住所, 本籍, 筆頭者 and the
 *   foreign-resident data. Only a 世帯変更 changes something here (続柄); it re-seals
 *   the group the same way, which costs one open and one seal per 世帯変更 against one
 *   seal less per resident in every load.
 * Each plaintext is a JSON array in the fixed order below: the stored format, so
 * never reorder it (append only, and read a missing tail as null). The associated
 * data binds each envelope to `residents`, its column and the resident id.
 * 個人番号 stays an envelope of its own (`my_number`): written apart, only where the city allows it.
 */
export const NAME_FIELDS = ['familyName', 'givenName', 'familyNameKana', 'givenNameKana'] as const;
export const ATTRIBUTE_FIELDS = ['birthDate', 'sex', 'relationship', 'previousAddress', 'honseki', 'kosekiHead', 'foreign'] as const;
export type NameField = (typeof NAME_FIELDS)[number];
export type AttributeField = (typeof ATTRIBUTE_FIELDS)[number];
export type ResidentNames = Record<NameField, string>;
export type ResidentAttributes = { [K in AttributeField]: unknown };

/** The stored groups: column → the fields it holds, in their stored order. */
export const RESIDENT_GROUPS = { names: NAME_FIELDS, attributes: ATTRIBUTE_FIELDS } as const;
export type ResidentGroup = keyof typeof RESIDENT_GROUPS;

const b64 = (b: Buffer | null): string | null => (b ? b.toString('base64') : null);

/** One group of a resident (any object holding its fields) sealed for that resident's row. */
export function sealGroup(cipher: FieldCipher, group: ResidentGroup, residentId: string, from: Record<string, unknown>): Buffer {
  const fields = RESIDENT_GROUPS[group];
  const values = new Array<unknown>(fields.length);
  for (let i = 0; i < fields.length; i++) values[i] = from[fields[i]!] ?? null;
  return cipher.seal('residents', group, residentId, JSON.stringify(values));
}

/**
 * A stored group opened: its fields by name. A missing envelope (a row the migration
 * could not re-seal because a value of it failed its tag) is unreadable like a tampered one.
 */
export function openGroup(cipher: FieldCipher, group: 'names', residentId: string, envelope: Buffer | null): ResidentNames;
export function openGroup(cipher: FieldCipher, group: 'attributes', residentId: string, envelope: Buffer | null): ResidentAttributes;
export function openGroup(cipher: FieldCipher, group: ResidentGroup, residentId: string, envelope: Buffer | null): Record<string, unknown> {
  if (!envelope) throw new KonbiniError('REPLICA_FIELD_UNREADABLE', { table: 'residents', column: group, rowId: residentId, reason: 'missing' });
  const values = cipher.openJson<unknown[]>('residents', group, residentId, envelope)!;
  const fields = RESIDENT_GROUPS[group];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) out[fields[i]!] = values[i] ?? null;
  return out;
}

/**
 * A resident row (load or delta JSON) with its personal fields replaced by two base64
 * envelopes, `names` and `attributes` (the columns of the same name); the rest as given.
 */
export function sealResidentRow(cipher: FieldCipher, resident: object): Record<string, unknown> {
  const row = resident as Record<string, unknown>;
  const id = String(row.id);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (!(NAME_FIELDS as readonly string[]).includes(k) && !(ATTRIBUTE_FIELDS as readonly string[]).includes(k)) out[k] = v;
  out.names = b64(sealGroup(cipher, 'names', id, row));
  out.attributes = b64(sealGroup(cipher, 'attributes', id, row));
  return out;
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
export const INSERT_SEALED_RESIDENTS = `INSERT INTO residents (id, household_id, names, attributes, resident_since, address_since, notified_on,
    status, flags, removed_on)
  SELECT id, "householdId", decode(names, 'base64'), decode(attributes, 'base64'), "residentSince", "addressSince", "notifiedOn",
    status, ARRAY(SELECT jsonb_array_elements_text(flags)), "removedOn"
  FROM jsonb_to_recordset($1::jsonb) AS x(id text, "householdId" text, names text, attributes text,
    "residentSince" date, "addressSince" date, "notifiedOn" date, status text, flags jsonb, "removedOn" date)`;
