import { inflateSync } from 'node:zlib';

/*
 * The 印影 in a sync file must be a PNG the certificate renderer can draw. Checked
 * at sync time, so a bad image is refused with its line instead of being applied
 * and failing later at the kiosk (the renderer answers INTERNAL for it).
 *
 * Checked: the 8-byte signature; IHDR first, 13 bytes, width and height within
 * 1..MAX_SIDE, a bit depth allowed for the colour type, compression and filter
 * method 0, interlace 0 or 1; every chunk within the file with a correct CRC;
 * PLTE present for an indexed image; at least one IDAT; IEND last, nothing after
 * it; the IDAT stream inflates to exactly the size the header announces
 * (non-interlaced images; bounded by that size, so a zip bomb stops early).
 */

/** A 印影 is drawn 23 mm wide; 2,000 px is ~2,200 dpi. */
export const MAX_SIDE = 2000;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Allowed bit depths per colour type (PNG spec, table 11.1). */
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Why these bytes are not a usable PNG, or undefined when they are. The reason never repeats the bytes. */
export function pngProblem(png: Buffer): string | undefined {
  if (png.length < SIGNATURE.length + 12 + 13 || !png.subarray(0, 8).equals(SIGNATURE)) return 'not a PNG (signature)';
  let at = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colour = 0;
  let interlace = 0;
  let sawPlte = false;
  let sawIend = false;
  const idat: Buffer[] = [];
  for (let n = 0; at < png.length; n++) {
    if (sawIend) return 'PNG: data after IEND';
    if (at + 12 > png.length) return 'PNG: truncated chunk';
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (len > 0x7fffffff || at + 12 + len > png.length) return 'PNG: truncated chunk';
    if (!/^[A-Za-z]{4}$/.test(type)) return 'PNG: bad chunk type';
    if (crc32(png, at + 4, at + 8 + len) !== png.readUInt32BE(at + 8 + len)) return `PNG: ${type} CRC mismatch`;
    const data = png.subarray(at + 8, at + 8 + len);
    if (n === 0) {
      if (type !== 'IHDR' || len !== 13) return 'PNG: IHDR is not the first chunk';
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8]!;
      colour = data[9]!;
      interlace = data[12]!;
      if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) return `PNG: width and height must be 1..${MAX_SIDE}`;
      if (!DEPTHS[colour]?.includes(depth)) return 'PNG: bad colour type or bit depth';
      if (data[10] !== 0 || data[11] !== 0 || interlace > 1) return 'PNG: bad compression, filter or interlace method';
    } else if (type === 'IHDR') {
      return 'PNG: IHDR twice';
    } else if (type === 'PLTE') {
      if (len === 0 || len % 3 !== 0 || len > 768) return 'PNG: bad PLTE';
      sawPlte = true;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      sawIend = true;
    } else if ((type.charCodeAt(0) & 0x20) === 0) {
      return 'PNG: unknown critical chunk';
    }
    at += 12 + len;
  }
  if (!sawIend) return 'PNG: no IEND (truncated)';
  if (!idat.length) return 'PNG: no image data (IDAT)';
  if (colour === 3 && !sawPlte) return 'PNG: indexed image without PLTE';
  if (interlace === 0) {
    const expected = height * (1 + Math.ceil((width * CHANNELS[colour]! * depth) / 8));
    let raw: Buffer;
    try {
      raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 });
    } catch {
      return 'PNG: image data does not inflate to the size in IHDR';
    }
    if (raw.length !== expected) return 'PNG: image data does not match the size in IHDR';
    for (let y = 0, row = expected / height; y < height; y++) if (raw[y * row]! > 4) return 'PNG: bad row filter';
  }
  return undefined;
}

/** The row error for a base64 `imagePng` field, or undefined when it is a usable PNG. */
export function checkPngField(line: number, field: string, b64: unknown): { line: number; field: string; reason: string } | undefined {
  if (typeof b64 !== 'string') return undefined; // absent or the schema's business
  const problem = pngProblem(Buffer.from(b64, 'base64'));
  return problem ? { line, field, reason: problem } : undefined;
}
