/**
 * Font service: each font file is read and parsed once per process and the parsed
 * font is shared by every document rendered afterwards.
 *
 * Why: pdfkit builds a new fontkit font from the file bytes for every document, and
 * fontkit decodes tables lazily per font object, so IPAmj Mincho (46 MB, ~60k glyphs)
 * was re-read and re-decoded for each PDF (≈100 ms per page instead of ≈8 ms).
 *
 * How (public APIs only, no patching):
 * - fontkit's `registerFormat` lets a program add a font format. We register one
 *   format, `PreparsedFont`, that recognises a small handle (`KBFONT1:<name>`) and
 *   whose constructor returns the font object already parsed for that name.
 *   fontkit's own formats do not recognise the handle (their probes look for
 *   `true`/`OTTO`/`\0\1\0\0`, `ttcf`, `wOFF`, `wOF2` or a resource fork), so the
 *   handle reaches our format and nothing else changes for other fonts.
 * - Our own pdfmake instance has a virtual file system holding those handles, so
 *   pdfmake → pdfkit → `fontkit.create(handle)` returns the shared parsed font.
 *   pdfkit still makes a fresh `EmbeddedFont` (subset, widths, ToUnicode) per
 *   document; only the read-only parsed font is shared. fontkit work is synchronous,
 *   so documents rendered concurrently in one process never interleave inside it.
 * - The fontkit module is the very instance pdfkit loads (resolved from pdfkit's
 *   own location), not a second copy.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deflateSubsetProgramsFast, embedKeptPrograms, keepSubsetPrograms, type PdfKitDocumentRefs, type SubsettingFont } from './font-programs.js';
import { markSingleLines } from './single-line.js';
import { plainRun, type ShapedRun as PlainRun, type ShapingFont } from './plain-shaping.js';

/* ---- minimal shapes of the untyped libraries we use ---- */

export interface FontkitGlyph {
  id: number;
  codePoints: number[];
}
interface VarSelectorRecord {
  varSelector: number;
  defaultUVS?: Array<{ startUnicodeValue: number; additionalCount: number }>;
  nonDefaultUVS?: Array<{ unicodeValue: number; glyphID: number }>;
}
export interface FontkitFont {
  postscriptName: string;
  numGlyphs: number;
  hasGlyphForCodePoint(cp: number): boolean;
  glyphForCodePoint(cp: number): FontkitGlyph;
  glyphsForString(s: string): FontkitGlyph[];
  _cmapProcessor: { uvs?: { varSelectors: { toArray(): VarSelectorRecord[] } } };
}
interface Fontkit {
  create(buffer: Uint8Array, postscriptName?: string): FontkitFont;
  registerFormat(format: unknown): void;
}
interface VirtualFs {
  existsSync(name: string): boolean;
  readFileSync(name: string, options?: unknown): Buffer;
}
interface PdfKitDocument extends NodeJS.ReadableStream {
  end(): void;
}
interface PdfMakeOutput {
  getStream(): Promise<PdfKitDocument>;
  getBuffer(): Promise<Buffer>;
}
export interface PdfMake {
  virtualfs: VirtualFs;
  setFonts(fonts: Record<string, FontFamily>): void;
  setUrlAccessPolicy(cb: (url: string) => boolean): void;
  setLocalAccessPolicy(cb: (path: string) => boolean): void;
  createPdf(docDefinition: object, options?: object): PdfMakeOutput;
}
interface FontFamily {
  normal: string;
  bold: string;
  italics: string;
  bolditalics: string;
}

/* ---- the fonts ---- */

export const FONT_FILES = {
  /** IPAmj Mincho: MJ character set; every string carrying resident data. */
  IPAmj: '/usr/share/fonts/truetype/ipamj/ipamjm.ttf',
  /** IPAex Gothic: headings and field labels (fixed text only). */
  IPAexGothic: '/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf',
  /** IPAex Mincho: fixed body text (attestation, notes). */
  IPAexMincho: '/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf',
} as const;
export type FontName = keyof typeof FONT_FILES;

const HANDLE_PREFIX = 'KBFONT1:';

const req = createRequire(import.meta.url);
const pdfmakePath = req.resolve('pdfmake');
const pdfkitPath = createRequire(pdfmakePath).resolve('pdfkit');
const fontkit = createRequire(pdfkitPath)('fontkit') as Fontkit;

