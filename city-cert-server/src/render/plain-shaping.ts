/**
 * Texts whose shaping changes nothing, recognised without shaping them.
 *
 * fontkit shapes every text pdfkit measures or draws (script detection, a shaping
 * plan, the GSUB and GPOS lookups of the default features), which for a certificate
 * costs more than laying it out. For Japanese and Latin text in the fonts used here,
 * fontkit's default shaping (its DefaultShaper: GSUB rvrn ltra ltrm ccmp locl rlig
 * calt clig liga rclt, and frac numr dnom only around U+2044, left out below; GPOS kern mark mkmk curs;
 * mark advances zeroed; the legacy kern table; default ignorables hidden) leaves
 * each glyph as the cmap gives it, at its own advance width, unless
 *   - a default GSUB lookup can start at the glyph (it is in the first coverage of
 *     one of its subtables; a lookup cannot act anywhere else), and for a ligature
 *     lookup the text also has one of the ligature's other components,
 *   - the glyph is a mark (GDEF class 3), or
 *   - the font has a default GPOS feature, a kern, morx or fvar table.
 * Per font, once, the glyphs of the first two kinds are collected (a font with the
 * third, or with a lookup not understood here, takes no shortcut). A text made only
 * of characters the default shaper handles (Latin, CJK symbols and punctuation
 * without the combining tone marks, kana without the combining sound marks,
 * ideographs, full-width forms; variation selectors the cmap consumes) none of whose
 * glyphs is of those kinds comes out of fontkit's layout as its cmap glyphs at their
 * advance widths, which is what `plainRun` builds directly. Anything else is shaped
 * by fontkit. test/render/plain-shaping.test.ts compares the two on every string
 * of the samples and on strings chosen to hit each exception.
 */

export interface ShapingGlyph {
  id: number;
  advanceWidth: number;
  codePoints: number[];
}
interface Position {
  xAdvance: number;
  yAdvance: number;
  xOffset: number;
  yOffset: number;
}
export interface ShapedRun {
  glyphs: ShapingGlyph[];
  positions: Position[];
}
type Coverage = { version: 1; glyphs: number[] } | { version: 2; rangeRecords: Array<{ start: number; end: number }> };
interface OtTable {
  featureList: Array<{ tag: string; feature: { lookupListIndexes: number[] } }>;
  lookupList: { get(i: number): { lookupType: number; subTables: Array<Record<string, unknown>> } };
}
export interface ShapingFont {
  unitsPerEm: number;
  layout(text: string, features?: unknown): ShapedRun;
  glyphsForString(text: string): ShapingGlyph[];
  GSUB?: OtTable;
  GPOS?: OtTable;
  GDEF?: { glyphClassDef?: { version: 1; startGlyph: number; classValueArray: number[] } | { version: 2; classRangeRecord: Array<{ start: number; end: number; class: number }> } };
  directory: { tables: Record<string, unknown> };
}

/** frac, numr and dnom are applied only around U+2044 FRACTION SLASH, which PLAIN_TEXT leaves out. */
const DEFAULT_GSUB = new Set(['rvrn', 'ltra', 'ltrm', 'ccmp', 'locl', 'rlig', 'calt', 'clig', 'liga', 'rclt']);
const DEFAULT_GPOS = new Set(['kern', 'mark', 'mkmk', 'curs', 'dist', 'abvm', 'blwm']);
/**
 * Characters the default shaper shapes, without combining marks or default
 * ignorables (U+302A-302F and U+3099-309A are combining, U+FFA0-FFDC is half-width
 * Hangul): Latin-1, CJK symbols, kana, CJK strokes, ideographs (BMP and planes 2-3),
 * full-width and half-width katakana forms; variation selectors (checked to be
 * consumed by the cmap).
 */
const PLAIN_TEXT = /^[\u0020-\u007e\u00a0-\u00ac\u00ae-\u00ff\u3000-\u3029\u3030-\u303f\u3041-\u3096\u309b-\u30ff\u31c0-\u31ef\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff9f\uffe0-\uffee\u{20000}-\u{3ffff}\ufe00-\ufe0f\u{e0100}-\u{e01ef}]*$/u;

