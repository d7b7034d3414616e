import { open } from 'node:fs/promises';

/**
 * What a kiosk can print: characters the certificate font (IPAmj Mincho) has a
 * glyph for, read from the font's own cmap, plus ideographic variation selectors
 * (U+E0100-E01EF) directly after a base character. Anything else in a name or an
 * address means the certificate cannot be issued at a kiosk (UNPRINTABLE_CHARACTERS).
 *
 * Only the table directory and the cmap are read, not the whole 46 MB file.
 */
export const DEFAULT_CERT_FONT = '/usr/share/fonts/truetype/ipamj/ipamjm.ttf';

export interface Charset {
  has(codePoint: number): boolean;
  /** Number of code points covered, for diagnostics. */
  readonly size: number;
}

const IVS_FIRST = 0xe0100;
const IVS_LAST = 0xe01ef;

export function isIvsSelector(cp: number): boolean {
  return cp >= IVS_FIRST && cp <= IVS_LAST;
}

/** True when every character of `text` can be printed with the charset. */
export function isPrintable(text: string, charset: Charset): boolean {
  let previousIsBase = false;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (isIvsSelector(cp)) {
      if (!previousIsBase) return false;
      previousIsBase = false; // a second selector in a row selects nothing
      continue;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || !charset.has(cp)) return false;
    previousIsBase = true;
  }
  return true;
}

class RangeCharset implements Charset {
  readonly size: number;
  constructor(private readonly starts: Uint32Array, private readonly ends: Uint32Array) {
    let n = 0;
    for (let i = 0; i < starts.length; i++) n += ends[i]! - starts[i]! + 1;
    this.size = n;
  }
  has(cp: number): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cp < this.starts[mid]!) hi = mid - 1;
      else if (cp > this.ends[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** Builds a charset from explicit code points (tests, or a city's own allow-list). */
export function charsetOf(codePoints: Iterable<number>): Charset {
  return mergeRanges([...codePoints].map((c) => [c, c] as [number, number]));
}

function mergeRanges(ranges: [number, number][]): Charset {
  ranges.sort((a, b) => a[0] - b[0]);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const [s, e] of ranges) {
    const last = ends.length - 1;
    if (last >= 0 && s <= ends[last]! + 1) ends[last] = Math.max(ends[last]!, e);
    else {
      starts.push(s);
      ends.push(e);
    }
  }
  return new RangeCharset(Uint32Array.from(starts), Uint32Array.from(ends));
}

/** Code points with a real glyph (not .notdef) in a format 4 subtable. */
function format4(t: Buffer, ranges: [number, number][]): void {
  const segCount = t.readUInt16BE(6) / 2;
  const endAt = 14;
  const startAt = endAt + segCount * 2 + 2;
  const deltaAt = startAt + segCount * 2;
  const rangeAt = deltaAt + segCount * 2;
  for (let i = 0; i < segCount; i++) {
    const end = t.readUInt16BE(endAt + i * 2);
    const start = t.readUInt16BE(startAt + i * 2);
    const delta = t.readUInt16BE(deltaAt + i * 2);
    const rangeOffset = t.readUInt16BE(rangeAt + i * 2);
    if (start === 0xffff) continue;
    for (let c = start; c <= end; c++) {
      let glyph: number;
      if (rangeOffset === 0) glyph = (c + delta) & 0xffff;
      else {
        const at = rangeAt + i * 2 + rangeOffset + (c - start) * 2;
        if (at + 2 > t.length) continue;
        const g = t.readUInt16BE(at);
        glyph = g === 0 ? 0 : (g + delta) & 0xffff;
      }
      if (glyph !== 0) ranges.push([c, c]);
    }
  }
}

function format12(t: Buffer, ranges: [number, number][]): void {
  const groups = t.readUInt32BE(12);
  for (let i = 0; i < groups; i++) {
    const at = 16 + i * 12;
    let start = t.readUInt32BE(at);
    const end = t.readUInt32BE(at + 4);
    const glyph = t.readUInt32BE(at + 8);
    if (glyph === 0) start += 1; // the first code point of the group maps to .notdef
    if (start <= end) ranges.push([start, end]);
  }
}

/** Reads the Unicode cmap subtables of a TrueType/OpenType font file. */
export async function loadFontCharset(path: string = DEFAULT_CERT_FONT): Promise<Charset> {
  const fh = await open(path, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`font ${path}: short read`);
      return buf;
    };
    const head = await read(0, 12);
    const numTables = head.readUInt16BE(4);
    const dir = await read(12, numTables * 16);
    let cmapOffset = -1;
    let cmapLength = 0;
    for (let i = 0; i < numTables; i++) {
      if (dir.toString('latin1', i * 16, i * 16 + 4) === 'cmap') {
        cmapOffset = dir.readUInt32BE(i * 16 + 8);
        cmapLength = dir.readUInt32BE(i * 16 + 12);
      }
    }
    if (cmapOffset < 0) throw new Error(`font ${path}: no cmap table`);
    const cmap = await read(cmapOffset, cmapLength);
    const ranges: [number, number][] = [];
    const seen = new Set<number>();
    const n = cmap.readUInt16BE(2);
    for (let i = 0; i < n; i++) {
      const platform = cmap.readUInt16BE(4 + i * 8);
      const encoding = cmap.readUInt16BE(6 + i * 8);
      const offset = cmap.readUInt32BE(8 + i * 8);
      const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
      if (!unicode || seen.has(offset)) continue;
      seen.add(offset);
      const format = cmap.readUInt16BE(offset);
      if (format === 4) format4(cmap.subarray(offset, offset + cmap.readUInt16BE(offset + 2)), ranges);
      else if (format === 12) format12(cmap.subarray(offset, offset + cmap.readUInt32BE(offset + 4)), ranges);
    }
    if (ranges.length === 0) throw new Error(`font ${path}: no Unicode cmap subtable`);
    return mergeRanges(ranges);
  } finally {
    await fh.close();
  }
}
