import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';
import { KonbiniError } from '@konbini/protocol';

/*
 * Personal fields of the replica at rest (issue 5 item 7): AES-256-GCM under the
 * city's data key. One stored value (bytea) = version 0x01 ‖ 96-bit random nonce ‖
 * ciphertext ‖ 128-bit tag. The associated data binds the value to its place:
 * "<table>\0<column>\0<row id>", so a ciphertext copied into another column or
 * another resident's row fails its tag instead of printing someone else's data.
 */

const VERSION = 0x01;
const NONCE = 12;
const TAG = 16;
export const ENVELOPE_OVERHEAD = 1 + NONCE + TAG;

/*
 * Nonces come from the CSPRNG in blocks: one randomBytes call per value costs a
 * third of a seal (a full load seals ~a million values). Each 12 bytes of the block
 * are handed out once, then the block is refilled.
 */
const NONCE_BLOCK = 12 * 4096;
let noncePool = Buffer.alloc(0);
let nonceAt = NONCE_BLOCK;

function nextNonce(): Buffer {
  if (nonceAt + NONCE > noncePool.length) {
    noncePool = randomFillSync(Buffer.allocUnsafe(NONCE_BLOCK));
    nonceAt = 0;
  }
  const n = noncePool.subarray(nonceAt, nonceAt + NONCE);
  nonceAt += NONCE;
  return n;
}

export class FieldCipher {
  // a KeyObject: OpenSSL gets the key once, not once per value (a full load seals millions)
  readonly #key: KeyObject;
  readonly #macKey: Buffer;

  constructor(dataKey: Buffer) {
    if (dataKey.length !== 32) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'data-key-length' });
    // a private copy: the caller's buffer may be wiped
    this.#key = createSecretKey(Buffer.from(dataKey));
    this.#macKey = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'konbini replica mac v1', 32));
  }

  /**
   * The data key, for this process's own sealing threads only (sync/seal-workers.ts,
   * handed over in memory, never written anywhere): a copy the caller wipes. Null
   * for a subclass (a benchmark's baseline), which a worker could not reproduce.
   */
  static keyForWorkers(cipher: FieldCipher): Buffer | null {
    if (Object.getPrototypeOf(cipher) !== FieldCipher.prototype) return null;
    return cipher.#key.export();
  }

  /**
   * A keyed digest (HMAC-SHA-256, hex) of something derived from personal data, e.g.
   * the content hash of a 異動: equal inputs compare equal, but a guess cannot be
   * confirmed against the stored value without the data key.
   */
  mac(purpose: string, value: string): string {
    return createHmac('sha256', this.#macKey).update(`${purpose}\0${value}`).digest('hex');
  }

  /** Never show the key (util.inspect, JSON, logs). */
  toJSON(): string {
    return '[FieldCipher]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[FieldCipher]';
  }

  seal(table: string, column: string, rowId: string, plain: Buffer | string): Buffer {
    const nonce = nextNonce();
    const c = createCipheriv('aes-256-gcm', this.#key, nonce);
    c.setAAD(aadScratch(table, column, rowId));
    const body = typeof plain === 'string' ? c.update(plain, 'utf8') : c.update(plain);
    c.final(); // GCM is a stream mode: final() adds no bytes
    // one allocation for the envelope: version ‖ nonce ‖ ciphertext ‖ tag
    const out = Buffer.allocUnsafe(1 + NONCE + body.length + TAG);
    out[0] = VERSION;
    nonce.copy(out, 1);
    body.copy(out, 1 + NONCE);
    c.getAuthTag().copy(out, 1 + NONCE + body.length);
    return out;
  }

  open(table: string, column: string, rowId: string, envelope: Buffer): Buffer {
    if (envelope.length < ENVELOPE_OVERHEAD || envelope[0] !== VERSION) throw unreadable(table, column, rowId, 'format');
    const d = createDecipheriv('aes-256-gcm', this.#key, envelope.subarray(1, 1 + NONCE));
    d.setAAD(aad(table, column, rowId));
    d.setAuthTag(envelope.subarray(envelope.length - TAG));
    try {
      return Buffer.concat([d.update(envelope.subarray(1 + NONCE, envelope.length - TAG)), d.final()]);
    } catch (err) {
      throw unreadable(table, column, rowId, 'tag', err);
    }
  }

  sealText(table: string, column: string, rowId: string, text: string): Buffer;
  sealText(table: string, column: string, rowId: string, text: string | null | undefined): Buffer | null;
  sealText(table: string, column: string, rowId: string, text: string | null | undefined): Buffer | null {
    return text === null || text === undefined ? null : this.seal(table, column, rowId, text);
  }

  openText(table: string, column: string, rowId: string, envelope: Buffer): string;
  openText(table: string, column: string, rowId: string, envelope: Buffer | null | undefined): string | null;
  openText(table: string, column: string, rowId: string, envelope: Buffer | null | undefined): string | null {
    return envelope === null || envelope === undefined ? null : this.open(table, column, rowId, envelope).toString('utf8');
  }

  sealJson(table: string, column: string, rowId: string, value: unknown): Buffer | null {
    return value === null || value === undefined ? null : this.seal(table, column, rowId, JSON.stringify(value));
  }

  openJson<T>(table: string, column: string, rowId: string, envelope: Buffer | null | undefined): T | null {
    return envelope === null || envelope === undefined ? null : (JSON.parse(this.open(table, column, rowId, envelope).toString('utf8')) as T);
  }
}

function aad(table: string, column: string, rowId: string): Buffer {
  return Buffer.from(`${table}\0${column}\0${rowId}`, 'utf8');
}

/*
 * The associated data of a seal, written into one buffer reused for every seal of
 * this thread: setAAD hands it to OpenSSL at once, so nothing keeps it. Saves an
 * allocation per value (a full load seals ~11 per resident).
 */
let scratch = Buffer.allocUnsafe(256);
function aadScratch(table: string, column: string, rowId: string): Buffer {
  const need = (table.length + column.length + rowId.length) * 3 + 2; // UTF-8: at most 3 bytes per UTF-16 unit
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
  let at = scratch.write(table, 0, 'utf8');
  scratch[at++] = 0;
  at += scratch.write(column, at, 'utf8');
  scratch[at++] = 0;
  at += scratch.write(rowId, at, 'utf8');
  return scratch.subarray(0, at);
}

/** Ids only in the detail: never the value. */
function unreadable(table: string, column: string, rowId: string, reason: string, cause?: unknown): KonbiniError {
  return new KonbiniError('REPLICA_FIELD_UNREADABLE', { table, column, rowId, reason }, cause ? { cause } : undefined);
}

/** bytea as the drivers return it: PGlite a Uint8Array, pg a Buffer; the hex text form for safety. */
export function asBytes(v: unknown): Buffer | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string' && v.startsWith('\\x')) return Buffer.from(v.slice(2), 'hex');
  throw new KonbiniError('REPLICA_FIELD_UNREADABLE', { reason: 'not-bytea' });
}
