/**
 * The PDF side of the signature (ISO 32000-1 §12.8): an incremental update adding an
 * invisible signature field whose /V is a signature dictionary with a fixed-width
 * /Contents placeholder, its /ByteRange already written (the layout is known before
 * signing), and, after signing, the CMS written into the placeholder.
 *
 * Why not @signpdf/placeholder-plain: 3.3.0 writes `startxref` one byte before the
 * `xref` keyword (qpdf --check warns), drops the trailer /ID and garbles non-ASCII
 * strings; what is left (five small objects and an xref section) is written here.
 * Input is a classic-xref PDF as pdfkit and render/pdf-info.ts write it.
 */
import { KonbiniError } from '@konbini/protocol';
import { pdfDate } from '../render/pdf-info.js';

const fail = (reason: string): never => {
  throw new KonbiniError('INTERNAL', { reason: `pdf-signature: ${reason}` });
};

interface Trailer {
  size: number;
  root: number;
  info?: string;
  id?: string;
  startxref: number;
}

function lastTrailer(pdf: Buffer): Trailer {
  const tail = pdf.subarray(Math.max(0, pdf.length - 2048)).toString('latin1');
  const sx = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(tail);
  const at = tail.lastIndexOf('trailer');
  if (!sx || at < 0) return fail('no classic trailer');
  const t = tail.slice(at, sx.index);
  const size = /\/Size\s+(\d+)/.exec(t);
  const root = /\/Root\s+(\d+)\s+0\s+R/.exec(t);
  if (!size || !root) return fail('trailer lacks /Size or /Root');
  const info = /\/Info\s+(\d+\s+\d+\s+R)/.exec(t)?.[1];
  const id = /\/ID\s*(\[[^\]]*\])/.exec(t)?.[1];
  return { size: Number(size[1]), root: Number(root[1]), startxref: Number(sx[1]), ...(info ? { info } : {}), ...(id ? { id } : {}) };
}

/** Object number → byte offset, from every classic xref section (newest wins). */
function xrefOffsets(pdf: Buffer, startxref: number): Map<number, number> {
  const offsets = new Map<number, number>();
  let at: number | undefined = startxref;
  for (let guard = 0; at !== undefined && guard < 32; guard++) {
    const text = pdf.subarray(at, pdf.indexOf('trailer', at) + 4096).toString('latin1');
    if (!text.startsWith('xref')) return fail('xref stream or bad startxref');
    const body = text.slice(4, text.indexOf('trailer'));
    const lines = body.split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean);
    for (let i = 0; i < lines.length; ) {
      const [start, count] = lines[i]!.split(/\s+/).map(Number);
      if (start === undefined || count === undefined || Number.isNaN(start) || Number.isNaN(count)) return fail('xref subsection');
      for (let k = 0; k < count; k++) {
        const m = /^(\d{10}) (\d{5}) ([nf])$/.exec(lines[i + 1 + k] ?? '');
        if (!m) return fail('xref entry');
        if (m[3] === 'n' && !offsets.has(start + k)) offsets.set(start + k, Number(m[1]));
      }
      i += 1 + count;
    }
    const prev = /\/Prev\s+(\d+)/.exec(text.slice(text.indexOf('trailer'), text.indexOf('startxref')));
    at = prev ? Number(prev[1]) : undefined;
  }
  return offsets;
}

/** The dictionary text `<< ... >>` of object `num`. */
function objectDict(pdf: Buffer, offsets: Map<number, number>, num: number): string {
  const at = offsets.get(num);
  if (at === undefined) return fail(`object ${num} not in xref`);
  const end = pdf.indexOf('endobj', at);
  const text = pdf.subarray(at, end).toString('latin1');
  const m = new RegExp(`^${num}\\s+0\\s+obj\\s*(<<[\\s\\S]*>>)\\s*$`).exec(text);
  if (!m) return fail(`object ${num} is not a dictionary`);
  return m[1]!;
}

function addKey(dict: string, key: string, value: string): string {
  if (new RegExp(`/${key}[\\s/\\[<(]`).test(dict)) fail(`dictionary already has /${key}`);
  return `${dict.slice(0, dict.lastIndexOf('>>'))}/${key} ${value}\n>>`;
}

const BYTE_RANGE_WIDTH = 48; // "[0 a b c]" padded with spaces; 4 numbers of up to 10 digits fit

export interface PlaceholderOptions {
  /** Bytes reserved for the CMS (the hex string is twice as long). */
  contentsBytes: number;
  signingTime: Date;
}

export interface Prepared {
  pdf: Buffer;
  /** [0, a, b, c]: signed bytes are [0, a) and [b, b + c); the gap is `<hex>`. */
  byteRange: [number, number, number, number];
}

