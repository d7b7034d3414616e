/**
 * 戸籍全部事項証明書 / 戸籍個人事項証明書 and 戸籍の附票の写し (FORMS.md): A4 portrait,
 * horizontal writing, Arabic numerals, itemised. Order: 本籍, 氏名 (筆頭者), 戸籍事項, then
 * per person 「戸籍に記録されている者」 (名, 名の振り仮名, 生年月日, 父, 母, 続柄) and the 身分事項;
 * a person removed from the register carries the 除籍 mark; 「以下余白」 after the last entry.
 * Rendered by the koseki server (role koseki), never by the replica.
 */
import {
  DATA_FONT,
  FRAME_LAYOUT,
  LABEL_FONT,
  TEXT_FONT,
  assertAllPrintable,
  dataCell,
  framedDocument,
  labelCell,
  titleNode,
  type CopyLayout,
  type Node,
} from './frame.js';
import type { FuhyoModel, KosekiModel, KosekiRenderPerson } from './model.js';
import { formatWareki } from './wareki.js';

/** Wording in one place (FORMS.md marks the individual and 附票 attestations as unsure). */
export const KOSEKI_TEXT = {
  fullTitle: '全部事項証明',
  individualTitle: '個人事項証明',
  fullDocumentTitle: '戸籍全部事項証明書',
  individualDocumentTitle: '戸籍個人事項証明書',
  fullAttestation: 'これは、戸籍に記録されている事項の全部を証明した書面である。',
  individualAttestation: 'これは、戸籍中の一部の者について記録されている事項の全部を証明した書面である。',
  fuhyoTitle: '戸籍の附票の写し',
  fuhyoPartialSubtitle: '（一部）',
  fuhyoAttestation: 'この写しは、戸籍の附票の原本と相違ないことを証明する。',
  recorded: '戸籍に記録されている者',
  removedMark: '除　籍',
  blankBelow: '以下余白',
} as const;

const SEX = { male: '男', female: '女' } as const;
/** Wide enough for 「戸籍に記録されている者」 on one line. */
const LABEL_W = 104;

function bracket(label: string, value: string): Node {
  return { text: [{ text: `【${label}】`, font: TEXT_FONT }, { text: value, font: DATA_FONT }], fontSize: 10, margin: [0, 0.5, 0, 0.5] };
}

const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v);
const printedValue = (v: string) => (isDate(v) ? formatWareki(v) : v);

function header(m: { honseki: string; head: string }, events?: KosekiModel['kosekiEvents'], headLabel = '氏　　名'): Node {
  const rows: Node[][] = [
    [labelCell('本　　籍', { fontSize: 10 }), { ...dataCell(m.honseki), colSpan: 2 }, {}],
    [labelCell(headLabel, { fontSize: 10 }), { ...dataCell(m.head), colSpan: 2 }, {}],
  ];
  if (events) {
    events.forEach((e, i) => {
      rows.push([
        i === 0 ? labelCell('戸籍事項', { fontSize: 10 }) : { text: '' },
        { text: `戸籍${e.kind}`, font: TEXT_FONT, fontSize: 10 },
        bracket(`${e.kind}日`, formatWareki(e.date)),
      ]);
    });
  }
  return { table: { widths: [LABEL_W, 44, '*'], body: rows }, layout: FRAME_LAYOUT };
}

function personBlock(p: KosekiRenderPerson): Node {
  const removed = p.removed
    ? { table: { widths: ['auto'], body: [[{ text: KOSEKI_TEXT.removedMark, font: LABEL_FONT, fontSize: 10, margin: [4, 1, 4, 1] }]] }, layout: { hLineWidth: () => 0.9, vLineWidth: () => 0.9 }, margin: [0, 6, 0, 0] }
    : { text: '' };
  const idRows: Node[] = [
    bracket('名', p.givenName),
    bracket('名の振り仮名', p.givenNameKana || '　'),
    {
      columns: [
        { width: '*', ...bracket('生年月日', formatWareki(p.birthDate)) },
        { width: 'auto', ...(p.spouseMark ? bracket('配偶者区分', p.spouseMark) : { text: '' }) },
      ],
    },
    bracket('父', p.father),
    bracket('母', p.mother),
    bracket('続柄', p.relationship),
  ];
  const rows: Node[][] = [
    [{ stack: [labelCell(KOSEKI_TEXT.recorded, { fontSize: 8.5 }), removed] }, { stack: idRows, colSpan: 2 }, {}],
  ];
  p.events.forEach((e, i) => {
    rows.push([
      i === 0 ? labelCell('身分事項', { fontSize: 10 }) : { text: '' },
      { text: e.kind, font: TEXT_FONT, fontSize: 10, margin: [0, 0.5, 0, 0] },
      { stack: [bracket(`${e.kind}日`, formatWareki(e.date)), ...e.details.map((d) => bracket(d.label, printedValue(d.value)))] },
    ]);
  });
  return { table: { widths: [LABEL_W, 44, '*'], body: rows, dontBreakRows: true }, layout: FRAME_LAYOUT, margin: [0, 8, 0, 0] };
}

