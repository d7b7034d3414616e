/**
 * One-line texts as one inline: `noWrap` on each text node that pdfmake would lay
 * out on one line anyway, so the document prints exactly as before, for far less work.
 *
 * Why: pdfmake breaks every text into the pieces a line may break between (UAX #14),
 * and in Japanese text that is between every two characters. Each piece is then its
 * own "inline": its ~20 style properties are looked up through every enclosing node,
 * it is measured on its own, and pdfkit draws it as its own text object (colour,
 * opacity, font, position, glyph). A one-page 住民票 had ≈ 600 inlines for ≈ 90 texts;
 * that was about half the time of a render. A text marked `noWrap` is one inline.
 *
 * Why the print is unchanged: a text that fits its width is laid out by pdfmake on
 * one line, its pieces side by side at the sum of the widths before them. As one
 * inline, pdfkit places the same glyphs at the same advances, provided shaping the
 * whole text gives the glyphs and advances of shaping its pieces (checked for each
 * text: the shaped glyphs are the cmap's glyphs, one per character, positioned by
 * their plain advance widths; the fonts here have no default-on kerning). Texts
 * with character spacing are left alone when they break into pieces: pdfmake draws
 * the spacing inside a piece but not between pieces (the titles' spacing never
 * showed between CJK characters), which one inline would not reproduce.
 *
 * Where a text is laid out must be known for certain: the width is computed here the
 * way pdfmake computes it (page, margins, table paddings and rules, fixed and star
 * columns), and a text is marked only where the width does not depend on measured
 * content (not inside 'auto' columns, nor in star columns beside an auto one, nor in
 * cells spanning star columns), and only if it fits with a margin (FIT_MARGIN_PT).
 * Anything not understood here is left as it was. test/render/single-line.test.ts
 * renders every sample with and without this step and compares them pixel by pixel.
 */
import { createRequire } from 'node:module';
import { FONT_FILES, parsedFont, type FontName } from './fonts.js';
import { plainGlyphs, shapedAdvance, type ShapingFont } from './plain-shaping.js';

type Node = Record<string, unknown>;

/** Width kept free beyond the text's own width: texts this close to their width are left to pdfmake. */
export const FIT_MARGIN_PT = 0.25;

/** A4 portrait in pdfmake's units (its standardPageSizes). */
const PAGE_WIDTH = { A4: 595.28 } as Record<string, number>;

interface TableLayout {
  vLineWidth(i: number, node: Node): number;
  paddingLeft(i: number, node: Node): number;
  paddingRight(i: number, node: Node): number;
}

const pdfmakeDir = createRequire(import.meta.url).resolve('pdfmake');
const fromPdfmake = createRequire(pdfmakeDir);
const { defaultTableLayout, tableLayouts } = fromPdfmake('./tableLayouts') as { defaultTableLayout: TableLayout; tableLayouts: Record<string, Partial<TableLayout>> };
/** The UAX #14 line breaker pdfmake itself uses (its TextBreaker). */
const LineBreaker = fromPdfmake('linebreak') as new (text: string) => { nextBreak(): { position: number } | null };

/** Whether pdfmake would keep `text` as one piece (no break opportunity inside it). */
function onePiece(text: string): boolean {
  const breaker = new LineBreaker(text);
  const first = breaker.nextBreak();
  return first !== null && first.position === text.length && breaker.nextBreak() === null;
}

/** What a text inherits from the nodes around it (pdfmake pushes every enclosing node on its style stack). */
interface Inherited {
  font: unknown;
  fontSize: unknown;
  characterSpacing: unknown;
  columnGap: unknown;
  alignment: unknown;
  /** A property this step does not model is set around here: leave the texts inside alone. */
  opaque: boolean;
}

/** Style properties that change how pieces are made, measured or drawn in ways not modelled here. */
const OPAQUE_KEYS = new Set(['style', 'noWrap', 'leadingIndent', 'sup', 'sub', 'wordBreak', 'fontFeatures', 'preserveLeadingSpaces', 'preserveTrailingSpaces', 'link', 'linkToPage', 'linkToDestination', 'decoration', 'background', 'elasticWidth', 'absolutePosition', 'relativePosition', 'tocItem', 'pageReference', 'textReference']);
const INHERITED_KEYS = new Set(['font', 'fontSize', 'characterSpacing', 'columnGap', 'alignment']);