/** Process-wide registry (global symbol so two copies of this module share it). */
interface Registry {
  fonts: Map<string, FontkitFont>;
}
const REGISTRY_KEY = Symbol.for('konbini.render.preparsedFonts');
const globalWithRegistry = globalThis as unknown as Record<symbol, Registry | undefined>;

function registry(): Registry {
  let reg = globalWithRegistry[REGISTRY_KEY];
  if (!reg) {
    const fonts = new Map<string, FontkitFont>();
    const nameOf = (buffer: Uint8Array): string | undefined => {
      if (buffer.length > 64) return undefined;
      const text = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString('latin1');
      return text.startsWith(HANDLE_PREFIX) ? text.slice(HANDLE_PREFIX.length) : undefined;
    };
    /** A fontkit "format" whose instances are the fonts parsed at start-up. */
    class PreparsedFont {
      static probe(buffer: Uint8Array): boolean {
        const name = nameOf(buffer);
        return name !== undefined && fonts.has(name);
      }
      constructor(stream: { buffer: Uint8Array }) {
        const font = fonts.get(nameOf(stream.buffer) ?? '');
        if (!font) throw new Error('unknown preparsed font handle');
        // A constructor may return another object: `new PreparsedFont(..)` yields the shared font.
        return font as unknown as PreparsedFont;
      }
    }
    fontkit.registerFormat(PreparsedFont);
    reg = { fonts };
    globalWithRegistry[REGISTRY_KEY] = reg;
  }
  return reg;
}

function handleFor(name: string): Buffer {
  return Buffer.from(HANDLE_PREFIX + name, 'latin1');
}

/**
 * A small buffer that fontkit (and so pdfkit's `registerFont(name, buffer)`) turns
 * into the shared parsed font: for code that drives pdfkit directly (the bench's
 * bare-pdfkit baseline).
 */
export function fontHandle(name: FontName): Buffer {
  parsedFont(name);
  return handleFor(name);
}

/**
 * Fonts that only ever print the certificates' fixed wording (titles, labels,
 * attestations, notes): their shaped runs may be kept across documents. Resident
 * data (names, addresses, dates, the issuance line) is printed in IPAmj only, whose
 * runs are never kept beyond the document that needs them.
 */
const FIXED_TEXT_FONTS: readonly FontName[] = ['IPAexGothic', 'IPAexMincho'];

/** Load (once per process) and return the parsed font. */
export function parsedFont(name: FontName): FontkitFont {
  const reg = registry();
  let font = reg.fonts.get(name);
  if (!font) {
    font = fontkit.create(readFileSync(FONT_FILES[name]));
    keepDecodedGlyphs(font);
    keepCmapLookups(font);
    skipShapingOfPlainText(font);
    if (FIXED_TEXT_FONTS.includes(name)) {
      keepShapedRuns(font);
      keepSubsetPrograms(font as unknown as SubsettingFont, name);
    } else {
      deflateSubsetProgramsFast(font as unknown as SubsettingFont);
    }
    reg.fonts.set(name, font);
  }
  return font;
}

/* ---- work fontkit repeats for every document, done once per process ----
 *
 * pdfkit makes a fresh subset of each font for every document, and fontkit's
 * TrueType subsetter decodes every glyph it copies from the glyf table again
 * (`glyph._decode()`: header, contours, flags, coordinates) although the glyph
 * objects themselves are cached on the font. That decoding was a sixth of a
 * one-page certificate. The decoded outline of a glyph never changes (these fonts
 * have no variations, and nothing in fontkit or pdfkit writes to it), so each glyph
 * object of the shared font keeps its first decoding. What is kept: outlines of the
 * glyphs used so far, by glyph id, nothing about which text used them.
 *
 * Shaping (`font.layout`: cmap, GSUB/GPOS) of the fixed wording is the same for
 * every document too; for the fixed-text fonts a run is shaped once and each caller
 * gets its own copy of the positions (pdfkit scales them in place).
 */

interface DecodingGlyph {
  _decode(): unknown;
}

function keepDecodedGlyphs(font: FontkitFont): void {
  const f = font as unknown as { getGlyph(id: number, codePoints?: number[]): DecodingGlyph | null; directory: { tables: Record<string, unknown> }; _variationProcessor?: unknown };
  // only plain TrueType outlines: CFF glyphs decode through another path, variable fonts per instance
  if (!f.directory.tables.glyf || f.directory.tables.fvar) return;
  const getGlyph = f.getGlyph.bind(f);
  const done = new WeakSet<DecodingGlyph>();
  f.getGlyph = (id, codePoints) => {
    const glyph = getGlyph(id, codePoints);
    if (glyph && !done.has(glyph)) {
      done.add(glyph);
      const decode = glyph._decode;
      let decoded: unknown;
      let have = false;
      glyph._decode = function (this: DecodingGlyph) {
        if (!have) {
          decoded = decode.call(this);
          have = true;
        }
        return decoded;
      };
    }
    return glyph;
  };
}

