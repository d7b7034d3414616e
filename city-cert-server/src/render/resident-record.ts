/**
 * 住民票の写し (resident-record), FORMS.md: A4 portrait, 世帯連記式 (up to 4 persons per
 * page) or 個人票, issuance number with n/total on every page, attestation with date,
 * title of office and seal once, on the last page.
 *
 * All `copies` copies of one issuance are one PDF (one document, one binding): the
 * copies follow one another, each complete and starting on a new page, so every copy
 * has the same number of pages. The issuance line names the copy (連番) and the page
 * within that copy; the layout is checked after rendering (see `checkCopyLayout`).
 */
import { BINDING_KEY, BINDING_PLACEHOLDER, KonbiniError, MAX_COPIES, MIN_COPIES, sealBinding, type Binding } from '@konbini/protocol';
import { renderPdf, unprintable, type RenderOptions } from './fonts.js';
import { renderCertificatePdf } from './certificate.js';
import type { CertificateModel, RenderPerson, ResidentRecordModel } from './model.js';
import { appendInfo } from './pdf-info.js';
import { SEAL_SIZE_PT, sealNode } from './seal.js';
import { formatSeireki, formatWareki } from './wareki.js';
import { backPageId, backPageNodes, issuanceLineOf, pagedDocument } from './frame.js';

/** Fixed wording, in one place (FORMS.md). */
export const RESIDENT_RECORD_TEXT = {
  title: '住民票',
  attestation: 'この写しは、住民票の原本と相違ないことを証明する。',
  sealNote: 'この印は黒色です',
  kiosk: 'コンビニ交付',
  blank: '【空欄】',
  documentTitle: '住民票の写し',
  documentSubject: '証明書（コンビニ交付）',
} as const;

/** 住民票記載事項証明書: same data as the copy, only the chosen entries, its own wording. */
export const RESIDENT_ENTRIES_TEXT = {
  title: '住民票記載事項証明書',
  attestation: '上記の事項は、住民票に記載されていることを証明する。',
  documentTitle: '住民票記載事項証明書',
} as const;

/** Title, attestation and PDF title of this model's type. */
export function residentTexts(model: ResidentRecordModel): { title: string; attestation: string; documentTitle: string } {
  return model.certType === 'resident-entries' ? RESIDENT_ENTRIES_TEXT : RESIDENT_RECORD_TEXT;
}

const OMITTED = '（省略）';

const DATA_FONT = 'IPAmj';
const LABEL_FONT = 'IPAexGothic';
const TEXT_FONT = 'IPAexMincho';

/** A4 width minus margins. */
const CONTENT_WIDTH = 595.28 - 42 - 42;
const NUMBER_COL = 16;
const DATA_COL = (CONTENT_WIDTH - NUMBER_COL) / 4;

const SEX = { male: '男', female: '女' } as const;

type Node = Record<string, unknown>;

function label(text: string): Node {
  return { text, font: LABEL_FONT, fontSize: 6.5, lineHeight: 1.15, margin: [0, 0, 0, 1] };
}

function field(name: string, value: string, opts: { fontSize?: number } = {}): Node {
  return {
    stack: [label(name), { text: value || ' ', font: DATA_FONT, fontSize: opts.fontSize ?? 9.5, lineHeight: 1.2 }],
  };
}

const EMPTY: Node = { text: '' };

function fullName(family: string, given: string): string {
  return given ? `${family}　${given}` : family;
}

