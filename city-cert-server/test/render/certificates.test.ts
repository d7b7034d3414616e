/**
 * 印鑑登録証明書 and 所得・課税証明書 as printed: fixed wording, 和暦, issuance number with
 * page x/y per copy, 「コンビニ交付」, names with their exact IVS variant (proved by
 * rendering: the variant and the base character give different pixels), and refusals.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaxRecord } from '@konbini/protocol';
import { renderSealCertificate, renderTaxIncome } from '../../src/render/certificate.js';
import type { SealModel, TaxIncomeModel } from '../../src/render/model.js';
import { renderResidentRecord } from '../../src/render/resident-record.js';
import { bigHousehold, CITY, KATSURA_VARIANT } from './sample.js';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAEklEQVR4nGNgYGD4z4AG/qMLAAr3Af/fZ1ZJAAAAAElFTkSuQmCC', 'base64');
const head = { city: CITY, issuanceId: '0f1e2d3c-0000-4000-8000-000000000001', issuedAt: new Date('2026-11-21T23:30:00Z'), copies: 1 };
const seal = (over: Partial<SealModel> = {}): SealModel => ({
  ...head, certType: 'seal', familyName: `${KATSURA_VARIANT}西`, givenName: '𠮷之助', familyNameKana: 'カサイ', givenNameKana: 'キチノスケ', alphabetName: null,
  birthDate: '1985-06-30', sex: 'male', foreign: false, address: '青嵐県東雲市本町一丁目2番3号', sealNumber: '99201-000007', sealImagePng: PNG, remarks: '', ...over,
});
const record: TaxRecord = {
  residentId: 'R1', fiscalYear: 2026, assessmentAddress: '青嵐県東雲市本町一丁目2番3号', taxed: true,
  income: [{ kind: 'salary', revenue: 5_000_000, income: 3_560_000 }], totalIncome: 3_560_000,
  deductions: [{ kind: 'basic', amount: 430_000 }], totalDeductions: 430_000,
  dependents: { general: 1, specific: 0, elderly: 0, elderlyParentsLivingTogether: 0, under16: 2 }, taxableIncome: 3_130_000,
  municipal: { incomeLevy: 187_800, perCapitaLevy: 3000, total: 190_800 }, prefectural: { incomeLevy: 125_200, perCapitaLevy: 1000, total: 126_200 },
};
const tax = (over: Partial<TaxIncomeModel> = {}): TaxIncomeModel => ({
  ...head, certType: 'tax-income', familyName: `${KATSURA_VARIANT}西`, givenName: '一郎', familyNameKana: 'カサイ', givenNameKana: 'イチロウ', alphabetName: null,
  birthDate: '1963-09-25', foreign: false, record, ...over,
});

const dir = mkdtempSync(join(tmpdir(), 'konbini-certs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function text(pdf: Buffer): string {
  const f = join(dir, `t${++n}.pdf`);
  writeFileSync(f, pdf);
  return execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
}
function pixels(pdf: Buffer): Buffer {
  const base = join(dir, `p${++n}`);
  writeFileSync(`${base}.pdf`, pdf);
  execFileSync('pdftoppm', ['-gray', '-r', '100', '-singlefile', `${base}.pdf`, base]);
  return readFileSync(`${base}.pgm`);
}
function differing(a: Buffer, b: Buffer): number {
  let d = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (Math.abs(a[i]! - b[i]!) > 64) d++;
  return d;
}

t.test('印鑑登録証明書: wording, date, office, numbering per copy, kiosk mark', async (t) => {
  const out = text(await renderSealCertificate(seal({ copies: 2 })));
  for (const s of ['印鑑登録証明書', 'この写しは、登録された印影と相違ないことを証明します。', '令和8年11月22日', '青嵐県東雲市長', '朝比奈', 'コンビニ交付', 'この印は黒色です', '印影', '昭和60年6月30日', '99201-000007']) {
    t.ok(out.includes(s), s);
  }
  t.match(out, /20261122 東雲市 0f1e2d3c-0000-4000-8000-000000000001 001 1\/1/);
  t.match(out, /0f1e2d3c-0000-4000-8000-000000000001 002 1\/1/);
  t.equal(out.split('\f').filter((p) => p.trim()).length, 2, 'one page per copy');
});

t.test('所得・課税証明書 and 非課税証明書', async (t) => {
  const out = text(await renderTaxIncome(tax()));
  for (const s of ['所得・課税証明書', '令和8年度（令和7年分）', '令和8年1月1日現在', '給与', '5,000,000円', '3,560,000円', '課税標準額', '3,130,000円', '市民税', '県民税', '所得割額', '均等割額', '190,800円', '126,200円', '上記のとおり相違ないことを証明します。', 'コンビニ交付']) {
    t.ok(out.includes(s), s);
  }
  const non = text(await renderTaxIncome(tax({ record: { ...record, taxed: false } })));
  t.ok(non.includes('非課税証明書'));
  t.notOk(non.includes('所得・課税証明書'));
});

t.test('names print with their exact IVS variant on the new forms', async (t) => {
  const variant = pixels(await renderSealCertificate(seal()));
  const base = pixels(await renderSealCertificate(seal({ familyName: '葛西' })));
  t.ok(differing(variant, base) > 10, `seal: 葛+E0102 and 葛 differ on paper (${differing(variant, base)} px)`);
  const tv = pixels(await renderTaxIncome(tax()));
  const tb = pixels(await renderTaxIncome(tax({ familyName: '葛西' })));
  t.ok(differing(tv, tb) > 10, `tax: variant differs from base (${differing(tv, tb)} px)`);
});

t.test('refusals: unprintable name or address, copies out of range', async (t) => {
  await t.rejects(renderSealCertificate(seal({ givenName: '\u{E000}' })), { code: 'UNPRINTABLE_CHARACTERS' });
  await t.rejects(renderSealCertificate(seal({ address: '青嵐県東雲市\u{1F600}' })), { code: 'UNPRINTABLE_CHARACTERS' });
  await t.rejects(renderTaxIncome(tax({ record: { ...record, assessmentAddress: '葛\u{E0110}町' } })), { code: 'UNPRINTABLE_CHARACTERS' }, 'an unregistered variation sequence');
  await t.rejects(renderSealCertificate(seal({ copies: 0 })), { code: 'COPIES_OUT_OF_RANGE' });
  await t.rejects(renderTaxIncome(tax({ copies: 11 })), { code: 'COPIES_OUT_OF_RANGE' });
});

t.test('住民票記載事項証明書: own title and attestation, only the chosen entries', async (t) => {
  const m = bigHousehold();
  m.certType = 'resident-entries';
  m.options = { includeRelationship: false, includeHonseki: false, includeForeignDetails: false };
  const out = text(await renderResidentRecord(m));
  t.ok(out.includes('住民票記載事項証明書'));
  t.ok(out.includes('上記の事項は、住民票に記載されていることを証明する。'));
  t.notOk(out.includes('この写しは、住民票の原本と相違ないことを証明する。'));
  t.notOk(/転入前住所|本籍|続柄/.test(out), 'entries not asked for are not printed');
  t.ok(out.includes('（省略）'), '世帯主 omitted when not asked for');
});
