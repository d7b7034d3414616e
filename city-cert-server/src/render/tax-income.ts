/**
 * 所得・課税証明書 (tax-income), FORMS.md: 「令和N年度（令和N-1年分）」, address on the
 * assessment date (January 1 of the 年度), 所得の内訳, 合計所得金額, 所得控除の内訳, 扶養人数,
 * 課税標準額, 市民税 and 県民税 each with 所得割, 均等割 and 年税額, 備考, attestation.
 * A person not taxed gets the title 「非課税証明書」.
 */
import type { DeductionKind, IncomeKind } from '@konbini/protocol';
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
  yen,
  type CopyLayout,
  type Node,
} from './frame.js';
import type { TaxIncomeModel } from './model.js';
import { formatSeireki, formatWareki } from './wareki.js';

export const TAX_TEXT = {
  title: '所得・課税証明書',
  titleNonTaxed: '非課税証明書',
  attestation: '上記のとおり相違ないことを証明します。',
} as const;

/** The kinds printed in 所得の内訳, always all of them, in this order. */
export const INCOME_ROWS: readonly [IncomeKind, string][] = [
  ['salary', '給与'],
  ['pension', '公的年金等'],
  ['business', '営業等'],
  ['real-estate', '不動産'],
  ['dividend', '配当'],
  ['miscellaneous', 'その他'],
];

export const DEDUCTION_ROWS: readonly [DeductionKind, string][] = [
  ['social-insurance', '社会保険料'],
  ['life-insurance', '生命保険料'],
  ['earthquake-insurance', '地震保険料'],
  ['medical', '医療費'],
  ['spouse', '配偶者'],
  ['dependents', '扶養'],
  ['disability', '障害者'],
  ['basic', '基礎'],
];

/** 「令和8年」 of a day. */
function eraYear(day: string): string {
  return formatWareki(day).replace(/年.*$/, '年');
}

/** 「令和8年度（令和7年分）」 */
export function fiscalYearHeading(fiscalYear: number): string {
  return `${eraYear(`${fiscalYear}-04-01`)}度（${eraYear(`${fiscalYear - 1}-12-31`)}分）`;
}

export function taxTitle(m: TaxIncomeModel): string {
  return m.record.taxed ? TAX_TEXT.title : TAX_TEXT.titleNonTaxed;
}

const amount = (n: number): Node => ({ text: `${yen(n)}円`, font: DATA_FONT, fontSize: 10, alignment: 'right' });
const small = (t: string, extra: Node = {}): Node => ({ text: t, font: LABEL_FONT, fontSize: 8, ...extra });
const section = (t: string): Node => ({ text: t, font: LABEL_FONT, fontSize: 9.5, margin: [0, 8, 0, 3] });