function personRows(p: RenderPerson, index: number, model: ResidentRecordModel): Node[][] {
  const { includeRelationship, includeHonseki, includeForeignDetails, includeMyNumber } = model.options;
  const entries = model.certType === 'resident-entries';
  const f = p.foreign;
  const birth = f ? formatSeireki(p.birthDate) : formatWareki(p.birthDate);

  const kanjiName = fullName(p.familyName, p.givenName);
  const kana = fullName(p.familyNameKana, p.givenNameKana);
  const nameStack: Node[] = [label('氏名')];
  if (kana) nameStack.push({ text: kana, font: DATA_FONT, fontSize: 7, lineHeight: 1.1 });
  if (f) {
    nameStack.push({ text: f.alphabetName, font: DATA_FONT, fontSize: 12, lineHeight: 1.2 });
    if (kanjiName && kanjiName !== f.alphabetName) {
      nameStack.push({ text: kanjiName, font: DATA_FONT, fontSize: 12, lineHeight: 1.2 });
    }
  } else {
    nameStack.push({ text: kanjiName, font: DATA_FONT, fontSize: 14, lineHeight: 1.2 });
  }

  const rows: Node[][] = [];
  const numberCell = (rowSpan: number): Node => ({
    text: String(index + 1),
    font: LABEL_FONT,
    fontSize: 9,
    alignment: 'center',
    rowSpan,
    margin: [0, 4, 0, 0],
  });

  rows.push([
    EMPTY,
    { stack: nameStack, colSpan: 2 },
    EMPTY,
    field('生年月日', birth),
    field('性別', SEX[p.sex]),
  ]);
  if (entries) {
    // 記載事項証明書: name, birth date, sex (above) and only the entries asked for
    if (includeRelationship) rows.push([EMPTY, field('続柄', p.relationship), { text: '', colSpan: 3 }, EMPTY, EMPTY]);
  } else {
    rows.push([
      EMPTY,
      includeRelationship ? field('続柄', p.relationship) : field('続柄', OMITTED),
      field('住民となった年月日', formatWareki(p.residentSince)),
      field('住所を定めた年月日', p.addressSince ? formatWareki(p.addressSince) : RESIDENT_RECORD_TEXT.blank),
      field('届出の年月日', formatWareki(p.notifiedOn)),
    ]);
    rows.push([EMPTY, { ...field('転入前住所', p.previousAddress ?? ''), colSpan: 4 }, EMPTY, EMPTY, EMPTY]);
  }
  if (!f && includeHonseki) {
    rows.push([
      EMPTY,
      { ...field('本籍', p.honseki ?? ''), colSpan: 3 },
      EMPTY,
      EMPTY,
      field('筆頭者', p.kosekiHead ?? ''),
    ]);
  }
  if (f && includeForeignDetails) {
    rows.push([
      EMPTY,
      field('国籍・地域', f.nationality),
      field('在留資格', f.residenceStatus),
      field('在留期間', f.periodOfStay),
      field('在留期間の満了の日', formatSeireki(f.periodExpiry)),
    ]);
    rows.push([
      EMPTY,
      field('在留カードの番号', f.residenceCardNumber),
      field('外国人住民となった年月日', formatWareki(f.becameResidentOn)),
      { ...field('法第30条の45に規定する区分', f.category), colSpan: 2 },
      EMPTY,
    ]);
  }
  if (includeMyNumber && p.myNumber) {
    rows.push([EMPTY, { ...field('個人番号', p.myNumber.replace(/^(\d{4})(\d{4})(\d{4})$/, '$1 $2 $3')), colSpan: 4 }, EMPTY, EMPTY, EMPTY]);
  }
  rows[0]![0] = numberCell(rows.length);
  return rows;
}

function personTable(p: RenderPerson, index: number, model: ResidentRecordModel): Node {
  return {
    table: {
      // column widths exclude cell padding (4 + 4) and the ~3.4 pt of vertical rules
      widths: [NUMBER_COL - 8, DATA_COL - 9, DATA_COL - 9, DATA_COL - 9, DATA_COL - 9],
      body: personRows(p, index, model),
      dontBreakRows: true,
    },
    layout: {
      hLineWidth: (i: number, node: { table: { body: unknown[] } }) => (i === 0 || i === node.table.body.length ? 0.9 : 0.4),
      vLineWidth: (i: number) => (i === 0 || i === 5 ? 0.9 : 0.4),
      paddingLeft: () => 4,
      paddingRight: () => 4,
      paddingTop: () => 2,
      paddingBottom: () => 2,
    },
    unbreakable: true,
    margin: [0, 0, 0, 6],
  };
}

/** Node ids the layout check looks for (never printed). */
const copyStartId = (copy: number) => `konbini-copy-${copy}`;
const attestationId = (copy: number) => `konbini-attestation-${copy}`;
const sealNoteId = (copy: number) => `konbini-seal-note-${copy}`;

function pageHead(model: ResidentRecordModel, id?: string): Node[] {
  return [
    {
      text: residentTexts(model).title,
      font: LABEL_FONT,
      fontSize: model.certType === 'resident-entries' ? 20 : 24,
      alignment: 'center',
      characterSpacing: model.certType === 'resident-entries' ? 3 : 10,
      margin: [0, 0, 0, 10],
      ...(id ? { id } : {}),
    },
    {
      table: {
        widths: [52, '*'],
        body: [
          [{ text: '住所', font: LABEL_FONT, fontSize: 9, margin: [0, 2, 0, 0] }, { text: model.address, font: DATA_FONT, fontSize: 11 }],
          [
            { text: '世帯主', font: LABEL_FONT, fontSize: 9, margin: [0, 2, 0, 0] },
            model.options.includeRelationship
              ? { text: model.headName, font: DATA_FONT, fontSize: 11 }
              : { text: OMITTED, font: LABEL_FONT, fontSize: 9 },
          ],
        ],
      },
      layout: {
        hLineWidth: (i: number) => (i === 0 || i === 2 ? 0.9 : 0.4),
        vLineWidth: (i: number) => (i === 1 ? 0.4 : 0.9),
        paddingLeft: () => 5,
        paddingRight: () => 5,
        paddingTop: () => 4,
        paddingBottom: () => 4,
      },
      margin: [0, 0, 0, 10],
    },
  ];
}