/**
 * The cmap lookup of a code point (a binary search through the font's lazily decoded
 * cmap groups) is repeated for the same characters by every document, and for each
 * text up to three times (the printable check, measuring, drawing); each code point's
 * glyph id is kept (the font's own mapping, bounded by its character set).
 * Variation sequences are looked up each time.
 */
function keepCmapLookups(font: FontkitFont): void {
  const cmap = (font as unknown as { _cmapProcessor: { lookup(cp: number, vs?: number): number } })._cmapProcessor;
  const lookup = cmap.lookup.bind(cmap);
  const glyphIds = new Map<number, number>();
  cmap.lookup = (cp, vs) => {
    if (vs) return lookup(cp, vs);
    let id = glyphIds.get(cp);
    if (id === undefined) {
      id = lookup(cp);
      glyphIds.set(cp, id);
    }
    return id;
  };
}

interface ShapedRun {
  glyphs: unknown[];
  positions: Record<string, number>[];
}

/** Shaped runs kept per fixed-text font; the wording is a few hundred strings, the bound only a guard. */
const MAX_SHAPED_RUNS = 5000;

function keepShapedRuns(font: FontkitFont): void {
  const f = font as unknown as { layout(text: unknown, features?: unknown, ...rest: unknown[]): ShapedRun };
  const layout = f.layout.bind(f);
  const runs = new Map<string, ShapedRun>();
  f.layout = (text, features, ...rest) => {
    if (typeof text !== 'string' || rest.some((x) => x !== undefined) || (features !== undefined && typeof features !== 'object')) return layout(text, features, ...rest);
    const key = features === undefined ? text : `${text}\u0000${JSON.stringify(features)}`;
    let run = runs.get(key);
    if (!run) {
      run = layout(text, features);
      if (runs.size >= MAX_SHAPED_RUNS) runs.clear();
      runs.set(key, run);
    }
    // a GlyphRun of its own (its getters read `positions`), sharing the read-only glyphs
    const copy = Object.create(Object.getPrototypeOf(run) as object) as ShapedRun;
    Object.assign(copy, run);
    copy.glyphs = run.glyphs.slice();
    copy.positions = run.positions.map((p) => ({ ...p }));
    return copy;
  };
}

/**
 * Texts that fontkit's default shaping leaves as the cmap gives them (plain-shaping.ts:
 * almost every Japanese name, address and date) get their run built directly instead
 * of shaped: the same glyphs and positions for a fraction of the work. Other texts
 * (and every call with features or other arguments) go to fontkit as before.
 */
const fontkitLayouts = new WeakMap<FontkitFont, (text: string) => ShapedRun>();

function skipShapingOfPlainText(font: FontkitFont): void {
  const f = font as unknown as { layout(text: unknown, ...rest: unknown[]): ShapedRun };
  // fontkit's own layout (this runs before any other wrapper of it)
  const layout = f.layout.bind(f);
  const shaped = (text: string) => layout(text);
  fontkitLayouts.set(font, shaped);
  f.layout = (text, ...rest) => {
    if (typeof text === 'string' && rest.every((x) => x === undefined)) {
      const run = plainRun(font as unknown as ShapingFont, shaped as unknown as (t: string) => PlainRun, text);
      if (run) return run as unknown as ShapedRun;
    }
    return layout(text, ...rest);
  };
}

/** fontkit's layout of a shared font without the shortcut (for tests comparing the two). */
export function shapeWithFontkit(name: FontName, text: string): unknown {
  return fontkitLayouts.get(parsedFont(name))!(text);
}

/** Our own pdfmake instance (not the module's shared singleton, whose fonts other code may set). */
let instance: PdfMake | undefined;

