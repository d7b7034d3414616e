/**
 * What every certificate page shares (FORMS.md "Common to all"): A4 portrait, the
 * issuance number `発行年月日 市区町村名 <issuance id> 連番 ページ/総ページ` on every page,
 * the title, and once per copy on its last page the attestation with the 和暦 date,
 * the title of office 「〇〇県〇〇市長　氏名」 with the 公印, 「この印は黒色です」 and
 * 「コンビニ交付」. All copies are one PDF; each copy starts on a new page and has the
 * same number of pages, which is checked on the finished layout (checkCopyLayout).
 */
import { KonbiniError, MAX_COPIES, MIN_COPIES } from '@konbini/protocol';
import { unprintable } from './fonts.js';
import type { DocumentHead } from './model.js';
import { SEAL_SIZE_PT, sealNode } from './seal.js';
import { formatWareki, yyyymmdd } from './wareki.js';
import { tintBackground, tintTile } from './tint.js';
import { backPage } from './verification-page.js';

export type Node = Record<string, unknown>;

export const DATA_FONT = 'IPAmj';
export const LABEL_FONT = 'IPAexGothic';
export const TEXT_FONT = 'IPAexMincho';

export const PAGE_MARGINS = [42, 50, 42, 40];
/** A4 width minus margins. */
export const CONTENT_WIDTH = 595.28 - 42 - 42;

export const COMMON_TEXT = {
  sealNote: 'この印は黒色です',
  kiosk: 'コンビニ交付',
  documentSubject: '証明書（コンビニ交付）',
} as const;

/** 連番: the copy number, three digits. */
export function copySerial(copy: number): string {
  return String(copy).padStart(3, '0');
}

export function issuanceLineOf(head: DocumentHead, copy: number, page: number, pagesPerCopy: number): string {
  return `${yyyymmdd(head.issuedAt)} ${head.city.name} ${head.issuanceId} ${copySerial(copy)} ${page}/${pagesPerCopy}`;
}

export function assertCopiesInRange(head: DocumentHead): void {
  const n = head.copies;
  if (!Number.isInteger(n) || n < MIN_COPIES || n > MAX_COPIES) {
    throw new KonbiniError('COPIES_OUT_OF_RANGE', { issuanceId: head.issuanceId, copies: n });
  }
}

/** Refuse (UNPRINTABLE_CHARACTERS) rather than print a box or another character form. */
export function assertAllPrintable(issuanceId: string, texts: readonly string[]): void {
  let count = 0;
  for (const s of texts) count += unprintable(s).length;
  if (count > 0) throw new KonbiniError('UNPRINTABLE_CHARACTERS', { issuanceId, count });
}

export const copyStartId = (copy: number) => `konbini-copy-${copy}`;
export const backPageId = (copy: number) => `konbini-back-${copy}`;
const TINT_IMAGE = 'konbini-tint';
/** Printed in the issuance line of a back page in place of n/total. */
export const BACK_PAGE_MARK = '裏面';
export const attestationId = (copy: number) => `konbini-attestation-${copy}`;
export const sealNoteId = (copy: number) => `konbini-seal-note-${copy}`;

export function titleNode(text: string, id?: string, subtitle?: string): Node {
  return {
    stack: [
      { text, font: LABEL_FONT, fontSize: 22, alignment: 'center', characterSpacing: text.length > 6 ? 2 : 10 },
      ...(subtitle ? [{ text: subtitle, font: LABEL_FONT, fontSize: 11, alignment: 'center', margin: [0, 4, 0, 0] }] : []),
    ],
    margin: [0, 0, 0, 12],
    ...(id ? { id } : {}),
  };
}

export function labelCell(text: string, extra: Node = {}): Node {
  return { text, font: LABEL_FONT, fontSize: 8.5, margin: [0, 2, 0, 0], ...extra };
}

export function dataCell(text: string, extra: Node = {}): Node {
  return { text: text || ' ', font: DATA_FONT, fontSize: 11, ...extra };
}

export const FRAME_LAYOUT = {
  hLineWidth: (i: number, node: { table: { body: unknown[] } }) => (i === 0 || i === node.table.body.length ? 0.9 : 0.4),
  vLineWidth: (i: number, node: { table: { widths: unknown[] } }) => (i === 0 || i === node.table.widths.length ? 0.9 : 0.4),
  paddingLeft: () => 5,
  paddingRight: () => 5,
  paddingTop: () => 4,
  paddingBottom: () => 4,
};

/** The attestation block: text, 和暦 date, title of office with the 公印, notes. */
export function attestationNode(head: DocumentHead, text: string, copy: number): Node {
  const office = `${head.city.prefecture}${head.city.name}長　${head.city.mayorName}`;
  return {
    unbreakable: true,
    margin: [0, 14, 0, 0],
    stack: [
      { text, font: TEXT_FONT, fontSize: 11, margin: [12, 0, 0, 8], id: attestationId(copy) },
      { text: formatWareki(head.issuedAt), font: TEXT_FONT, fontSize: 11, margin: [12, 0, 0, 6] },
      {
        columns: [
          { width: '*', text: office, font: DATA_FONT, fontSize: 13, alignment: 'right', margin: [0, SEAL_SIZE_PT / 2 - 8, 8, 0] },
          { width: SEAL_SIZE_PT, stack: [sealNode(head.city.name, DATA_FONT)] },
        ],
      },
      {
        columns: [
          { width: '*', text: COMMON_TEXT.kiosk, font: LABEL_FONT, fontSize: 8, margin: [0, 4, 0, 0] },
          { width: 'auto', text: COMMON_TEXT.sealNote, font: LABEL_FONT, fontSize: 7, margin: [0, 4, 0, 0], id: sealNoteId(copy) },
        ],
      },
    ],
  };
}