export function isVariationSelector(cp: number): boolean {
  return (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

/**
 * Where default shaping may act in a font: glyphs at which a lookup may start, and
 * for ligature lookups (which act only if the glyphs after the first are the
 * ligature's other components) the first glyphs and the other components apart. A
 * text with a first glyph but none of the components cannot form a ligature
 * (in IPAmj and IPAex the default ligatures join kana with the combining sound marks,
 * and æ with a grave or acute accent). null: the font takes no shortcut.
 */
interface Acting {
  start: Set<number>;
  ligatureStart: Set<number>;
  ligaturePart: Set<number>;
}
const actingGlyphs = new WeakMap<ShapingFont, Acting | null>();

function addCoverage(c: Coverage | undefined, into: Set<number>): boolean {
  if (!c) return false;
  if (c.version === 1) for (const g of c.glyphs) into.add(g);
  else if (c.version === 2) for (const r of c.rangeRecords) for (let g = r.start; g <= r.end; g++) into.add(g);
  else return false;
  return true;
}

const listOf = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : x && typeof (x as { toArray?: unknown }).toArray === 'function' ? (x as { toArray(): T[] }).toArray() : []);

function actingGlyphsOf(font: ShapingFont): Acting | null {
  const known = actingGlyphs.get(font);
  if (known !== undefined) return known;
  let out: Acting | null = { start: new Set(), ligatureStart: new Set(), ligaturePart: new Set() };
  const t = font.directory.tables;
  if (t.kern || t.morx || t.mort || t.fvar || !font.GSUB || font.GPOS?.featureList.some((f) => DEFAULT_GPOS.has(f.tag))) out = null;
  if (out) {
    const acting = out;
    const lookups = new Set<number>();
    for (const f of font.GSUB!.featureList) if (DEFAULT_GSUB.has(f.tag)) for (const i of f.feature.lookupListIndexes) lookups.add(i);
    search: for (const i of lookups) {
      const lookup = font.GSUB!.lookupList.get(i);
      for (const sub of lookup.subTables) {
        const type = lookup.lookupType === 7 ? (sub.lookupType as number) : lookup.lookupType;
        const st = (lookup.lookupType === 7 ? sub.extension : sub) as Record<string, unknown> | undefined;
        if (type === 4 && st?.coverage) {
          // ligature substitution: the first glyph from the coverage, the rest from each ligature's components
          const sets = listOf<unknown>(st.ligatureSets);
          if (!addCoverage(st.coverage as Coverage, acting.ligatureStart) || sets.length === 0) {
            out = null;
            break search;
          }
          for (const set of sets) for (const lig of listOf<{ components: unknown }>(set)) for (const c of listOf<number>(lig.components)) acting.ligaturePart.add(c);
          continue;
        }
        // where any other lookup can start: its coverage; (chain) context format 3 lists the first glyph's coverage first
        const first = (st?.coverage ?? (st?.inputCoverage as Coverage[] | undefined)?.[0] ?? (st?.coverages as Coverage[] | undefined)?.[0]) as Coverage | undefined;
        if (!addCoverage(first, acting.start)) {
          out = null;
          break search;
        }
      }
    }
  }
  const cd = font.GDEF?.glyphClassDef;
  if (out && cd) {
    const marks = out.start;
    if (cd.version === 1) {
      cd.classValueArray.forEach((c, i) => c === 3 && marks.add(cd.startGlyph + i));
    } else if (cd.version === 2) {
      for (const r of cd.classRangeRecord) if (r.class === 3) for (let g = r.start; g <= r.end; g++) marks.add(g);
    } else {
      out = null;
    }
  }
  actingGlyphs.set(font, out);
  return out;
}

/** The cmap glyphs of `text` when fontkit's default shaping leaves them as they are, else null. */
export function plainGlyphs(font: ShapingFont, text: string): ShapingGlyph[] | null {
  const acting = actingGlyphsOf(font);
  if (acting === null || !PLAIN_TEXT.test(text)) return null;
  const glyphs = font.glyphsForString(text);
  let chars = 0;
  for (const c of text) if (!isVariationSelector(c.codePointAt(0)!)) chars++;
  // a variation selector the cmap did not consume would be a glyph of its own (hidden by shaping)
  if (glyphs.length !== chars) return null;
  let ligatureStart = false;
  let ligaturePart = false;
  for (const g of glyphs) {
    if (acting.start.has(g.id)) return null;
    if (acting.ligatureStart.has(g.id)) ligatureStart = true;
    if (acting.ligaturePart.has(g.id)) ligaturePart = true;
  }
  return ligatureStart && ligaturePart ? null : glyphs;
}

/** fontkit's run and position classes, taken from a run it made (so pdfkit gets the objects it knows). */
interface RunClasses {
  Run: new (glyphs: ShapingGlyph[], features: unknown, script: string | null, language: string | null, direction: string) => ShapedRun;
  Position: new (xAdvance: number) => Position;
}
const runClasses = new WeakMap<ShapingFont, RunClasses>();

/**
 * The run fontkit's layout gives `text` (its glyphs and positions), built without
 * shaping, or null when the text needs shaping (see the top of this file). `layout`
 * is fontkit's own, used once per font for a run to take the classes from. The run
 * records no script and no features: pdfkit reads only its glyphs, positions and
 * advance width.
 */
export function plainRun(font: ShapingFont, layout: (text: string) => ShapedRun, text: string): ShapedRun | null {
  const glyphs = plainGlyphs(font, text);
  if (!glyphs || glyphs.length === 0) return null;
  let classes = runClasses.get(font);
  if (!classes) {
    const sample = layout(text);
    classes = { Run: sample.constructor as RunClasses['Run'], Position: sample.positions[0]!.constructor as RunClasses['Position'] };
    runClasses.set(font, classes);
    return sample;
  }
  const run = new classes.Run(glyphs, {}, null, null, 'ltr');
  run.positions = glyphs.map((g) => new classes.Position(g.advanceWidth));
  return run;
}

/**
 * Advance width of `text` in 1/unitsPerEm as fontkit shapes it whole, or null when
 * shaping it whole could differ from shaping it in pieces (a substitution, a
 * ligature or a positioning adjustment).
 */
export function shapedAdvance(font: ShapingFont, text: string): number | null {
  const run = font.layout(text);
  const plain = font.glyphsForString(text);
  let chars = 0;
  for (const c of text) if (!isVariationSelector(c.codePointAt(0)!)) chars++;
  if (run.glyphs.length !== plain.length || plain.length !== chars) return null;
  let advance = 0;
  for (let i = 0; i < run.glyphs.length; i++) {
    const g = run.glyphs[i]!;
    const p = run.positions[i]!;
    if (g.id !== plain[i]!.id || p.xAdvance !== g.advanceWidth || p.xOffset !== 0 || p.yOffset !== 0 || p.yAdvance !== 0) return null;
    advance += p.xAdvance;
  }
  return advance;
}
