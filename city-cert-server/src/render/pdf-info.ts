/**
 * The document information dictionary, written as a PDF incremental update.
 *
 * The binding (protocol/src/binding.ts) must appear in the Info dictionary as a direct
 * literal string, `/KonbiniBinding (<200 chars>)`, so it can be found and sealed in
 * place. pdfkit writes every Info value as an indirect object (`/Key 12 0 R`), so
 * the Info pdfkit writes cannot carry it. Instead of patching pdfkit we append a
 * standard incremental update (ISO 32000-1 §7.5.6): one new Info dictionary object,
 * an xref section for it and a trailer whose /Info points to it (with /Prev to
 * pdfkit's xref). Nothing before the update changes; every reader uses the new Info.
 */

export type InfoValue = string | Date;

function isPlainAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** A PDF text string: literal for ASCII, UTF-16BE hex with BOM otherwise. */
export function pdfString(value: string): string {
  if (isPlainAscii(value)) return `(${value.replace(/[()\\]/g, (c) => `\\${c}`)})`;
  const utf16 = Buffer.from(`\ufeff${value}`, 'utf16le').swap16();
  return `<${utf16.toString('hex').toUpperCase()}>`;
}

/** PDF date string in Japan time: (D:20261122093000+09'00'). */
export function pdfDate(instant: Date): string {
  const t = new Date(instant.getTime() + 9 * 3600_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `(D:${p(t.getUTCFullYear(), 4)}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}+09'00')`;
}

/**
 * Append an Info dictionary. `literal` values are written as literal strings exactly
 * as given (ASCII without parentheses or backslashes; used for the binding
 * placeholder), others as PDF text strings.
 */
export function appendInfo(pdf: Buffer, info: Record<string, InfoValue>, literal: Record<string, string> = {}): Buffer {
  const tail = pdf.subarray(Math.max(0, pdf.length - 4096)).toString('latin1');
  const sx = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(tail);
  const trailerAt = tail.lastIndexOf('trailer');
  if (!sx || trailerAt < 0) throw new Error('pdf-info: no classic trailer found');
  const trailer = tail.slice(trailerAt, sx.index);
  const size = /\/Size\s+(\d+)/.exec(trailer);
  const root = /\/Root\s+(\d+\s+\d+\s+R)/.exec(trailer);
  const id = /\/ID\s*(\[[^\]]*\])/.exec(trailer);
  if (!size || !root) throw new Error('pdf-info: trailer lacks /Size or /Root');
  const objNum = Number(size[1]);

  const entries: string[] = [];
  for (const [key, value] of Object.entries(info)) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) throw new Error(`pdf-info: bad key ${key}`);
    entries.push(`/${key} ${value instanceof Date ? pdfDate(value) : pdfString(value)}`);
  }
  for (const [key, value] of Object.entries(literal)) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key) || !isPlainAscii(value) || /[()\\]/.test(value)) {
      throw new Error(`pdf-info: literal ${key} must be plain ASCII`);
    }
    entries.push(`/${key} (${value})`);
  }

  const sep = pdf[pdf.length - 1] === 0x0a ? '' : '\n';
  const objOffset = pdf.length + sep.length;
  const obj = `${objNum} 0 obj\n<<\n${entries.join('\n')}\n>>\nendobj\n`;
  const xrefOffset = objOffset + Buffer.byteLength(obj, 'latin1');
  const update =
    sep +
    obj +
    `xref\n${objNum} 1\n${String(objOffset).padStart(10, '0')} 00000 n \n` +
    `trailer\n<<\n/Size ${objNum + 1}\n/Root ${root[1]}\n/Info ${objNum} 0 R\n` +
    (id ? `/ID ${id[1]}\n` : '') +
    `/Prev ${sx[1]}\n>>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  return Buffer.concat([pdf, Buffer.from(update, 'latin1')]);
}