function attestation(model: ResidentRecordModel, copy: number): Node {
  const office = `${model.city.prefecture}${model.city.name}長　${model.city.mayorName}`;
  return {
    unbreakable: true,
    margin: [0, 14, 0, 0],
    stack: [
      { text: residentTexts(model).attestation, font: TEXT_FONT, fontSize: 11, margin: [12, 0, 0, 8], id: attestationId(copy) },
      { text: formatWareki(model.issuedAt), font: TEXT_FONT, fontSize: 11, margin: [12, 0, 0, 6] },
      {
        columns: [
          { width: '*', text: office, font: DATA_FONT, fontSize: 13, alignment: 'right', margin: [0, SEAL_SIZE_PT / 2 - 8, 8, 0] },
          { width: SEAL_SIZE_PT, stack: [sealNode(model.city.name, DATA_FONT)] },
        ],
      },
      {
        columns: [
          { width: '*', text: RESIDENT_RECORD_TEXT.kiosk, font: LABEL_FONT, fontSize: 8, margin: [0, 4, 0, 0] },
          { width: 'auto', text: RESIDENT_RECORD_TEXT.sealNote, font: LABEL_FONT, fontSize: 7, margin: [0, 4, 0, 0], id: sealNoteId(copy) },
        ],
      },
    ],
  };
}

/** Every string that carries resident or city data (checked against IPAmj). */
function residentStrings(model: ResidentRecordModel): string[] {
  const out = [model.address, model.headName, model.city.name, model.city.prefecture, model.city.mayorName];
  for (const p of model.persons) {
    out.push(p.familyName, p.givenName, p.familyNameKana, p.givenNameKana, p.relationship);
    if (p.previousAddress) out.push(p.previousAddress);
    if (p.honseki) out.push(p.honseki);
    if (p.kosekiHead) out.push(p.kosekiHead);
    if (p.foreign) {
      const f = p.foreign;
      out.push(f.nationality, f.alphabetName, f.residenceStatus, f.periodOfStay, f.residenceCardNumber, f.category);
    }
  }
  return out;
}

/** Refuse (UNPRINTABLE_CHARACTERS) rather than print a wrong or missing character form. */
export function assertPrintable(model: ResidentRecordModel): void {
  let count = 0;
  for (const s of residentStrings(model)) count += unprintable(s).length;
  if (count > 0) throw new KonbiniError('UNPRINTABLE_CHARACTERS', { issuanceId: model.issuanceId, count });
}

export function personsPerPage(model: ResidentRecordModel): number {
  if (model.options.layout === 'individual') return 1;
  // 記載事項証明書 rows are short (name, birth date, sex and the chosen entries)
  return model.certType === 'resident-entries' ? 6 : 4;
}

/** 連番: the copy number, three digits (FORMS.md issuance number); one definition, in frame.ts. */
export { copySerial } from './frame.js';

/**
 * The issuance number printed on a page, FORMS.md:
 * `発行年月日 市区町村名 <issuance id> 連番 ページ/総ページ`, where 連番 is the copy and
 * the pages count within that copy.
 */
export function issuanceLine(model: ResidentRecordModel, copy: number, page: number, pagesPerCopy: number): string {
  return issuanceLineOf(model, copy, page, pagesPerCopy);
}

function assertCopies(model: ResidentRecordModel): void {
  const n = model.copies;
  if (!Number.isInteger(n) || n < MIN_COPIES || n > MAX_COPIES) {
    throw new KonbiniError('COPIES_OUT_OF_RANGE', { issuanceId: model.issuanceId, copies: n });
  }
}

/** Where pdfmake put things, gathered while it lays the document out. */
export interface CopyLayout {
  /** Total pages, as the header callback saw it. */
  pageCount: number;
  /** Node id → the pages it occupies. */
  pagesOf: Map<string, number[]>;
}

/** The content of one complete copy: title, header, persons, attestation. */
function oneCopy(model: ResidentRecordModel, copy: number): Node[] {
  const per = personsPerPage(model);
  const content: Node[] = [];
  for (let start = 0; start < model.persons.length; start += per) {
    const page: Node[] = [...pageHead(model, start === 0 ? copyStartId(copy) : undefined)];
    model.persons.slice(start, start + per).forEach((p, k) => page.push(personTable(p, start + k, model)));
    // every copy, and every page of persons, starts on a new page
    content.push({ stack: page, ...(copy > 1 || start > 0 ? { pageBreak: 'before' } : {}) });
  }
  content.push(attestation(model, copy));
  content.push(...backPageNodes(model, copy));
  return content;
}

/**
 * The pdfmake document for all copies. Pass `layout` to learn where pdfmake placed
 * each copy (used by `renderResidentRecord` to check the numbering it printed).
 */
