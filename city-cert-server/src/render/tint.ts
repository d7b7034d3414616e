/**
 * 地紋 (background tint) for the front of every page: rows of the city's name in
 * micro text (about 1 mm high: a copier smears it, a loupe reads it) and the けん制文字
 * 「複写」 drawn in coarse dots of the same light tone, so it hardly shows on the
 * original but stands out on a photocopy, where the fine micro text fades and the
 * coarse dots stay.
 *
 * Drawn as one small raster tile per city (a 4-bit grey PNG made once per process
 * from the font's outlines by the scanline filler below) and placed over the page:
 * an image is no text, so text extraction (pdftotext) reads exactly what it read
 * without the tint, and pdfkit embeds the tile once per document.
 */
import * as zlib from 'node:zlib';
import { parsedFont } from './fonts.js';

/** Tile size in points and its resolution. */
export const TINT_TILE_PT = { width: 216, height: 144 } as const;
const DPI = 300;
const PX_PER_PT = DPI / 72;
/** Micro text: 3 pt glyphs on 4 pt rows. */
const MICRO_PT = 3;
const MICRO_ROW_PT = 4;
/** けん制文字: 38 pt glyphs filled with 2×2-pixel dots every 4 pixels. */
const WARNING_TEXT = '複写';
const WARNING_PT = 38;
/** Grey of every mark, 0 (black) to 15 (white): light enough that the certificate stays easy to read. */
export const TINT_LEVEL = 12;

interface FontLike {
  unitsPerEm: number;
  layout(text: string): { glyphs: { path: { commands: { command: string; args: number[] }[] } }[]; positions: { xAdvance: number; xOffset: number; yOffset: number }[] };
}

type Edge = [x0: number, y0: number, x1: number, y1: number];

/** Outline edges of `text` at `sizePx`, baseline at (x, y) in pixel space (y down). */
function textEdges(font: FontLike, text: string, sizePx: number, x: number, y: number): { edges: Edge[]; advance: number } {
  const scale = sizePx / font.unitsPerEm;
  const run = font.layout(text);
  const edges: Edge[] = [];
  let pen = 0;
  run.glyphs.forEach((g, i) => {
    const pos = run.positions[i]!;
    const ox = x + (pen + pos.xOffset) * scale;
    const oy = y - pos.yOffset * scale;
    const P = (px: number, py: number): [number, number] => [ox + px * scale, oy - py * scale];
    let start: [number, number] | null = null;
    let cur: [number, number] = [0, 0];
    const line = (to: [number, number]) => {
      edges.push([cur[0], cur[1], to[0], to[1]]);
      cur = to;
    };
    for (const c of g.path.commands) {
      const a = c.args;
      if (c.command === 'moveTo') {
        if (start) line(start);
        cur = P(a[0]!, a[1]!);
        start = cur;
      } else if (c.command === 'lineTo') line(P(a[0]!, a[1]!));
      else if (c.command === 'quadraticCurveTo') {
        const [x0, y0] = cur;
        const [cx, cy] = P(a[0]!, a[1]!);
        const [x1, y1] = P(a[2]!, a[3]!);
        for (let k = 1; k <= 6; k++) {
          const t = k / 6;
          const u = 1 - t;
          line([u * u * x0 + 2 * u * t * cx + t * t * x1, u * u * y0 + 2 * u * t * cy + t * t * y1]);
        }
      } else if (c.command === 'bezierCurveTo') {
        const [x0, y0] = cur;
        const [c1x, c1y] = P(a[0]!, a[1]!);
        const [c2x, c2y] = P(a[2]!, a[3]!);
        const [x1, y1] = P(a[4]!, a[5]!);
        for (let k = 1; k <= 8; k++) {
          const t = k / 8;
          const u = 1 - t;
          line([u * u * u * x0 + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t * t * t * x1, u * u * u * y0 + 3 * u * u * t * c1y + 3 * u * t * t * c2y + t * t * t * y1]);
        }
      } else if (c.command === 'closePath' && start) {
        line(start);
        start = null;
      }
    }
    if (start) line(start);
    pen += pos.xAdvance;
  });
  return { edges, advance: pen * scale };
}