/** 地紋 on both sides (FORMS.md): an image under every page, so text extraction is unchanged. */
export function tintExtras(head: DocumentHead): object {
  return head.antiForgery
    ? { images: { [TINT_IMAGE]: tintTile(head.city.name) }, background: (_page: number, size: { width: number; height: number }) => tintBackground(TINT_IMAGE, size) }
    : {};
}

/** The back page of a copy (after its attestation), or nothing. */
export function backPageNodes(head: DocumentHead, copy: number): Node[] {
  if (!head.antiForgery) return [];
  // the id on the page's first node: a node with pageBreak also reports the page before it
  const [first, ...rest] = backPage(head.antiForgery);
  return [{ stack: [{ ...first, id: backPageId(copy) }, ...rest], pageBreak: 'before' }];
}

/** Where pdfmake put things, gathered while it lays the document out. */
export interface CopyLayout {
  pageCount: number;
  pagesOf: Map<string, number[]>;
}

export interface FrameSpec {
  /** The pages of one copy, without the attestation (it follows the last page's content). */
  pages: (copy: number) => Node[][];
  attestation: string;
}

/** The pdfmake document for all copies of a certificate. */
export function framedDocument(head: DocumentHead, spec: FrameSpec, layout?: CopyLayout): Node {
  assertCopiesInRange(head);
  const copies = head.copies;
  const content: Node[] = [];
  for (let copy = 1; copy <= copies; copy++) {
    const pages = spec.pages(copy);
    pages.forEach((page, i) => {
      // the id sits on the page's first node (pdfmake reports the pages of the node itself)
      const nodes = i === 0 ? [{ ...page[0], id: copyStartId(copy) }, ...page.slice(1)] : page;
      content.push({ stack: nodes, ...(copy > 1 || i > 0 ? { pageBreak: 'before' } : {}) });
    });
    content.push(attestationNode(head, spec.attestation, copy));
    // the back of the copy's last sheet: 2D code and 確認番号 (one per copy: a copy may be handed over alone)
    content.push(...backPageNodes(head, copy));
  }
  return pagedDocument(head, content, layout);
}

/**
 * The page shell every certificate shares: A4, the issuance line in the header of
 * every page ("k/n" per copy, or the back-page mark), the 地紋 when anti-forgery is
 * on, and the layout probe checkCopyLayout reads. Copies have identical content and
 * each starts on a new page, so each has pageCount / copies pages.
 */
export function pagedDocument(head: DocumentHead, content: Node[], layout?: CopyLayout): Node {
  const copies = head.copies;
  const back = head.antiForgery ? 1 : 0;
  return {
    pageSize: 'A4',
    pageOrientation: 'portrait',
    pageMargins: PAGE_MARGINS,
    version: '1.4',
    header: (currentPage: number, pageCount: number) => {
      if (layout) layout.pageCount = pageCount;
      const perCopy = Math.max(1, Math.floor(pageCount / copies));
      const copy = Math.min(copies, Math.floor((currentPage - 1) / perCopy) + 1);
      const page = currentPage - (copy - 1) * perCopy;
      const fronts = perCopy - back;
      return {
        text: back && page > fronts ? `${yyyymmdd(head.issuedAt)} ${head.city.name} ${head.issuanceId} ${copySerial(copy)} ${BACK_PAGE_MARK}` : issuanceLineOf(head, copy, page, fronts),
        font: DATA_FONT,
        fontSize: 8,
        alignment: 'right',
        margin: [42, 24, 42, 0],
      };
    },
    ...(layout
      ? {
          // called once per laid-out node after the final layout; never asks for a break
          pageBreakBefore: (node: { id?: unknown; pageNumbers?: number[] }) => {
            if (typeof node.id === 'string' && node.id.startsWith('konbini-')) layout.pagesOf.set(node.id, node.pageNumbers ?? []);
            return false;
          },
        }
      : {}),
    content,
    defaultStyle: { font: DATA_FONT, fontSize: 10 },
    ...tintExtras(head),
  };
}

/** Every copy has pageCount / copies pages, starts where it should, and ends with its attestation. */
export function checkFramedLayout(head: DocumentHead, layout: CopyLayout): void {
  const fail = (reason: string) => {
    throw new KonbiniError('INTERNAL', { issuanceId: head.issuanceId, reason: `copy-layout: ${reason}` });
  };
  const { pageCount, pagesOf } = layout;
  if (pageCount < head.copies || pageCount % head.copies !== 0) fail(`${pageCount} pages for ${head.copies} copies`);
  const perCopy = pageCount / head.copies;
  for (let copy = 1; copy <= head.copies; copy++) {
    const first = (copy - 1) * perCopy + 1;
    let last = copy * perCopy;
    if (head.antiForgery) {
      if (pagesOf.get(backPageId(copy))?.join() !== String(last)) fail(`back of copy ${copy} not on page ${last}`);
      last -= 1;
    }
    if (pagesOf.get(copyStartId(copy))?.[0] !== first) fail(`copy ${copy} does not start on page ${first}`);
    if (pagesOf.get(attestationId(copy))?.join() !== String(last)) fail(`attestation of copy ${copy} not on page ${last}`);
    if (pagesOf.get(sealNoteId(copy))?.join() !== String(last)) fail(`seal of copy ${copy} not on page ${last}`);
  }
}

/** 1234567 → 「1,234,567」 */
export function yen(n: number): string {
  return n.toLocaleString('en-US');
}