/** Append the signature field and dictionary; /Contents is all zeros, /ByteRange final. */
export function addSignaturePlaceholder(pdf: Buffer, opts: PlaceholderOptions): Prepared {
  const tr = lastTrailer(pdf);
  const offsets = xrefOffsets(pdf, tr.startxref);
  const catalog = objectDict(pdf, offsets, tr.root);
  const pagesRef = /\/Pages\s+(\d+)\s+0\s+R/.exec(catalog);
  if (!pagesRef) return fail('catalog without /Pages');
  const kids = /\/Kids\s*\[\s*(\d+)\s+0\s+R/.exec(objectDict(pdf, offsets, Number(pagesRef[1])));
  if (!kids) return fail('pages without kids');
  const pageNum = Number(kids[1]);
  const page = objectDict(pdf, offsets, pageNum);

  const sigNum = tr.size;
  const widgetNum = tr.size + 1;
  const formNum = tr.size + 2;
  const objects = new Map<number, string>([
    [
      sigNum,
      `<<\n/Type /Sig\n/Filter /Adobe.PPKLite\n/SubFilter /ETSI.CAdES.detached\n` +
        `/ByteRange ${'['.padEnd(BYTE_RANGE_WIDTH, ' ')}\n` +
        `/Contents <${'0'.repeat(opts.contentsBytes * 2)}>\n/M ${pdfDate(opts.signingTime)}\n>>`,
    ],
    // invisible (zero rectangle), printed flag set as PDF/A asks, locked
    [widgetNum, `<<\n/Type /Annot\n/Subtype /Widget\n/FT /Sig\n/T (Signature1)\n/V ${sigNum} 0 R\n/F 132\n/Rect [0 0 0 0]\n/P ${pageNum} 0 R\n>>`],
    [formNum, `<<\n/Fields [${widgetNum} 0 R]\n/SigFlags 3\n>>`],
    [tr.root, addKey(catalog, 'AcroForm', `${formNum} 0 R`)],
    [pageNum, addKey(page, 'Annots', `[${widgetNum} 0 R]`)],
  ]);

  const sep = pdf[pdf.length - 1] === 0x0a ? '' : '\n';
  let text = sep;
  const at = new Map<number, number>();
  for (const [num, body] of objects) {
    at.set(num, pdf.length + Buffer.byteLength(text, 'latin1'));
    text += `${num} 0 obj\n${body}\nendobj\n`;
  }
  const xrefAt = pdf.length + Buffer.byteLength(text, 'latin1');
  text += 'xref\n';
  for (const num of [...at.keys()].sort((a, b) => a - b)) {
    text += `${num} 1\n${String(at.get(num)).padStart(10, '0')} 00000 n \n`;
  }
  text +=
    `trailer\n<<\n/Size ${formNum + 1}\n/Root ${tr.root} 0 R\n` +
    (tr.info ? `/Info ${tr.info}\n` : '') +
    (tr.id ? `/ID ${tr.id}\n` : '') +
    `/Prev ${tr.startxref}\n>>\nstartxref\n${xrefAt}\n%%EOF\n`;
  const out = Buffer.concat([pdf, Buffer.from(text, 'latin1')]);

  const sigAt = at.get(sigNum)!;
  const contentsAt = out.indexOf('/Contents <', sigAt) + '/Contents '.length;
  const gapEnd = contentsAt + opts.contentsBytes * 2 + 2;
  const byteRange: Prepared['byteRange'] = [0, contentsAt, gapEnd, out.length - gapEnd];
  const brAt = out.indexOf('/ByteRange [', sigAt) + '/ByteRange '.length;
  const brText = `[${byteRange.join(' ')}]`;
  if (brText.length > BYTE_RANGE_WIDTH) fail('byte range too wide');
  out.write(brText.padEnd(BYTE_RANGE_WIDTH, ' '), brAt, 'latin1');
  return { pdf: out, byteRange };
}

/** Write the CMS (DER) into the placeholder. Returns the same buffer. */
export function fillSignature(pdf: Buffer, byteRange: Prepared['byteRange'], cms: Buffer): Buffer {
  const [, a, b] = byteRange;
  const room = (b - a - 2) / 2;
  if (cms.length > room) throw new KonbiniError('SIGNER_FAILED', { reason: 'signature-too-large', bytes: cms.length, room });
  if (pdf[a] !== 0x3c || pdf[b - 1] !== 0x3e) fail('placeholder moved');
  pdf.write(cms.toString('hex').toUpperCase().padEnd(room * 2, '0'), a + 1, 'latin1');
  return pdf;
}

/** The signed bytes: everything but the /Contents string. */
export function signedParts(pdf: Buffer, byteRange: Prepared['byteRange']): Buffer[] {
  const [s1, l1, s2, l2] = byteRange;
  return [pdf.subarray(s1, s1 + l1), pdf.subarray(s2, s2 + l2)];
}
