/**
 * What a PDF puts on paper, read from outside (qpdf's JSON of the file, content
 * streams decoded by qpdf): every glyph with its font, glyph, size, colour and
 * position on the page, and every drawing operation (paths, images) with the
 * transformation it is drawn under. Two PDFs that give the same lists print the
 * same, whatever the text objects are split into; used to check that a faster way to
 * write a document changes nothing a reader sees. Rasterising and comparing pixels
 * is not exact enough: a position that differs by 1e-13 pt may round to another
 * pixel (anti-aliasing at a half-pixel boundary).
 *
 * Understands what pdfkit writes: Type0 fonts with Identity-H (2-byte codes), /W
 * widths, q/Q/cm, BT/ET, Tm/Td/Tf/Tc/Tz/TJ/Tj, colours and graphics states by name.
 */
import { execFileSync } from 'node:child_process';

export interface PrintedGlyph {
  page: number;
  /** Base font without the subset tag. */
  font: string;
  /** Unicode the glyph stands for (the font's ToUnicode), so subset numbering does not matter. */
  text: string;
  size: number;
  x: number;
  y: number;
  fill: string;
  gs: string;
}

export interface PrintedMarks {
  glyphs: PrintedGlyph[];
  /** Drawing operators (not text, not colour/state), each with its operands and the CTM. */
  drawings: string[];
}

type Obj = Record<string, unknown>;
type M = [number, number, number, number, number, number];
const mul = (a: M, b: M): M => [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3], a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5]];
const round = (n: number) => Math.round(n * 1000) / 1000;

/** Widths (1/1000 em) by glyph code from a CIDFont's /W array. */
function widthsOf(w: unknown[]): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < w.length; ) {
    const first = w[i] as number;
    const next = w[i + 1];
    if (Array.isArray(next)) {
      next.forEach((v, k) => out.set(first + k, v as number));
      i += 2;
    } else {
      for (let c = first; c <= (next as number); c++) out.set(c, w[i + 2] as number);
      i += 3;
    }
  }
  return out;
}

/** Glyph code → text from a ToUnicode CMap (bfchar and bfrange, as pdfkit writes them). */
function toUnicodeOf(cmap: string): Map<number, string> {
  const out = new Map<number, string>();
  const hex = (h: string) => Buffer.from(h, 'hex').swap16().toString('utf16le');
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const m of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g)) out.set(parseInt(m[1]!, 16), hex(m[2]!));
  }
  for (const block of cmap.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const m of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)/g)) {
      const lo = parseInt(m[1]!, 16);
      const hi = parseInt(m[2]!, 16);
      if (m[3]!.startsWith('[')) {
        [...m[3]!.matchAll(/<([0-9a-fA-F]+)>/g)].forEach((x, k) => out.set(lo + k, hex(x[1]!)));
      } else {
        const start = Buffer.from(m[3]!.slice(1, -1), 'hex');
        for (let c = lo; c <= hi; c++) {
          const b = Buffer.from(start);
          b.writeUInt16BE(b.readUInt16BE(b.length - 2) + (c - lo), b.length - 2);
          out.set(c, hex(b.toString('hex')));
        }
      }
    }
  }
  return out;
}

const PATH = new Set(['m', 'l', 'c', 'v', 'y', 'h', 're']);
const PAINT = new Set(['f', 'F', 'f*', 'S', 's', 'B', 'B*', 'b', 'b*', 'n']);

function tokens(content: string): Array<string | number | unknown[]> {
  const out: Array<string | number | unknown[]> = [];
  const stack: unknown[][] = [];
  const re = /\s*(\[|\]|<<|>>|<[0-9a-fA-F\s]*>|\((?:\\.|[^\\)])*\)|\/[^\s/\[\]<>()]+|[-+]?(?:\d+\.?\d*|\.\d+)|[A-Za-z'"*]+\d?\*?)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(content)) !== null) {
    const t = m[1]!;
    let v: string | number | unknown[];
    if (t === '[') {
      stack.push([]);
      continue;
    } else if (t === ']') {
      v = stack.pop()!;
    } else if (/^[-+]?(\d|\.)/.test(t)) {
      v = Number(t);
    } else {
      v = t;
    }
    if (stack.length) stack[stack.length - 1]!.push(v);
    else out.push(v);
  }
  return out;
}