function body(m: TaxIncomeModel): Node[] {
  const r = m.record;
  const kanji = m.givenName ? `${m.familyName}　${m.givenName}` : m.familyName;
  const kana = m.givenNameKana ? `${m.familyNameKana}　${m.givenNameKana}` : m.familyNameKana;
  const names: Node[] = [{ text: kana, font: DATA_FONT, fontSize: 7.5 }];
  if (m.alphabetName) names.push({ text: m.alphabetName, font: DATA_FONT, fontSize: 11 });
  if (kanji && kanji !== m.alphabetName) names.push({ text: kanji, font: DATA_FONT, fontSize: 12 });
  const jan1 = `${r.fiscalYear}-01-01`;
  const head: Node = {
    table: {
      widths: [92, '*', 50, 110],
      body: [
        [{ stack: [labelCell('住所'), labelCell(`（${formatWareki(jan1)}現在）`, { fontSize: 6.5 })] }, { ...dataCell(r.assessmentAddress), colSpan: 3 }, {}, {}],
        [labelCell('氏名'), { stack: names }, labelCell('生年月日'), dataCell(m.foreign ? formatSeireki(m.birthDate) : formatWareki(m.birthDate), { fontSize: 10 })],
      ],
    },
    layout: FRAME_LAYOUT,
  };

  const incomeBy = new Map(r.income.map((i) => [i.kind, i]));
  const half = (CONTENT_WIDTH - 10) / 2;
  const incomeTable: Node = {
    table: {
      widths: [60, '*', '*'],
      headerRows: 1,
      body: [
        [small('所得の種類'), small('収入金額', { alignment: 'center' }), small('所得金額', { alignment: 'center' })],
        ...INCOME_ROWS.map(([kind, name]) => [small(name), amount(incomeBy.get(kind)?.revenue ?? 0), amount(incomeBy.get(kind)?.income ?? 0)]),
        [small('合計所得金額'), { text: '', colSpan: 1 }, amount(r.totalIncome)],
      ],
    },
    layout: FRAME_LAYOUT,
  };
  const deductionBy = new Map(r.deductions.map((d) => [d.kind, d.amount]));
  const deductionTable: Node = {
    table: {
      widths: [70, '*'],
      body: [
        ...DEDUCTION_ROWS.map(([kind, name]) => [small(`${name}控除`), amount(deductionBy.get(kind) ?? 0)]),
        [small('所得控除合計'), amount(r.totalDeductions)],
      ],
    },
    layout: FRAME_LAYOUT,
  };
  const d = r.dependents;
  const dependents: Node = {
    table: {
      widths: ['*', '*', '*', '*', '*'],
      body: [
        [small('一般', { alignment: 'center' }), small('特定', { alignment: 'center' }), small('老人', { alignment: 'center' }), small('同居老親', { alignment: 'center' }), small('16歳未満', { alignment: 'center' })],
        [d.general, d.specific, d.elderly, d.elderlyParentsLivingTogether, d.under16].map((n) => ({ text: `${n}人`, font: DATA_FONT, fontSize: 10, alignment: 'center' })),
      ],
    },
    layout: FRAME_LAYOUT,
  };
  const levyRow = (name: string, l: typeof r.municipal): Node[] => [small(name), amount(l.incomeLevy), amount(l.perCapitaLevy), amount(l.total)];
  const taxTable: Node = {
    table: {
      widths: [70, '*', '*', '*'],
      body: [
        [small('区分'), small('所得割額', { alignment: 'center' }), small('均等割額', { alignment: 'center' }), small('年税額', { alignment: 'center' })],
        levyRow('市民税', r.municipal),
        levyRow('県民税', r.prefectural),
        levyRow('合計', {
          incomeLevy: r.municipal.incomeLevy + r.prefectural.incomeLevy,
          perCapitaLevy: r.municipal.perCapitaLevy + r.prefectural.perCapitaLevy,
          total: r.municipal.total + r.prefectural.total,
        }),
      ],
    },
    layout: FRAME_LAYOUT,
  };
  const remarks = r.remarks ?? (r.taxed ? '' : '上記の者は、当該年度の市民税・県民税が課されていません。');
  return [
    head,
    {
      columns: [
        { width: half, stack: [section('所得の内訳'), incomeTable, section('扶養人数'), dependents] },
        { width: half, stack: [section('所得控除の内訳'), deductionTable] },
      ],
      columnGap: 10,
    },
    section('税額'),
    {
      table: { widths: [100, '*'], body: [[small('課税標準額'), amount(r.taxableIncome)]] },
      layout: FRAME_LAYOUT,
      margin: [0, 0, 0, 4],
    },
    taxTable,
    section('備考'),
    { table: { widths: ['*'], heights: [28], body: [[dataCell(remarks, { fontSize: 9.5 })]] }, layout: FRAME_LAYOUT },
  ];
}

export function taxIncomeTexts(m: TaxIncomeModel): string[] {
  return [m.familyName, m.givenName, m.familyNameKana, m.givenNameKana, m.record.assessmentAddress, m.record.remarks ?? '', ...(m.alphabetName ? [m.alphabetName] : []), m.city.name, m.city.prefecture, m.city.mayorName];
}

export function taxIncomeDocument(m: TaxIncomeModel, layout?: CopyLayout): Node {
  return framedDocument(
    m,
    { pages: () => [[titleNode(taxTitle(m), undefined, fiscalYearHeading(m.record.fiscalYear)), ...body(m)]], attestation: TAX_TEXT.attestation },
    layout,
  );
}

export function assertTaxPrintable(m: TaxIncomeModel): void {
  assertAllPrintable(m.issuanceId, taxIncomeTexts(m));
}
