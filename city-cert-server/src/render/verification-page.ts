/**
 * 裏面 (the back of each copy): the 2D code (QR, from the matrix the `qrcode` library
 * computes, placed as a 1-bit image, QR_PX_PER_MODULE pixels per module) and the human-readable
 * 確認番号, with the note on how to have the certificate checked. The code's text is
 * made by the issuance service (verify/mark.ts): issuance number, document hash and
 * the city's signature.
 *
 * Why an image: drawn as vector rectangles (one per run of dark modules, ≈ 1,800 for
 * a version-17 code) the code doubled the cost of a whole certificate. As an image
 * XObject it is one small stream (≈ 2 KB deflated) and one `Do`.
 */
import { deflateSync } from 'node:zlib';
import { DATA_FONT, LABEL_FONT, TEXT_FONT, type Node } from './frame.js';
import { qrSymbol } from './qr-mask.js';
import { pngFile } from './tint.js';

export interface VerificationMark {
  /** 確認番号, e.g. 1234-5678-9012-3456. */
  verificationNumber: string;
  /** Text of the 2D code. */
  qrText: string;
}

export const BACK_TEXT = {
  title: '証明書の確認について（裏面）',
  numberLabel: '確認番号',
  note: 'この証明書が発行されたものであることは、発行した市区町村の確認窓口で、確認番号と文書のハッシュ値（二次元コードに記録されています）により確認できます。確認の回答には証明書の内容は含まれません。二次元コードには、発行番号、文書のハッシュ値及び市区町村の電子署名が記録されています。',
} as const;

/** QR side in points (45 mm) and the quiet zone in modules. */
export const QR_SIZE_PT = 45 * (72 / 25.4);
const QUIET = 4;

/**
 * The code's modules. One byte-mode segment: the text is mostly base64url and hex,
 * and the library's search for the cheapest mix of modes (numeric runs, upper-case
 * runs) costs more time than it saves bits (the same version for our texts). The
 * mask is the library's choice, found faster (qr-mask.ts).
 */
export function qrMatrix(text: string): { size: number; data: Uint8Array } {
  const { size, data } = qrSymbol([{ data: Buffer.from(text, 'utf8'), mode: 'byte' }], 'M');
  return { size, data };
}

/**
 * Pixels per module of the code's image. Renderers interpolate an image scaled up
 * by less than 4× (poppler does, whatever /Interpolate says), which blurs one-pixel
 * modules into grey at screen and fax resolutions. With 4 pixels per module (372 px
 * for 45 mm, ≈ 210 dpi) the blur is at most a quarter module at any resolution, and
 * at printer resolutions (≥ 840 dpi: 4× up) the pixels are replicated as they are.
 * Read back with jsQR from poppler renderings this decodes as the vector drawing
 * did (both are unreliable at 170-190 dpi, where a module is 2.5-3 pixels, and fine
 * at 200 dpi and above).
 */
export const QR_PX_PER_MODULE = 4;

/** The code with its quiet zone as a 1-bit greyscale PNG (0 = dark), QR_PX_PER_MODULE pixels per module. */
export function qrPng(text: string, k = QR_PX_PER_MODULE): Buffer {
  const { size, data } = qrMatrix(text);
  const side = (size + 2 * QUIET) * k;
  const stride = Math.ceil(side / 8);
  // each row: a PNG filter byte, then the pixels (1 = white paper); the k rows of a
  // module row are equal, so all but the first use filter 2 (Up) and are zeros
  const raw = Buffer.alloc((stride + 1) * side, 0);
  for (let y = 0; y < side; y += k) {
    const o = y * (stride + 1) + 1;
    raw.fill(0xff, o, o + stride);
    for (let j = 1; j < k && y + j < side; j++) raw[(y + j) * (stride + 1)] = 2;
    const r = y / k - QUIET;
    if (r < 0 || r >= size) continue;
    for (let c = 0; c < size; c++) {
      if (!data[r * size + c]) continue;
      for (let x = (c + QUIET) * k, end = x + k; x < end; x++) raw[o + (x >> 3)]! &= ~(0x80 >> (x & 7));
    }
  }
  return pngFile(side, side, 1, deflateSync(raw));
}

/** The code as a pdfmake image node, `sizePt` square. */
export function qrNode(text: string, sizePt = QR_SIZE_PT): Node {
  return { image: `data:image/png;base64,${qrPng(text).toString('base64')}`, width: sizePt, height: sizePt };
}

export function backPage(mark: VerificationMark): Node[] {
  return [
    { text: BACK_TEXT.title, font: LABEL_FONT, fontSize: 14, alignment: 'center', margin: [0, 40, 0, 24] },
    { columns: [{ width: '*', text: '' }, { width: QR_SIZE_PT, stack: [qrNode(mark.qrText)] }, { width: '*', text: '' }] },
    { text: BACK_TEXT.numberLabel, font: LABEL_FONT, fontSize: 10, alignment: 'center', margin: [0, 16, 0, 2] },
    { text: mark.verificationNumber, font: DATA_FONT, fontSize: 18, alignment: 'center', characterSpacing: 1 },
    { text: BACK_TEXT.note, font: TEXT_FONT, fontSize: 9, margin: [40, 24, 40, 0], lineHeight: 1.3 },
  ];
}