/** The style inside `node` (the same object when the node changes none of it: most nodes). */
function inherit(node: Node, up: Inherited): Inherited {
  let out = up;
  for (const k in node) {
    const v = node[k];
    if (v === undefined || v === null) continue;
    if (OPAQUE_KEYS.has(k)) {
      if (v !== false && !out.opaque) {
        if (out === up) out = { ...up };
        out.opaque = true;
      }
    } else if (INHERITED_KEYS.has(k) && out[k as keyof Inherited] !== v) {
      if (out === up) out = { ...up };
      (out as unknown as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/** Left + right margin as pdfmake reads `margin` (number, [h, v] or [l, t, r, b]); null when not understood. */
function lateralMargin(node: Node): number | null {
  if (node.marginLeft !== undefined || node.marginRight !== undefined || node.marginTop !== undefined || node.marginBottom !== undefined) return null;
  const m = node.margin;
  if (m === undefined || m === null) return 0;
  if (typeof m === 'number') return 2 * m;
  if (Array.isArray(m) && (m.length === 2 || m.length === 4) && m.every((x) => typeof x === 'number')) return m.length === 2 ? 2 * (m[0] as number) : (m[0] as number) + (m[2] as number);
  return null;
}

/* ---- text width, as pdfkit measures it ---- */

const CONTROL = /[\u0000-\u001f\u007f\u00ad\u200b-\u200d\u2028\u2029\u2060]/;

/** Advance width of `text` in 1/unitsPerEm, or null when it may not be one inline (shaped whole it could differ from its pieces). */
export function additiveAdvance(font: ShapingFont, text: string): number | null {
  const glyphs = plainGlyphs(font, text);
  if (glyphs) {
    let advance = 0;
    for (const g of glyphs) advance += g.advanceWidth;
    return advance;
  }
  return shapedAdvance(font, text);
}

/**
 * Fixed wording (titles, labels, attestations) is measured once per process in the
 * fonts that print only that; IPAmj, which prints resident data, is measured per
 * document and nothing of it is kept.
 */
const FIXED_TEXT_FONTS = new Set<string>(['IPAexGothic', 'IPAexMincho']);
const MAX_KEPT = 5000;
const kept = new Map<string, number | null>();

function advanceOf(fontName: FontName, text: string): number | null {
  const font = parsedFont(fontName) as unknown as ShapingFont;
  if (!FIXED_TEXT_FONTS.has(fontName)) return additiveAdvance(font, text);
  const key = `${fontName}\u0000${text}`;
  let a = kept.get(key);
  if (a === undefined) {
    a = additiveAdvance(font, text);
    if (kept.size >= MAX_KEPT) kept.clear();
    kept.set(key, a);
  }
  return a;
}

/** Width in points of `text` as one inline, or null if it may not be one. */
function oneInlineWidth(text: string, style: Inherited): number | null {
  if (style.opaque || style.alignment === 'justify' || text.length === 0 || CONTROL.test(text)) return null;
  const fontName = style.font;
  const size = style.fontSize;
  if (typeof fontName !== 'string' || !(fontName in FONT_FILES) || typeof size !== 'number' || !(size > 0)) return null;
  const spacing = style.characterSpacing ?? 0;
  if (typeof spacing !== 'number') return null;
  // with spacing, only a text that is one piece already keeps its look as one inline
  if (spacing !== 0 && !onePiece(text)) return null;
  const advance = advanceOf(fontName as FontName, text);
  if (advance === null) return null;
  const font = parsedFont(fontName as FontName) as unknown as ShapingFont;
  return advance * (1000 / font.unitsPerEm) * (size / 1000) + spacing * (text.length - 1);
}

/* ---- the walk: available width of each node, as pdfmake lays it out ---- */

type ColumnSpec = { kind: 'fixed'; width: number } | { kind: 'star' } | { kind: 'auto' };

function columnSpec(w: unknown): ColumnSpec | null {
  if (typeof w === 'number' && Number.isFinite(w)) return { kind: 'fixed', width: w };
  if (w === undefined || w === null || w === '*' || w === 'star') return { kind: 'star' };
  if (w === 'auto') return { kind: 'auto' };
  return null; // percentages and anything else: not modelled
}

/**
 * Widths of columns sharing `available`: fixed as given, stars share what is left
 * (null: depends on measured content). When pdfmake's measured minimum widths do not
 * fit, stars are wider, never narrower, than this share (columnCalculator case 1),
 * and a text marked here cannot be the cause, since it fits the share with room.
 */
function columnWidths(specs: Array<ColumnSpec | null>, available: number | null): Array<number | null> {
  const anyAuto = specs.some((s) => s === null || s.kind === 'auto');
  let fixed = 0;
  let stars = 0;
  for (const s of specs) {
    if (s?.kind === 'fixed') fixed += s.width;
    else if (s?.kind === 'star') stars++;
  }
  const star = available === null || anyAuto || stars === 0 ? null : (available - fixed) / stars;
  return specs.map((s) => (s?.kind === 'fixed' ? s.width : s?.kind === 'star' ? star : null));
}

function tableLayoutOf(node: Node): TableLayout | null {
  const l = node.layout;
  const custom = l === undefined || l === null ? {} : typeof l === 'string' ? tableLayouts[l] : (l as Partial<TableLayout>);
  if (!custom || typeof custom !== 'object') return null;
  return { ...defaultTableLayout, ...custom } as TableLayout;
}

function walkTable(node: Node, width: number | null, style: Inherited): void {
  const table = node.table as Node;
  const body = table.body;
  if (!Array.isArray(body) || body.length === 0 || !Array.isArray(body[0])) return;
  const cols = (body[0] as unknown[]).length;
  let w = table.widths ?? 'auto';
  if (typeof w === 'string') w = Array.from({ length: cols }, () => w);
  if (!Array.isArray(w) || w.length !== cols) return;
  const layout = tableLayoutOf(node);
  if (!layout) return;
  // pdfmake's getOffsets: left rule and padding of each column, the previous column's right padding
  const offsets: number[] = [];
  let total = 0;
  let prevRight = 0;
  for (let i = 0; i < cols; i++) {
    const o = prevRight + layout.vLineWidth(i, node) + layout.paddingLeft(i, node);
    offsets.push(o);
    total += o;
    prevRight = layout.paddingRight(i, node);
  }
  total += prevRight + layout.vLineWidth(cols, node);
  const specs = (w as unknown[]).map(columnSpec);
  const widths = columnWidths(specs, width === null ? null : width - total);
  for (const row of body as unknown[]) {
    if (!Array.isArray(row)) continue;
    for (let c = 0; c < row.length; c++) {
      const cell = row[c];
      if (!cell || typeof cell !== 'object') continue;
      const span = typeof (cell as Node).colSpan === 'number' ? Math.max(1, (cell as Node).colSpan as number) : 1;
      let cw: number | null = widths[c] ?? null;
      for (let j = 1; j < span && cw !== null; j++) {
        // a span over anything but fixed columns shares its minimum width out to them: not modelled
        cw = specs[c + j]?.kind === 'fixed' && specs[c]?.kind === 'fixed' ? cw + (widths[c + j] ?? NaN) + (offsets[c + j] ?? NaN) : null;
        if (cw !== null && Number.isNaN(cw)) cw = null;
      }
      walk(cell as Node, cw, style);
    }
  }
}

function walkColumns(node: Node, width: number | null, style: Inherited): void {
  const columns = node.columns as unknown[];
  const gap = typeof style.columnGap === 'number' ? style.columnGap : 0;
  const available = width === null ? null : width - gap * Math.max(0, columns.length - 1);
  const specs = columns.map((c) => (c && typeof c === 'object' ? columnSpec((c as Node).width) : null));
  const widths = columnWidths(specs, available);
  columns.forEach((c, i) => {
    if (c && typeof c === 'object') walk(c as Node, widths[i] ?? null, style);
  });
}

/** Mark the one-line texts of `node` (laid out `width` points wide; null: unknown). */
function walk(node: Node, width: number | null, up: Inherited): void {
  if (Array.isArray(node)) {
    for (const n of node) if (n && typeof n === 'object') walk(n as Node, width, up);
    return;
  }
  const style = inherit(node, up);
  const margin = lateralMargin(node);
  const inner = width === null || margin === null ? null : width - margin;
  if (Array.isArray(node.stack)) {
    for (const n of node.stack) if (n && typeof n === 'object') walk(n as Node, inner, style);
  } else if (Array.isArray(node.columns)) {
    walkColumns(node, inner, style);
  } else if (node.table && typeof node.table === 'object') {
    walkTable(node, inner, style);
  } else if (typeof node.text === 'string' && inner !== null) {
    const w = oneInlineWidth(node.text, style);
    if (w !== null && w <= inner - FIT_MARGIN_PT) node.noWrap = true;
  }
}

/**
 * Mark the one-line texts of a pdfmake document definition (in place; the builders
 * make a new definition for every document). The header function's nodes are marked
 * as it returns them. A text node shared between places would keep the mark of the
 * first place it was measured for (pdfmake writes into the nodes too): the builders
 * share none with text (the one shared node, resident-record's EMPTY, is empty and
 * never marked), and a node already carrying `noWrap` is left as it is.
 */
export function markSingleLines(doc: Node): Node {
  const pageWidth = PAGE_WIDTH[String(doc.pageSize ?? 'A4')];
  const root: Inherited = { font: 'Roboto', fontSize: 12, characterSpacing: 0, columnGap: 0, alignment: 'left', opaque: false };
  const base = doc.defaultStyle && typeof doc.defaultStyle === 'object' ? inherit(doc.defaultStyle as Node, root) : root;
  if (doc.styles !== undefined || pageWidth === undefined || doc.pageOrientation === 'landscape') return doc; // not modelled
  const margins = doc.pageMargins;
  const lateral = Array.isArray(margins) && margins.length === 4 ? (margins[0] as number) + (margins[2] as number) : Array.isArray(margins) && margins.length === 2 ? 2 * (margins[0] as number) : typeof margins === 'number' ? 2 * margins : null;
  if (doc.content && typeof doc.content === 'object') walk(doc.content as Node, lateral === null ? null : pageWidth - lateral, base);
  const header = doc.header;
  if (typeof header === 'function') {
    // a header is laid out across the whole page width (pdfmake's headerSizeFct), inside its own margins
    doc.header = (...args: unknown[]) => {
      const n = (header as (...a: unknown[]) => unknown)(...args);
      if (n && typeof n === 'object') walk(n as Node, pageWidth, base);
      return n;
    };
  }
  return doc;
}