export function printedMarks(file: string): PrintedMarks {
  const json = JSON.parse(execFileSync('qpdf', ['--json', '--json-stream-data=inline', '--decode-level=generalized', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as {
    pages: Array<{ object: string; contents: string[] }>;
    qpdf: [unknown, Record<string, { value?: Obj; stream?: { dict: Obj; data?: string } }>];
  };
  const objects = json.qpdf[1];
  const get = (ref: unknown): Obj => {
    const o = objects[`obj:${String(ref)}`];
    return (o?.value ?? o?.stream?.dict ?? (ref as Obj)) as Obj;
  };
  const data = (ref: string) => Buffer.from(objects[`obj:${ref}`]?.stream?.data ?? '', 'base64').toString('latin1');
  const fonts = new Map<string, { name: string; widths: Map<number, number>; unicode: Map<number, string> }>();
  const fontOf = (ref: string) => {
    let f = fonts.get(ref);
    if (!f) {
      const type0 = get(ref);
      const cid = get((type0['/DescendantFonts'] as string[])[0]);
      f = { name: String(type0['/BaseFont']).replace(/^\/[A-Z]{6}\+/, ''), widths: widthsOf((cid['/W'] as unknown[]) ?? []), unicode: toUnicodeOf(data(String(type0['/ToUnicode']))) };
      fonts.set(ref, f);
    }
    return f;
  };

  const glyphs: PrintedGlyph[] = [];
  const drawings: string[] = [];
  json.pages.forEach((p, pageIndex) => {
    const page = get(p.object);
    const resources = get(page['/Resources']);
    const fontRefs = get(resources['/Font'] ?? {}) as Record<string, string>;
    const content = p.contents.map(data).join('\n');
    let ctm: M = [1, 0, 0, 1, 0, 0];
    const saved: Array<{ ctm: M; fill: string; gs: string; font: string; size: number; tc: number; tz: number }> = [];
    let fill = '0 g';
    let gs = '';
    let font = '';
    let size = 0;
    let tc = 0;
    let tz = 100;
    let tm: M = [1, 0, 0, 1, 0, 0];
    let lm: M = [1, 0, 0, 1, 0, 0];
    let operands: unknown[] = [];
    let pathOpen = false;
    const show = (codes: string) => {
      const f = fontOf(fontRefs[font]!);
      const hex = codes.replace(/[<>\s]/g, '');
      for (let i = 0; i < hex.length; i += 4) {
        const code = parseInt(hex.slice(i, i + 4), 16);
        const at = mul(tm, ctm);
        glyphs.push({ page: pageIndex + 1, font: f.name, text: f.unicode.get(code) ?? `#${code}`, size, x: round(at[4]), y: round(at[5]), fill, gs });
        const advance = (((f.widths.get(code) ?? 1000) / 1000) * size + tc) * (tz / 100);
        tm = mul([1, 0, 0, 1, advance, 0], tm);
      }
    };
    for (const t of tokens(content)) {
      if (typeof t !== 'string' || t.startsWith('/') || t.startsWith('<') || t.startsWith('(')) {
        operands.push(t);
        continue;
      }
      const n = operands as number[];
      switch (t) {
        case 'q':
          saved.push({ ctm, fill, gs, font, size, tc, tz });
          break;
        case 'Q':
          ({ ctm, fill, gs, font, size, tc, tz } = saved.pop()!);
          break;
        case 'cm':
          ctm = mul(n.slice(0, 6) as M, ctm);
          break;
        case 'BT':
          tm = lm = [1, 0, 0, 1, 0, 0];
          break;
        case 'Tm':
          tm = lm = n.slice(0, 6) as M;
          break;
        case 'Td':
          tm = lm = mul([1, 0, 0, 1, n[0]!, n[1]!], lm);
          break;
        case 'Tf':
          font = String(operands[0]);
          size = n[1]!;
          break;
        case 'Tc':
          tc = n[0]!;
          break;
        case 'Tz':
          tz = n[0]!;
          break;
        case 'TJ':
          for (const e of operands[0] as unknown[]) {
            if (typeof e === 'number') tm = mul([1, 0, 0, 1, ((-e / 1000) * size * tz) / 100, 0], tm);
            else show(String(e));
          }
          break;
        case 'Tj':
          show(String(operands[0]));
          break;
        case 'g':
        case 'rg':
        case 'k':
        case 'sc':
        case 'scn':
          fill = `${operands.join(' ')} ${t}`;
          break;
        case 'gs':
          gs = String(operands[0]);
          break;
        case 'ET':
        case 'cs':
        case 'CS':
        case 'Tw':
        case 'TL':
        case 'Tr':
        case 'Ts':
          break;
        default:
          // painting no path paints nothing (pdfmake sets a fill colour per text run with pdfkit's fill())
          if (PAINT.has(t) && !pathOpen) break;
          if (PATH.has(t)) pathOpen = true;
          if (PAINT.has(t)) pathOpen = false;
          // paths, strokes, fills, images, line styles: with the transformation they are drawn under
          drawings.push(`p${pageIndex + 1} [${ctm.map(round).join(' ')}] ${[...operands.map((o) => (typeof o === 'number' ? round(o) : JSON.stringify(o))), t].join(' ')} fill=${fill} gs=${gs}`);
      }
      operands = [];
    }
  });
  return { glyphs, drawings };
}
