import type { FieldCipher } from '../crypto/field-cipher.js';
import { sealGroup, sealHouseholdRow, sealResidentRow, sealSealImage } from '../replica/sealed-fields.js';
import { CopyBinaryWriter } from './copy-binary.js';

/*
 * The rows of a full load as the database takes them, personal fields sealed
 * (replica/sealed-fields.ts): COPY's binary format (copy-binary.ts; the default on
 * both backends), COPY's text format (kept to compare), or the JSON array the
 * jsonb_to_recordset INSERTs read (kept to compare, and for a Queryable that cannot COPY). Pure and synchronous: it runs on the main thread or
 * in the sealing workers (seal-workers.ts) on the lines of a chunk already checked.
 */

export type RowKind = 'household' | 'resident' | 'card-link' | 'seal';
/** 'copy': COPY text; 'copy-binary': COPY binary (COPY_BINARY_SQL); 'json': the INSERTs' array. */
export type ChunkFormat = 'copy' | 'copy-binary' | 'json';

/** Column list of each COPY, in the order encodeCopy writes the fields; the JSON field each column comes from. */
const COLUMNS: Record<RowKind, [column: string, field: string][]> = {
  household: [['id', 'id'], ['address', 'address'], ['head_id', 'headId']],
  // the personal fields as two envelopes (replica/sealed-fields.ts): no single file field to name
  resident: [
    ['id', 'id'], ['household_id', 'householdId'], ['names', ''], ['attributes', ''],
    ['resident_since', 'residentSince'], ['address_since', 'addressSince'], ['notified_on', 'notifiedOn'],
    ['status', 'status'], ['flags', 'flags'], ['removed_on', 'removedOn'],
  ],
  'card-link': [['serial', 'serial'], ['resident_id', 'residentId'], ['valid_from', 'validFrom']],
  seal: [['resident_id', 'residentId'], ['seal_number', 'sealNumber'], ['image_png', 'imagePng'], ['status', 'status'], ['registered_on', 'registeredOn'], ['abolished_on', 'abolishedOn']],
};
const TABLE: Record<RowKind, string> = { household: 'households', resident: 'residents', 'card-link': 'card_links', seal: 'seal_registrations' };

export const COPY_SQL: Record<RowKind, string> = Object.fromEntries(
  (Object.keys(COLUMNS) as RowKind[]).map((k) => [k, `COPY ${TABLE[k]} (${COLUMNS[k].map(([c]) => c).join(', ')}) FROM STDIN`]),
) as Record<RowKind, string>;

/** The same COPY in binary format (copy-binary.ts): the same columns, in the same order. */
export const COPY_BINARY_SQL: Record<RowKind, string> = Object.fromEntries(
  (Object.keys(COPY_SQL) as RowKind[]).map((k) => [k, `${COPY_SQL[k]} WITH (FORMAT binary)`]),
) as Record<RowKind, string>;

/** The file's field for a column named in a COPY error (`/birthDate`), or '' when unknown. */
export function fieldOfColumn(kind: RowKind, column: string | undefined): string {
  const f = COLUMNS[kind].find(([c]) => c === column)?.[1];
  return f ? `/${f}` : '';
}

