/**
 * The embedded font programs of the fixed-text fonts, made once per glyph set.
 *
 * pdfkit embeds a subset of every font a document uses: fontkit encodes a TrueType
 * file of the glyphs used (`subset.encode()`, ≈ 0.5 ms for a page of labels) and
 * pdfkit deflates it into the FontFile2 stream (≈ 0.5 ms). The IPAex fonts print
 * only the certificates' fixed wording (titles, labels, attestations, the issuance
 * date), so their subsets are the same few glyph sets document after document: the
 * glyph set (the original glyph ids, in the order pdfkit numbers them) is the key,
 * the encoded program and its deflated stream are kept (a bounded number; nothing
 * of the resident data, which IPAmj prints and which is never kept).
 *
 * The stream written is byte for byte what pdfkit would write: the same program,
 * deflated with the same zlib defaults pdfkit uses. pdfkit has no way to take an
 * already compressed stream for a font, so for the documents we render
 * (`embedKeptPrograms`, on the one pdfkit document object) the font file object is
 * told it is already compressed when its content is a kept program: pdfkit's own
 * `compress` flag and `/Filter /FlateDecode`, which is what it sets itself.
 * IPAmj's programs (a new one per document) go the same way to be deflated at a
 * faster level (below). test/render/font-programs.test.ts checks the embedded
 * streams are the same bytes with and without the programs kept, and IPAmj's the
 * same program.
 */
import { deflateSync } from 'node:zlib';

interface Subset {
  glyphs: number[];
  encode(): Uint8Array;
}
export interface SubsettingFont {
  createSubset(): Subset;
}

/** Glyph sets kept per font: a type's wording over a few dates and options; the bound is a guard. */
const MAX_PROGRAMS = 64;
const programs = new Map<string, Buffer>();
const kept = new WeakSet<Uint8Array>();
const deflated = new WeakMap<Uint8Array, Buffer>();

/** Keep the encoded subsets of `font` (a shared parsed font printing fixed text only), by glyph set. */
export function keepSubsetPrograms(font: SubsettingFont, fontName: string): void {
  const createSubset = font.createSubset.bind(font);
  font.createSubset = () => {
    const subset = createSubset();
    const encode = subset.encode.bind(subset);
    subset.encode = () => {
      // the key before encoding: encoding appends the components of composite glyphs
      const key = `${fontName}:${subset.glyphs.join(',')}`;
      let program = programs.get(key);
      if (program) {
        programs.delete(key); // most recently used last
      } else {
        program = Buffer.from(encode());
        kept.add(program);
        if (programs.size >= MAX_PROGRAMS) programs.delete(programs.keys().next().value!);
      }
      programs.set(key, program);
      return program;
    };
    return subset;
  };
}

/**
 * Programs of the font that prints resident data (IPAmj): a new subset for every
 * document, deflated once. zlib's default level (what pdfkit uses) spends ≈ 0.8 ms on
 * the ≈ 30 KB of glyph outlines of a one-page certificate; level 1 with zlib's larger
 * hash memory takes about half of that for ≈ 2 % more bytes (≈ 0.5 KB a document:
 * outlines compress poorly at any level). The stream is an ordinary FlateDecode stream.
 */
const FAST_DEFLATE = { level: 1, memLevel: 9 } as const;
const perDocument = new WeakSet<Uint8Array>();

export function deflateSubsetProgramsFast(font: SubsettingFont): void {
  const createSubset = font.createSubset.bind(font);
  font.createSubset = () => {
    const subset = createSubset();
    const encode = subset.encode.bind(subset);
    subset.encode = () => {
      const program = encode();
      perDocument.add(program);
      return program;
    };
    return subset;
  };
}

/** The deflated stream for a font program (kept, or deflated here), or undefined for any other bytes. */
function programStream(chunk: unknown): Buffer | undefined {
  if (!(chunk instanceof Uint8Array)) return undefined;
  if (perDocument.has(chunk)) return deflateSync(chunk, FAST_DEFLATE);
  let stream = deflated.get(chunk);
  if (!stream && kept.has(chunk)) {
    stream = deflateSync(chunk);
    deflated.set(chunk, stream);
  }
  return stream;
}

interface PdfKitRef {
  compress: boolean;
  data: Record<string, unknown>;
  end(chunk?: unknown): void;
}
export interface PdfKitDocumentRefs {
  ref(data?: object): PdfKitRef;
}

/**
 * For this pdfkit document: a font file whose content is a kept program is written
 * with its kept deflated stream instead of being deflated again, and an IPAmj
 * program is deflated at the faster level.
 */
export function embedKeptPrograms(doc: PdfKitDocumentRefs): void {
  const ref = doc.ref;
  doc.ref = function (this: PdfKitDocumentRefs, data?: object) {
    const r = ref.call(this, data);
    const end = r.end;
    r.end = function (this: PdfKitRef, chunk?: unknown) {
      const stream = this.compress && this.data.Filter === undefined ? programStream(chunk) : undefined;
      if (!stream) return end.call(this, chunk);
      this.compress = false;
      this.data.Filter = 'FlateDecode';
      return end.call(this, stream);
    };
    return r;
  };
}
