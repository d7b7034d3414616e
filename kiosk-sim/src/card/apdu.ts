/** ISO/IEC 7816-4 command APDU parsing (short and extended length) and status words. */

export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  MEMORY_FAILURE: 0x6581,
  SECURITY_NOT_SATISFIED: 0x6982,
  AUTH_METHOD_BLOCKED: 0x6983,
  REF_DATA_UNUSABLE: 0x6984,
  COMMAND_NOT_ALLOWED_NO_EF: 0x6986,
  WRONG_DATA: 0x6a80,
  FILE_NOT_FOUND: 0x6a82,
  WRONG_P1P2: 0x6a86,
  REF_DATA_NOT_FOUND: 0x6a88,
  WRONG_OFFSET: 0x6b00,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  NO_PRECISE_DIAGNOSIS: 0x6f00,
} as const;

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (Nc bytes, possibly empty). */
  data: Buffer;
  /** Ne: maximum response length expected; 0 when Le is absent. Short Le 00 = 256, extended 0000 = 65536. */
  ne: number;
  extended: boolean;
}

/** Parses a command APDU; returns null when the length fields do not match the bytes. Never throws. */
export function parseCommandApdu(b: Buffer): CommandApdu | null {
  if (b.length < 4) return null;
  const head = { cla: b[0], ins: b[1], p1: b[2], p2: b[3] };
  const n = b.length;
  if (n === 4) return { ...head, data: Buffer.alloc(0), ne: 0, extended: false };
  const b4 = b[4];
  if (n === 5) return { ...head, data: Buffer.alloc(0), ne: b4 === 0 ? 256 : b4, extended: false };
  if (b4 !== 0) {
    // short Lc
    const lc = b4;
    if (n === 5 + lc) return { ...head, data: Buffer.from(b.subarray(5, 5 + lc)), ne: 0, extended: false };
    if (n === 6 + lc) {
      const le = b[5 + lc];
      return { ...head, data: Buffer.from(b.subarray(5, 5 + lc)), ne: le === 0 ? 256 : le, extended: false };
    }
    return null;
  }
  // extended: 00 followed by two bytes
  if (n < 7) return null;
  const x = b.readUInt16BE(5);
  if (n === 7) return { ...head, data: Buffer.alloc(0), ne: x === 0 ? 65536 : x, extended: true };
  if (x === 0) return null; // extended Lc must not be zero
  const lc = x;
  if (n === 7 + lc) return { ...head, data: Buffer.from(b.subarray(7, 7 + lc)), ne: 0, extended: true };
  if (n === 9 + lc) {
    const le = b.readUInt16BE(7 + lc);
    return { ...head, data: Buffer.from(b.subarray(7, 7 + lc)), ne: le === 0 ? 65536 : le, extended: true };
  }
  return null;
}

/** Builds `data || SW1 SW2`. */
export function response(sw: number, data?: Buffer): Buffer {
  const d = data ?? Buffer.alloc(0);
  const out = Buffer.alloc(d.length + 2);
  d.copy(out, 0);
  out.writeUInt16BE(sw & 0xffff, d.length);
  return out;
}

/** Builds a command APDU with short lengths when they fit, extended otherwise. `ne` 0 = no Le. */
export function commandApdu(cla: number, ins: number, p1: number, p2: number, data?: Buffer, ne = 0): Buffer {
  const d = data ?? Buffer.alloc(0);
  const extended = d.length > 255 || ne > 256;
  const parts: Buffer[] = [Buffer.from([cla, ins, p1, p2])];
  if (!extended) {
    if (d.length > 0) parts.push(Buffer.from([d.length]), d);
    if (ne > 0) parts.push(Buffer.from([ne === 256 ? 0 : ne]));
  } else {
    parts.push(Buffer.from([0]));
    if (d.length > 0) {
      const lc = Buffer.alloc(2);
      lc.writeUInt16BE(d.length);
      parts.push(lc, d);
    }
    if (ne > 0) {
      const le = Buffer.alloc(2);
      le.writeUInt16BE(ne === 65536 ? 0 : ne);
      parts.push(le);
    }
  }
  return Buffer.concat(parts);
}

export function swOf(resp: Buffer): number {
  return resp.length >= 2 ? resp.readUInt16BE(resp.length - 2) : -1;
}

export function dataOf(resp: Buffer): Buffer {
  return resp.subarray(0, Math.max(0, resp.length - 2));
}

export function hex(b: Buffer | number[]): string {
  return Buffer.from(b).toString('hex').toUpperCase();
}
