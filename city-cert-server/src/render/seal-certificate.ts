/**
 * 印鑑登録証明書 (seal), FORMS.md: a box with the registered 印影 (about 25 mm square),
 * 氏名 (for foreign residents also the alphabet name), 生年月日, 性別, 住所, 備考, and the
 * attestation. A registration without an image is never printed (the renderer refuses).
 */
import { KonbiniError } from '@konbini/protocol';
import {
  CONTENT_WIDTH,
  DATA_FONT,
  FRAME_LAYOUT,
  LABEL_FONT,
  assertAllPrintable,
  dataCell,
  framedDocument,
  labelCell,
  titleNode,
  type Node,
} from './frame.js';
import type { SealModel } from './model.js';
import { formatSeireki, formatWareki } from './wareki.js';

export const SEAL_TEXT = {
  title: '印鑑登録証明書',
  attestation: 'この写しは、登録された印影と相違ないことを証明します。',
  documentTitle: '印鑑登録証明書',
  imageLabel: '印影',
} as const;

const MM = 72 / 25.4;
/** The 印影 box: 25 mm square; the image inside at most 23 mm. */
export const SEAL_BOX_PT = 25 * MM;
const SEAL_IMAGE_PT = 23 * MM;

const SEX = { male: '男', female: '女' } as const;

function isPng(b: Buffer): boolean {
  return b.length > 24 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a;
}

export function sealTexts(m: SealModel): string[] {
  return [m.familyName, m.givenName, m.familyNameKana, m.givenNameKana, m.address, m.remarks, m.sealNumber, ...(m.alphabetName ? [m.alphabetName] : []), m.city.name, m.city.prefecture, m.city.mayorName];
}

function body(m: SealModel): Node[] {
  if (!isPng(m.sealImagePng)) throw new KonbiniError('INTERNAL', { issuanceId: m.issuanceId, reason: 'seal-image' });
  const kanji = m.givenName ? `${m.familyName}　${m.givenName}` : m.familyName;
  const kana = m.givenNameKana ? `${m.familyNameKana}　${m.givenNameKana}` : m.familyNameKana;
  const nameStack: Node[] = [{ text: kana, font: DATA_FONT, fontSize: 8 }];
  if (m.alphabetName) nameStack.push({ text: m.alphabetName, font: DATA_FONT, fontSize: 13 });
  if (kanji && kanji !== m.alphabetName) nameStack.push({ text: kanji, font: DATA_FONT, fontSize: 15 });
  const image: Node = {
    stack: [
      { text: SEAL_TEXT.imageLabel, font: LABEL_FONT, fontSize: 8, alignment: 'center', margin: [0, 0, 0, 4] },
      {
        table: {
          widths: [SEAL_BOX_PT - 2],
          heights: [SEAL_BOX_PT - 2],
          body: [[{ image: `data:image/png;base64,${m.sealImagePng.toString('base64')}`, fit: [SEAL_IMAGE_PT, SEAL_IMAGE_PT], alignment: 'center', margin: [0, (SEAL_BOX_PT - 2 - SEAL_IMAGE_PT) / 2 - 1, 0, 0] }]],
        },
        layout: { hLineWidth: () => 0.9, vLineWidth: () => 0.9, paddingLeft: () => 0, paddingRight: () => 0, paddingTop: () => 0, paddingBottom: () => 0 },
      },
    ],
  };
  const labelW = 70;
  const rows: Node[][] = [
    [labelCell('氏名'), { stack: nameStack }],
    [labelCell('生年月日'), dataCell(m.foreign ? formatSeireki(m.birthDate) : formatWareki(m.birthDate))],
    [labelCell('性別'), dataCell(SEX[m.sex])],
    [labelCell('住所'), dataCell(m.address)],
    [labelCell('登録番号'), dataCell(m.sealNumber)],
    [labelCell('備考'), dataCell(m.remarks || '')],
  ];
  const sideW = SEAL_BOX_PT + 24;
  return [
    {
      columns: [
        { width: sideW, stack: [image], margin: [0, 6, 0, 0] },
        {
          width: CONTENT_WIDTH - sideW,
          table: { widths: [labelW - 10, CONTENT_WIDTH - sideW - labelW - 12], body: rows },
          layout: FRAME_LAYOUT,
        },
      ],
      columnGap: 0,
      margin: [0, 10, 0, 0],
    },
  ];
}

export function sealDocument(m: SealModel, layout?: import('./frame.js').CopyLayout): Node {
  return framedDocument(m, { pages: () => [[titleNode(SEAL_TEXT.title), ...body(m)]], attestation: SEAL_TEXT.attestation }, layout);

}

export function assertSealPrintable(m: SealModel): void {
  assertAllPrintable(m.issuanceId, sealTexts(m));
}
