/*
 * COPY's binary format (`COPY … FROM STDIN WITH (FORMAT binary)`, PostgreSQL docs,
 * "Binary Format"): the rows of a full load as the server's receive functions read
 * them. Against the text format, an envelope or a 印影 image goes in as its raw bytes
 * instead of twice as many hex digits that the server then decodes again, and
 * nothing needs escaping. The price: the server no longer parses dates, so whatever
 * its date input would refuse must be refused before a row gets here
 * (`storableDate`, checked with each row in full-load.ts).
 *
 * Only the types the replica's load uses (and the integers, for completeness):
 * text (UTF-8), bytea, date, text[], int4, int8, NULL.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** pg_type.oid of text: an array's element type must match the column's exactly. */
const TEXT_OID = 25;
/** 2000-01-01, PostgreSQL's date epoch, in days since 1970-01-01. */
const PG_EPOCH_DAYS = 10_957;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

const digit = (s: string, i: number): number => s.charCodeAt(i) - 48;

/**
 * A `YYYY-MM-DD` already checked to be a calendar date (schemas.ts isValidDate) as
 * PostgreSQL's day number (days since 2000-01-01).
 */
export function pgDateDays(s: string): number {
  const y = digit(s, 0) * 1000 + digit(s, 1) * 100 + digit(s, 2) * 10 + digit(s, 3);
  const m = digit(s, 5) * 10 + digit(s, 6);
  const d = digit(s, 8) * 10 + digit(s, 9);
  return daysFromCivil(y, m, d) - PG_EPOCH_DAYS;
}

/**
 * Whether PostgreSQL's date input takes a `YYYY-MM-DD` that is a calendar date: every
 * year 0001-9999 is within its range (4713 BC to 5874897 AD); year 0000 does not exist
 * in its AD/BC reckoning ("date/time field value out of range", SQLSTATE 22008).
 */
export function storableDate(s: string): boolean {
  return !s.startsWith('0000');
}

/** The SQLSTATE PostgreSQL's date input gives a date it cannot store; a row-level refusal names it as the text path did. */
export const DATE_OUT_OF_RANGE = '22008';

/**
 * One COPY binary stream: the header, then `row()` and one value call per column,
 * then `finish()`. Grows as needed; its memory is its own (never Node's shared
 * Buffer pool), so a sealing thread can transfer it.
 */
export class CopyBinaryWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(sizeHint = 1 << 16) {
    this.#buf = Buffer.allocUnsafeSlow(Math.max(sizeHint, 64));
    SIGNATURE.copy(this.#buf, 0);
    this.#i32(0, 11); // flags: no OIDs
    this.#i32(0, 15); // no header extension
    this.#pos = 19;
  }

  /** Big-endian int32 by byte stores: Buffer#writeInt32BE's argument checks cost more than the store, millions of times per load. */
  #i32(v: number, at: number): void {
    const buf = this.#buf;
    buf[at] = v >>> 24;
    buf[at + 1] = v >>> 16;
    buf[at + 2] = v >>> 8;
    buf[at + 3] = v;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Starts a row of `columns` values. */
  row(columns: number): this {
    this.#ensure(2);
    this.#buf[this.#pos] = columns >>> 8;
    this.#buf[this.#pos + 1] = columns;
    this.#pos += 2;
    return this;
  }

  null(): this {
    this.#ensure(4);
    this.#i32(-1, this.#pos);
    this.#pos += 4;
    return this;
  }

  /** UTF-8 bytes; the server still checks the encoding (a NUL or invalid UTF-8 is refused there, as in text COPY). */
  text(s: string | null | undefined): this {
    if (s === null || s === undefined) return this.null();
    this.#ensure(4 + s.length * 3);
    const at = this.#pos;
    this.#i32(this.#utf8(s, at + 4), at);
    return this;
  }

  /** Writes `s` at `at`, moves past it, returns its byte length. ASCII (ids, codes) byte by byte: cheaper than a native call for a few characters. */
  #utf8(s: string, at: number): number {
    const buf = this.#buf;
    let n = 0;
    if (s.length <= 32) {
      for (; n < s.length; n++) {
        const c = s.charCodeAt(n);
        if (c >= 0x80) break;
        buf[at + n] = c;
      }
    }
    if (n < s.length) n = buf.write(s, at, 'utf8');
    this.#pos = at + n;
    return n;
  }

  bytea(b: Uint8Array | null | undefined): this {
    if (!b) return this.null();
    this.#ensure(4 + b.length);
    this.#i32(b.length, this.#pos);
    this.#buf.set(b, this.#pos + 4);
    this.#pos += 4 + b.length;
    return this;
  }

  /** A `YYYY-MM-DD` the caller checked with isValidDate and storableDate. */
  date(s: string | null | undefined): this {
    if (s === null || s === undefined) return this.null();
    this.#ensure(8);
    this.#i32(4, this.#pos);
    this.#i32(pgDateDays(s), this.#pos + 4);
    this.#pos += 8;
    return this;
  }

  int4(n: number | null | undefined): this {
    if (n === null || n === undefined) return this.null();
    this.#ensure(8);
    this.#i32(4, this.#pos);
    this.#i32(n, this.#pos + 4);
    this.#pos += 8;
    return this;
  }

  int8(n: number | bigint | null | undefined): this {
    if (n === null || n === undefined) return this.null();
    this.#ensure(12);
    this.#i32(8, this.#pos);
    this.#buf.writeBigInt64BE(BigInt(n), this.#pos + 4);
    this.#pos += 12;
    return this;
  }

  /** A one-dimensional text[] without NULL elements (lower bound 1); empty: no dimensions, as '{}' reads. */
  textArray(items: readonly string[] | null | undefined): this {
    if (!items) return this.null();
    const start = this.#pos;
    this.#ensure(4 + 20);
    this.#i32(items.length ? 1 : 0, start + 4); // dimensions
    this.#i32(0, start + 8); // no NULL elements
    this.#i32(TEXT_OID, start + 12);
    this.#pos = start + 16;
    if (items.length) {
      this.#i32(items.length, start + 16);
      this.#i32(1, start + 20);
      this.#pos = start + 24;
    }
    for (const s of items) {
      this.#ensure(4 + s.length * 3);
      const at = this.#pos;
      this.#i32(this.#utf8(s, at + 4), at);
    }
    this.#i32(this.#pos - start - 4, start);
    return this;
  }

  /** The stream with its trailer: the bytes COPY takes. The writer is not used after. */
  finish(): Buffer {
    this.#ensure(2);
    this.#buf[this.#pos] = 0xff; // int16 -1
    this.#buf[this.#pos + 1] = 0xff;
    this.#pos += 2;
    return this.#buf.subarray(0, this.#pos);
  }
}