/** Non-zero winding fill of the edges into a coverage mask (1 = inside), sampled at pixel centres. */
function fill(mask: Uint8Array, w: number, h: number, edges: Edge[]): void {
  const xs: { x: number; d: number }[] = [];
  let top = Infinity;
  let bottom = -Infinity;
  for (const e of edges) {
    top = Math.min(top, e[1], e[3]);
    bottom = Math.max(bottom, e[1], e[3]);
  }
  // only the rows the outlines reach
  for (let row = Math.max(0, Math.floor(top)); row < Math.min(h, Math.ceil(bottom) + 1); row++) {
    const sy = row + 0.5;
    xs.length = 0;
    for (const [x0, y0, x1, y1] of edges) {
      if (y0 === y1) continue;
      const up = y0 < y1;
      const ya = up ? y0 : y1;
      const yb = up ? y1 : y0;
      if (sy < ya || sy >= yb) continue;
      xs.push({ x: x0 + ((sy - y0) / (y1 - y0)) * (x1 - x0), d: up ? 1 : -1 });
    }
    if (xs.length < 2) continue;
    xs.sort((a, b) => a.x - b.x);
    let wind = 0;
    for (let i = 0; i < xs.length - 1; i++) {
      wind += xs[i]!.d;
      if (wind === 0) continue;
      const from = Math.max(0, Math.ceil(xs[i]!.x - 0.5));
      const to = Math.min(w - 1, Math.floor(xs[i + 1]!.x - 0.5));
      for (let x = from; x <= to; x++) mask[row * w + x] = 1;
    }
  }
}

/** zlib's CRC-32 where Node has it (20.15+), else the bitwise one. */
const nativeCrc32 = (zlib as unknown as { crc32?: (data: Buffer) => number }).crc32;

function crc32(buf: Buffer): number {
  if (nativeCrc32) return nativeCrc32(buf) >>> 0;
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A 4-bit greyscale PNG of `levels` (one 0-15 value per pixel). */
export function grey4Png(levels: Uint8Array, w: number, h: number): Buffer {
  const stride = Math.ceil(w / 2);
  const raw = Buffer.alloc((stride + 1) * h);
  for (let y = 0; y < h; y++) {
    const o = y * (stride + 1);
    raw[o] = 0;
    for (let x = 0; x < w; x++) {
      const v = levels[y * w + x]! & 15;
      raw[o + 1 + (x >> 1)] |= x & 1 ? v : v << 4;
    }
  }
  return pngFile(w, h, 4, zlib.deflateSync(raw, { level: 9 }));
}

/** A greyscale PNG file around already deflated, filtered rows. */
export function pngFile(w: number, h: number, bitDepth: 1 | 2 | 4 | 8, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = 0; // greyscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** The tile's pixels: 15 = paper, TINT_LEVEL = a mark. */
export function tintTilePixels(cityName: string): { levels: Uint8Array; width: number; height: number } {
  const font = parsedFont('IPAexGothic') as unknown as FontLike;
  const width = Math.round(TINT_TILE_PT.width * PX_PER_PT);
  const height = Math.round(TINT_TILE_PT.height * PX_PER_PT);
  // けん制文字 mask, centred
  const warn = new Uint8Array(width * height);
  const wPx = WARNING_PT * PX_PER_PT;
  const probe = textEdges(font, WARNING_TEXT, wPx, 0, 0).advance;
  fill(warn, width, height, textEdges(font, WARNING_TEXT, wPx, (width - probe) / 2, height / 2 + wPx * 0.36).edges);
  // micro text rows, each shifted so the columns do not line up
  const micro = new Uint8Array(width * height);
  const mPx = MICRO_PT * PX_PER_PT;
  const unit = `${cityName}　`;
  const unitAdvance = textEdges(font, unit, mPx, 0, 0).advance;
  const rows = Math.floor(height / (MICRO_ROW_PT * PX_PER_PT));
  for (let r = 0; r < rows; r++) {
    const base = (r + 1) * MICRO_ROW_PT * PX_PER_PT - mPx * 0.2;
    const shift = ((r * 0.37) % 1) * unitAdvance;
    const edges: Edge[] = [];
    for (let x = -shift; x < width; x += unitAdvance) edges.push(...textEdges(font, unit, mPx, x, base).edges);
    fill(micro, width, height, edges);
  }
  const levels = new Uint8Array(width * height).fill(15);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (warn[i]) {
        // coarse dots inside the warning word (no micro text there)
        if (x % 4 < 2 && y % 4 < 2) levels[i] = TINT_LEVEL;
      } else if (micro[i]) levels[i] = TINT_LEVEL;
    }
  }
  return { levels, width, height };
}

const tiles = new Map<string, string>();

/** The tile as a data URL, made once per city name per process. */
export function tintTile(cityName: string): string {
  let url = tiles.get(cityName);
  if (!url) {
    const { levels, width, height } = tintTilePixels(cityName);
    url = `data:image/png;base64,${grey4Png(levels, width, height).toString('base64')}`;
    tiles.set(cityName, url);
  }
  return url;
}

/** pdfmake `background` nodes: the tile repeated over the whole page. */
export function tintBackground(imageName: string, page: { width: number; height: number }): object[] {
  const nodes: object[] = [];
  for (let y = 0; y < page.height; y += TINT_TILE_PT.height) {
    for (let x = 0; x < page.width; x += TINT_TILE_PT.width) {
      nodes.push({ image: imageName, width: TINT_TILE_PT.width, height: TINT_TILE_PT.height, absolutePosition: { x, y } });
    }
  }
  return nodes;
}
