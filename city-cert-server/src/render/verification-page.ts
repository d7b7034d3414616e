/**
 * 裏面 (the back of each copy): the 2D code (QR, drawn as vector rectangles from the
 * matrix the `qrcode` library computes) and the human-readable 確認番号, with the note
 * on how to have the certificate checked. The code's text is made by the issuance
 * service (verify/mark.ts): issuance number, document hash and the city's signature.
 */
import QRCode from 'qrcode';
import { DATA_FONT, LABEL_FONT, TEXT_FONT, type Node } from './frame.js';

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

/** The dark modules as horizontal runs: [row, firstColumn, length]. */
export function qrRuns(text: string): { size: number; runs: [number, number, number][] } {
  const q = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const { size, data } = q.modules;
  const runs: [number, number, number][] = [];
  for (let r = 0; r < size; r++) {
    let c = 0;
    while (c < size) {
      if (!data[r * size + c]) {
        c++;
        continue;
      }
      const start = c;
      while (c < size && data[r * size + c]) c++;
      runs.push([r, start, c - start]);
    }
  }
  return { size, runs };
}

/** The code as a pdfmake canvas of black rectangles (a vector drawing, sharp at any printer resolution). */
export function qrNode(text: string, sizePt = QR_SIZE_PT): Node {
  const { size, runs } = qrRuns(text);
  const m = sizePt / (size + 2 * QUIET);
  return {
    canvas: [
      { type: 'rect', x: 0, y: 0, w: sizePt, h: sizePt, color: 'white' },
      ...runs.map(([r, c, n]) => ({ type: 'rect', x: (c + QUIET) * m, y: (r + QUIET) * m, w: n * m + 0.01, h: m + 0.01, color: 'black' })),
    ],
    width: sizePt,
  };
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
