import { ajv } from '@konbini/protocol';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { RowError } from './errors.js';

/*
 * JSON Schemas of the rows in sync files (docs/SYNC-FORMAT.md). Shared by the full
 * load and the 異動 deltas so a resident means the same thing in both.
 */

const date = { type: 'string', pattern: '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' } as const;
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' } as const;
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const nullable = (s: object) => ({ anyOf: [s, { type: 'null' }] });
const serial = { type: 'string', pattern: '^[0-9a-fA-F]{1,64}$' } as const;

const foreign = {
  type: 'object',
  additionalProperties: false,
  required: ['nationality', 'alphabetName', 'residenceStatus', 'periodOfStay', 'periodExpiry', 'residenceCardNumber', 'category', 'becameResidentOn'],
  properties: {
    nationality: text(64),
    alphabetName: text(128),
    residenceStatus: text(64),
    periodOfStay: text(32),
    periodExpiry: date,
    residenceCardNumber: { type: 'string', pattern: '^[A-Z]{2}[0-9]{8}[A-Z]{2}$' },
    category: { enum: ['中長期在留者', '特別永住者'] },
    becameResidentOn: date,
  },
};

export const residentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'householdId', 'familyName', 'givenName', 'familyNameKana', 'givenNameKana', 'birthDate', 'sex', 'relationship',
    'residentSince', 'addressSince', 'notifiedOn', 'previousAddress', 'honseki', 'kosekiHead', 'foreign', 'status', 'flags'],
  properties: {
    id,
    householdId: id,
    familyName: text(64),
    givenName: text(64),
    familyNameKana: text(64),
    givenNameKana: text(64),
    birthDate: date,
    sex: { enum: ['male', 'female'] },
    relationship: text(32),
    residentSince: date,
    addressSince: nullable(date),
    notifiedOn: date,
    previousAddress: nullable(text(256)),
    honseki: nullable(text(256)),
    kosekiHead: nullable(text(64)),
    foreign: nullable(foreign),
    status: { enum: ['active', 'moved-out', 'deceased'] },
    flags: { type: 'array', uniqueItems: true, maxItems: 2, items: { enum: ['moving-out', 'support-measure'] } },
    // 個人番号 is accepted in the file and never stored
    myNumber: { type: 'string', pattern: '^[0-9]{12}$' },
    removedOn: date,
  },
};

export const householdSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'address', 'headId'],
  properties: { id, address: text(256), headId: id },
};

export const cardLinkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serial', 'residentId', 'validFrom'],
  properties: { serial, residentId: id, validFrom: date },
};

export const sealSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['residentId', 'sealNumber', 'registeredOn'],
  properties: {
    residentId: id,
    sealNumber: { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$' },
    registeredOn: date,
    // 印影 as base64 PNG, at most ~256 KiB
    imagePng: { type: 'string', maxLength: 350000, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
    status: { enum: ['active', 'abolished'] },
    abolishedOn: date,
  },
};

/** Field-level messages: which rule, never the offending value. */
function rowErrors(line: number, errors: ErrorObject[] | null | undefined, prefix = ''): RowError[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? `/${String((e.params as { additionalProperty: string }).additionalProperty)}` : '';
    const field = `${prefix}${e.instancePath}${extra}`;
    let reason: string;
    switch (e.keyword) {
      case 'required':
        return { line, field: `${field}/${String((e.params as { missingProperty: string }).missingProperty)}`, reason: 'required' };
      case 'additionalProperties':
        reason = 'unknown field';
        break;
      case 'pattern':
        reason = `does not match ${String((e.params as { pattern: string }).pattern)}`;
        break;
      case 'enum':
        reason = `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map(String).join(', ')}`;
        break;
      default:
        reason = e.message ?? e.keyword;
    }
    return { line, field, reason };
  });
}

export interface RowCheck {
  (line: number, row: unknown): RowError[];
}

/** The protocol ajv stops at the first error: a report names the first bad field of each bad row. */
export function checker(schema: object): RowCheck {
  const fn: ValidateFunction = ajv.compile({ ...schema, $comment: 'sync row' });
  return (line, row) => (fn(row) ? [] : rowErrors(line, fn.errors));
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A real calendar day (YYYY-MM-DD); arithmetic, not Date: it runs five times per resident in a full load. */
export function isValidDate(s: string): boolean {
  if (s.length !== 10 || s[4] !== '-' || s[7] !== '-') return false;
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (!Number.isInteger(y) || !Number.isInteger(m) || !Number.isInteger(d) || m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (m === 2 && leap ? 29 : MONTH_DAYS[m - 1]!);
}