const blankBelow = (): Node => ({ text: KOSEKI_TEXT.blankBelow, font: TEXT_FONT, fontSize: 10, alignment: 'center', margin: [0, 6, 0, 0] });

export function kosekiTexts(m: KosekiModel): string[] {
  const t = [m.honseki, m.head, m.city.name, m.city.prefecture, m.city.mayorName];
  for (const p of m.persons) {
    t.push(p.familyName, p.givenName, p.givenNameKana, p.father, p.mother, p.relationship);
    for (const e of p.events) for (const d of e.details) t.push(d.value);
  }
  return t;
}

export function kosekiTitle(m: KosekiModel): string {
  return m.certType === 'koseki-full' ? KOSEKI_TEXT.fullDocumentTitle : KOSEKI_TEXT.individualDocumentTitle;
}

export function kosekiDocument(m: KosekiModel, layout?: CopyLayout, extra?: object): Node {
  const full = m.certType === 'koseki-full';
  return {
    ...framedDocument(
      m,
      {
        pages: () => [[titleNode(full ? KOSEKI_TEXT.fullTitle : KOSEKI_TEXT.individualTitle), header(m, m.kosekiEvents), ...m.persons.map(personBlock), blankBelow()]],
        attestation: full ? KOSEKI_TEXT.fullAttestation : KOSEKI_TEXT.individualAttestation,
      },
      layout,
    ),
    ...extra,
  };
}

export function fuhyoTexts(m: FuhyoModel): string[] {
  const t = [m.honseki, m.head, m.city.name, m.city.prefecture, m.city.mayorName];
  for (const p of m.persons) t.push(p.familyName, p.givenName, ...p.addresses.map((a) => a.address));
  return t;
}

function fuhyoPerson(p: FuhyoModel['persons'][number]): Node {
  const rows: Node[][] = [
    [
      labelCell('氏名', { fontSize: 9 }),
      { stack: [dataCell(`${p.familyName}　${p.givenName}`, { fontSize: 12 }), ...(p.removed ? [{ text: `（${KOSEKI_TEXT.removedMark}）`, font: LABEL_FONT, fontSize: 8 }] : [])] },
      labelCell('生年月日', { fontSize: 9 }),
      dataCell(`${formatWareki(p.birthDate)}　${SEX[p.sex]}`, { fontSize: 10 }),
    ],
    [labelCell('住　所', { fontSize: 9, alignment: 'center' }), { ...labelCell('', {}), colSpan: 2 }, {}, labelCell('住所を定めた年月日', { fontSize: 9, alignment: 'center' })],
    ...p.addresses.map((a) => [{ ...dataCell(a.address, { fontSize: 10.5 }), colSpan: 3 }, {}, {}, dataCell(formatWareki(a.since), { fontSize: 10, alignment: 'center' })]),
  ];
  return { table: { widths: [60, '*', 52, 120], body: rows, dontBreakRows: true }, layout: FRAME_LAYOUT, margin: [0, 10, 0, 0] };
}

export function fuhyoDocument(m: FuhyoModel, layout?: CopyLayout, extra?: object): Node {
  return {
    ...framedDocument(
      m,
      {
        pages: () => [[titleNode(KOSEKI_TEXT.fuhyoTitle, undefined, m.partial ? KOSEKI_TEXT.fuhyoPartialSubtitle : undefined), header(m, undefined, '筆頭者氏名'), ...m.persons.map(fuhyoPerson), blankBelow()]],
        attestation: KOSEKI_TEXT.fuhyoAttestation,
      },
      layout,
    ),
    ...extra,
  };
}

export function assertKosekiPrintable(m: KosekiModel | FuhyoModel): void {
  assertAllPrintable(m.issuanceId, m.certType === 'koseki-fuhyo' ? fuhyoTexts(m) : kosekiTexts(m));
}