export function residentRecordDocument(model: ResidentRecordModel, layout?: CopyLayout): Node {
  if (model.persons.length === 0) throw new KonbiniError('INTERNAL', { issuanceId: model.issuanceId, reason: 'no-persons' });
  assertCopies(model);
  const copies = model.copies;
  const content: Node[] = [];
  for (let copy = 1; copy <= copies; copy++) content.push(...oneCopy(model, copy));

  return pagedDocument(model, content, layout);
}

/**
 * Refuse to hand out a document whose printed numbering could be wrong: every copy
 * has pageCount / copies pages, starts on the first page of its range, and has its
 * attestation (with date, title of office, seal and seal note) on its own last page.
 */
export function checkCopyLayout(model: ResidentRecordModel, layout: CopyLayout): void {
  const fail = (reason: string) => {
    throw new KonbiniError('INTERNAL', { issuanceId: model.issuanceId, reason: `copy-layout: ${reason}` });
  };
  const { pageCount, pagesOf } = layout;
  if (pageCount < model.copies || pageCount % model.copies !== 0) fail(`${pageCount} pages for ${model.copies} copies`);
  const perCopy = pageCount / model.copies;
  const same = (a: number[] | undefined, b: number[]) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
  for (let copy = 1; copy <= model.copies; copy++) {
    const first = (copy - 1) * perCopy + 1;
    let last = copy * perCopy;
    if (model.antiForgery) {
      if (!same(pagesOf.get(backPageId(copy)), [last])) fail(`back of copy ${copy} not on page ${last}`);
      last -= 1;
    }
    if (!same(pagesOf.get(copyStartId(copy)), [first])) fail(`copy ${copy} does not start on page ${first}`);
    if (!same(pagesOf.get(attestationId(copy)), [last])) fail(`attestation of copy ${copy} not on page ${last}`);
    if (!same(pagesOf.get(sealNoteId(copy)), [last])) fail(`seal of copy ${copy} not on page ${last}`);
  }
}

/**
 * Render 住民票の写し: all `model.copies` copies in one PDF. The PDF carries the binding
 * placeholder (BINDING_PLACEHOLDER) in its Info dictionary, to be sealed with
 * `sealBinding` (see `renderAndBind`).
 */
export async function renderResidentRecord(model: ResidentRecordModel, options?: RenderOptions): Promise<Buffer> {
  assertPrintable(model);
  const layout: CopyLayout = { pageCount: 0, pagesOf: new Map() };
  const pdf = await renderPdf(residentRecordDocument(model, layout), options);
  checkCopyLayout(model, layout);
  return appendInfo(
    pdf,
    {
      Title: residentTexts(model).documentTitle,
      Subject: RESIDENT_RECORD_TEXT.documentSubject,
      Creator: 'konbini city-cert-server',
      Producer: 'pdfmake/pdfkit',
      CreationDate: model.issuedAt,
    },
    { [BINDING_KEY]: BINDING_PLACEHOLDER },
  );
}

/** What renderAndBind needs of the document signer (sign/signer.ts). */
export interface PdfSigner {
  prepare(pdf: Buffer, signingTime: Date): { pdf: Buffer; finish(final: Buffer): Buffer };
}

/**
 * Render all copies as one PDF, seal the binding (issuance id, card serial HMAC,
 * document hash) and, with a signer, sign it (PAdES). Order matters: the signature
 * field comes first (so the binding's document hash covers it), then the binding,
 * then the signature over everything but its own /Contents, binding included.
 */
export async function renderAndBind(
  model: CertificateModel,
  cardSerialHmacHex: string,
  signer?: PdfSigner | null,
): Promise<{ pdf: Buffer; binding: Binding }> {
  const pdf = await renderCertificatePdf(model);
  return bindAndSign(pdf, model, cardSerialHmacHex, signer);
}

/**
 * Seal the binding into rendered bytes and sign them (in the thread that holds the
 * token): the half of renderAndBind that stays out of the render workers.
 */
export function bindAndSign(
  pdf: Buffer,
  model: Pick<CertificateModel, 'issuanceId' | 'issuedAt'>,
  cardSerialHmacHex: string,
  signer?: PdfSigner | null,
): { pdf: Buffer; binding: Binding } {
  if (!signer) return sealBinding(pdf, model.issuanceId, cardSerialHmacHex);
  const prepared = signer.prepare(pdf, model.issuedAt);
  const sealed = sealBinding(prepared.pdf, model.issuanceId, cardSerialHmacHex);
  // intermediate copies hold the certificate too: no bytes outlive the one sent (DESIGN §5.5)
  pdf.fill(0);
  prepared.pdf.fill(0);
  return { pdf: prepared.finish(sealed.pdf), binding: sealed.binding };
}