export function pdfMake(): PdfMake {
  if (instance) return instance;
  const shared = req('pdfmake') as PdfMake;
  const PdfMakeClass = Object.getPrototypeOf(shared).constructor as new () => PdfMake;
  const pm = new PdfMakeClass();
  const files = new Map<string, Buffer>();
  const vfs: VirtualFs = {
    existsSync: (n) => files.has(n),
    readFileSync: (n) => {
      const b = files.get(n);
      if (!b) throw new Error(`no font ${n}`);
      return b;
    },
  };
  pm.virtualfs = vfs;
  const families: Record<string, FontFamily> = {};
  for (const name of Object.keys(FONT_FILES) as FontName[]) {
    parsedFont(name);
    const file = `konbini-font/${name}`;
    files.set(file, handleFor(name));
    // These fonts have one face; bold and italics map to it (nothing here asks for them).
    families[name] = { normal: file, bold: file, italics: file, bolditalics: file };
  }
  pm.setFonts(families);
  // Documents are built from data only: no file or URL is ever fetched while rendering.
  pm.setUrlAccessPolicy(() => false);
  pm.setLocalAccessPolicy(() => false);
  instance = pm;
  return pm;
}

export interface RenderOptions {
  /**
   * Lay out each text that fits on one line as one inline (single-line.ts): the same
   * print for far less work. Default true; false only to compare against in tests.
   */
  singleLines?: boolean;
  /** Embed the kept font programs of the fixed-text fonts and deflate IPAmj's faster (font-programs.ts). Default true; false only to compare against in tests. */
  keptFontPrograms?: boolean;
}

/** Render a pdfmake document definition to bytes with the shared fonts. */
export async function renderPdf(docDefinition: object, options: RenderOptions = {}): Promise<Buffer> {
  const def = options.singleLines === false ? docDefinition : markSingleLines(docDefinition as Record<string, unknown>);
  // pdfmake's getBuffer, with the pdfkit document in hand before it is ended (font-programs.ts)
  const doc = await pdfMake().createPdf(def).getStream();
  if (options.keptFontPrograms !== false) embedKeptPrograms(doc as unknown as PdfKitDocumentRefs);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.end();
  });
}

/* ---- what IPAmj can print ---- */

function isVariationSelector(cp: number): boolean {
  return (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

/** cmap format 14 of a font, as a lookup: `${base}:${selector}` → glyph id (or 'default'). */
const uvsTables = new WeakMap<FontkitFont, Map<string, number | 'default'>>();

function uvsTable(font: FontkitFont): Map<string, number | 'default'> {
  let table = uvsTables.get(font);
  if (!table) {
    table = new Map();
    for (const sel of font._cmapProcessor.uvs?.varSelectors.toArray() ?? []) {
      for (const r of sel.defaultUVS ?? []) {
        for (let cp = r.startUnicodeValue; cp <= r.startUnicodeValue + r.additionalCount; cp++) {
          table.set(`${cp}:${sel.varSelector}`, 'default');
        }
      }
      for (const m of sel.nonDefaultUVS ?? []) table.set(`${m.unicodeValue}:${sel.varSelector}`, m.glyphID);
    }
    uvsTables.set(font, table);
  }
  return table;
}

/**
 * The glyph the font registers for a variation sequence, straight from its cmap
 * format-14 table (the reference against which fontkit's own lookup is checked).
 */
export function registeredVariant(font: FontkitFont, base: number, selector: number): number | undefined {
  const hit = uvsTable(font).get(`${base}:${selector}`);
  if (hit === undefined) return undefined;
  return hit === 'default' ? font.glyphForCodePoint(base).id : hit;
}

/**
 * Characters of `text` that IPAmj cannot print exactly: code points without a glyph,
 * and variation sequences the font does not register (printing the base glyph for
 * them would print a different character form). Also refuses sequences for which
 * fontkit would pick another glyph than the font registers (the fontkit 2.0.4
 * default-UVS bug): they cannot be printed exactly either.
 */
export function unprintable(text: string, font: FontkitFont = parsedFont('IPAmj')): string[] {
  const bad: string[] = [];
  const cps = Array.from(text, (c) => c.codePointAt(0)!);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    const next = cps[i + 1];
    if (next !== undefined && isVariationSelector(next)) {
      const want = registeredVariant(font, cp, next);
      const seq = String.fromCodePoint(cp, next);
      const got = font.glyphsForString(seq);
      if (want === undefined || got.length !== 1 || got[0]!.id !== want) bad.push(seq);
      i++;
      continue;
    }
    if (isVariationSelector(cp)) {
      bad.push(String.fromCodePoint(cp));
      continue;
    }
    if (cp === 0x20 || cp === 0x3000) continue;
    if (!font.hasGlyphForCodePoint(cp)) bad.push(String.fromCodePoint(cp));
  }
  return bad;
}