const NULL = '\\N';
const SPECIAL = /[\\\t\n\r]/;
/** A clear text value in COPY text format (backslash, tab, newline and CR escaped). */
export function text(v: unknown): string {
  if (v === null || v === undefined) return NULL;
  const s = String(v);
  if (!SPECIAL.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
/** A bytea value (an envelope) in COPY text format: hex, its backslash escaped. */
export const bytea = (b: Buffer | null): string => (b ? `\\\\x${b.toString('hex')}` : NULL);

function residentCopy(cipher: FieldCipher, r: Record<string, unknown>): string {
  const id = String(r.id);
  const flags = Array.isArray(r.flags) ? `{${(r.flags as string[]).join(',')}}` : '{}';
  return [
    text(id), text(r.householdId), bytea(sealGroup(cipher, 'names', id, r)), bytea(sealGroup(cipher, 'attributes', id, r)),
    text(r.residentSince), text(r.addressSince), text(r.notifiedOn), text(r.status), text(flags), text(r.removedOn),
  ].join('\t');
}

function copyLine(cipher: FieldCipher, kind: RowKind, r: Record<string, unknown>): string {
  switch (kind) {
    case 'household':
      return `${text(r.id)}\t${bytea(cipher.sealText('households', 'address', String(r.id), String(r.address)))}\t${text(r.headId)}`;
    case 'resident':
      return residentCopy(cipher, r);
    case 'card-link':
      return `${text(String(r.serial).toLowerCase())}\t${text(r.residentId)}\t${text(r.validFrom)}`;
    case 'seal':
      return [text(r.residentId), text(r.sealNumber), bytea(sealImage(cipher, r)), text(r.status ?? 'active'), text(r.registeredOn), text(r.abolishedOn)].join('\t');
  }
}

/** The 印影 envelope, or null when the row has no image. */
function sealImage(cipher: FieldCipher, r: Record<string, unknown>): Buffer | null {
  return r.imagePng === undefined || r.imagePng === null || r.imagePng === ''
    ? null
    : cipher.seal('seal_registrations', 'image_png', String(r.residentId), Buffer.from(String(r.imagePng), 'base64'));
}

/** One row in COPY binary format: the columns of COLUMNS[kind], as copyLine writes them in text. */
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const date = (v: unknown): string | null => (typeof v === 'string' ? v : null);

// (no closures made per row: under tsx each one is also named by a defineProperty call)
function binaryRow(w: CopyBinaryWriter, cipher: FieldCipher, kind: RowKind, r: Record<string, unknown>): void {
  switch (kind) {
    case 'household': {
      const id = String(r.id);
      w.row(3).text(id).bytea(cipher.sealText('households', 'address', id, String(r.address))).text(str(r.headId));
      return;
    }
    case 'resident': {
      const id = String(r.id);
      w.row(10).text(id).text(str(r.householdId))
        .bytea(sealGroup(cipher, 'names', id, r)).bytea(sealGroup(cipher, 'attributes', id, r))
        .date(date(r.residentSince)).date(date(r.addressSince)).date(date(r.notifiedOn))
        .text(str(r.status)).textArray(Array.isArray(r.flags) ? (r.flags as string[]) : []).date(date(r.removedOn));
      return;
    }
    case 'card-link':
      w.row(3).text(String(r.serial).toLowerCase()).text(str(r.residentId)).date(date(r.validFrom));
      return;
    case 'seal':
      w.row(6).text(str(r.residentId)).text(str(r.sealNumber)).bytea(sealImage(cipher, r))
        .text(str(r.status ?? 'active')).date(date(r.registeredOn)).date(date(r.abolishedOn));
  }
}

/**
 * A checked row as the JSON its INSERT reads: personal fields sealed,
 * `type` and `myNumber` dropped (never stored). Card links carry nothing personal.
 */
function jsonRow(cipher: FieldCipher, kind: RowKind, row: Record<string, unknown>, line: string): string {
  if (kind === 'card-link') return line;
  const { type: _t, myNumber: _m, ...rest } = row;
  if (kind === 'household') return JSON.stringify(sealHouseholdRow(cipher, rest as { id: string; address: string }));
  if (kind === 'resident') return JSON.stringify(sealResidentRow(cipher, rest));
  return JSON.stringify({ ...rest, imagePng: sealSealImage(cipher, String(rest.residentId), rest.imagePng) });
}

/**
 * The checked lines of one chunk (all of one kind), sealed and encoded: COPY binary or
 * text (the bytes COPY takes) or a JSON array. `rows` are the lines already parsed (the
 * calling thread has them); a worker thread parses the lines again.
 */
export function encodeChunk(cipher: FieldCipher, kind: RowKind, format: 'copy' | 'copy-binary', lines: readonly string[], rows?: readonly Record<string, unknown>[]): Buffer;
export function encodeChunk(cipher: FieldCipher, kind: RowKind, format: ChunkFormat, lines: readonly string[], rows?: readonly Record<string, unknown>[]): string | Buffer;
export function encodeChunk(cipher: FieldCipher, kind: RowKind, format: ChunkFormat, lines: readonly string[], rows?: readonly Record<string, unknown>[]): string | Buffer {
  const row = (i: number) => rows?.[i] ?? (JSON.parse(lines[i]!) as Record<string, unknown>);
  if (format === 'json') return `[${lines.map((l, i) => jsonRow(cipher, kind, row(i), l)).join(',')}]`;
  // the lines' length is about the rows' size in binary (envelopes and images raw, base64 and JSON gone); the writer grows past it
  let size = 64;
  for (const l of lines) size += l.length;
  const chunk = new CopyChunk(cipher, kind, format, size + (size >> 1));
  for (let i = 0; i < lines.length; i++) chunk.add(row(i));
  // the bytes COPY takes, made here: in a sealing thread this is off the main thread too
  return chunk.finish();
}

/**
 * One COPY chunk (binary or text) built row by row: the reading thread seals and
 * encodes each row as soon as it is checked, instead of a whole chunk at once (a
 * block of ≈ 0.1 s per 5,000 residents during which it could not answer the server
 * that finished the previous chunk).
 */
export class CopyChunk {
  #binary: CopyBinaryWriter | null;
  #text = '';
  /** Rows added. */
  rows = 0;

  constructor(
    private readonly cipher: FieldCipher,
    readonly kind: RowKind,
    format: 'copy' | 'copy-binary',
    sizeHint = 1 << 18,
  ) {
    this.#binary = format === 'copy-binary' ? new CopyBinaryWriter(sizeHint) : null;
  }

  /** A checked row, sealed and appended. */
  add(row: Record<string, unknown>): void {
    if (this.#binary) binaryRow(this.#binary, this.cipher, this.kind, row);
    else this.#text += `${copyLine(this.cipher, this.kind, row)}\n`;
    this.rows++;
  }

  /** The bytes COPY takes; the chunk is not used after. */
  finish(): Buffer {
    return this.#binary ? this.#binary.finish() : Buffer.from(this.#text, 'utf8');
  }
}
