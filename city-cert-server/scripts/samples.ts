/**
 * npm run samples: one sample of every certificate type and variant, rendered with
 * the production renderers (unsigned, binding placeholder left in), written to
 * var/samples/<name>.pdf and converted to PNG with `pdftoppm -png -r 80` for people
 * to look at. Fictional city and people only. Output is never committed (var/).
 *
 *   node --import=tsx --conditions=konbini-source city-cert-server/scripts/samples.ts [--out var/samples]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { drawSealPng, generateCityDataset, generateKosekiDataset, Prng } from '@konbini/fixtures';
import { KosekiStore, type KosekiDataset } from '../src/koseki/dataset.js';
import { fuhyoModel, kosekiModel } from '../src/koseki/model.js';
import { contentSha256, makeMark } from '../src/verify/mark.js';
import type { TaxRecord } from '@konbini/protocol';
import type { CertificateModel, RenderPerson, ResidentRecordModel, SealModel, TaxIncomeModel } from '../src/render/model.js';
import { renderCertificatePdf } from '../src/render/certificate.js';

const CITY = { code: '991015', name: '星見市', prefecture: '東雲県', mayorName: '春日　誠一郎' };
const ISSUED = new Date('2026-11-22T01:30:00Z');
const KATSU = '葛\u{E0102}';
const NABE = '邉\u{E0110}';

function jp(p: Partial<RenderPerson> & Pick<RenderPerson, 'familyName' | 'givenName' | 'familyNameKana' | 'givenNameKana' | 'birthDate' | 'sex' | 'relationship'>): RenderPerson {
  return {
    residentSince: '2015-04-01',
    addressSince: null,
    notifiedOn: '2015-04-03',
    previousAddress: '東雲県白砂市潮見区汐見台二丁目8番1号',
    honseki: '東雲県星見市本町一丁目1番地',
    kosekiHead: '髙橋　一郎',
    foreign: null,
    myNumber: null,
    ...p,
  };
}

const household: RenderPerson[] = [
  jp({ familyName: '髙橋', givenName: '一郎', familyNameKana: 'タカハシ', givenNameKana: 'イチロウ', birthDate: '1963-09-25', sex: 'male', relationship: '世帯主', myNumber: '123456789018' }),
  jp({ familyName: '髙橋', givenName: '花子', familyNameKana: 'タカハシ', givenNameKana: 'ハナコ', birthDate: '1966-02-11', sex: 'female', relationship: '妻', addressSince: '2019-05-01', myNumber: '234567890123' }),
  jp({ familyName: '髙橋', givenName: '𠮷之助', familyNameKana: 'タカハシ', givenNameKana: 'キチノスケ', birthDate: '1989-01-08', sex: 'male', relationship: '子', previousAddress: null, residentSince: '1989-01-08', notifiedOn: '1989-01-12', myNumber: '345678901234' }),
  jp({ familyName: '髙橋', givenName: `${KATSU}子`, familyNameKana: 'タカハシ', givenNameKana: 'カツコ', birthDate: '1992-07-07', sex: 'female', relationship: '子', previousAddress: null, myNumber: '456789012345' }),
  jp({ familyName: `渡${NABE}`, givenName: 'トメ', familyNameKana: 'ワタナベ', givenNameKana: 'トメ', birthDate: '1938-03-03', sex: 'female', relationship: '妻の母', honseki: '東雲県白砂市潮見区元浜町103番地の2', kosekiHead: `渡${NABE}　正`, myNumber: '567890123456' }),
];

const foreignPerson: RenderPerson = {
  familyName: '', givenName: '', familyNameKana: 'グエン', givenNameKana: 'ヴァン　アン', birthDate: '1990-03-14', sex: 'male', relationship: '世帯主',
  residentSince: '2023-04-10', addressSince: null, notifiedOn: '2023-04-12', previousAddress: 'ベトナム社会主義共和国', honseki: null, kosekiHead: null, myNumber: null,
  foreign: { nationality: 'ベトナム', alphabetName: 'NGUYEN VAN AN', residenceStatus: '技術・人文知識・国際業務', periodOfStay: '5年', periodExpiry: '2028-04-10', residenceCardNumber: 'AB12345678CD', category: '中長期在留者', becameResidentOn: '2023-04-10' },
};

function resident(id: string, persons: RenderPerson[], o: Partial<ResidentRecordModel['options']> & { certType?: ResidentRecordModel['certType']; copies?: number; address?: string; headName?: string }): ResidentRecordModel {
  return {
    certType: o.certType ?? 'resident-record',
    city: CITY,
    issuanceId: `0f1e2d3c-0000-4000-8000-${id.padStart(12, '0')}`,
    issuedAt: ISSUED,
    copies: o.copies ?? 1,
    address: o.address ?? '東雲県星見市緑町一丁目2番3号　メゾン青葉201号室',
    headName: o.headName ?? '髙橋　一郎',
    persons,
    options: {
      includeRelationship: o.includeRelationship ?? false,
      includeHonseki: o.includeHonseki ?? false,
      includeForeignDetails: o.includeForeignDetails ?? false,
      includeMyNumber: o.includeMyNumber ?? false,
      layout: o.layout ?? 'household',
    },
  };
}

const head = (id: string) => ({ city: CITY, issuanceId: `0f1e2d3c-0000-4000-8000-${id.padStart(12, '0')}`, issuedAt: ISSUED, copies: 1 });
const sealImage = (chars: number) => drawSealPng(chars, new Prng(20261122, `samples:seal:${chars}`));

function seal(id: string, foreign: boolean): SealModel {
  return foreign
    ? { ...head(id), certType: 'seal', familyName: '', givenName: '', familyNameKana: 'グエン', givenNameKana: 'ヴァン　アン', alphabetName: 'NGUYEN VAN AN', birthDate: '1990-03-14', sex: 'male', foreign: true, address: '東雲県星見市港町三丁目4番5号', sealNumber: '99101-000042', sealImagePng: sealImage(2), remarks: '' }
    : { ...head(id), certType: 'seal', familyName: `${KATSU}西`, givenName: '𠮷之助', familyNameKana: 'カサイ', givenNameKana: 'キチノスケ', alphabetName: null, birthDate: '1985-06-30', sex: 'male', foreign: false, address: '東雲県星見市緑町一丁目2番3号　メゾン青葉201号室', sealNumber: '99101-000007', sealImagePng: sealImage(2), remarks: '' };
}

const taxed: TaxRecord = {
  residentId: 'R000001', fiscalYear: 2026, assessmentAddress: '東雲県星見市緑町一丁目2番3号　メゾン青葉201号室', taxed: true,
  income: [{ kind: 'salary', revenue: 6_220_000, income: 4_536_000 }],
  totalIncome: 4_536_000,
  deductions: [{ kind: 'social-insurance', amount: 933_000 }, { kind: 'life-insurance', amount: 56_000 }, { kind: 'spouse', amount: 330_000 }, { kind: 'dependents', amount: 450_000 }, { kind: 'basic', amount: 430_000 }],
  totalDeductions: 2_199_000,
  dependents: { general: 0, specific: 1, elderly: 0, elderlyParentsLivingTogether: 0, under16: 1 },
  taxableIncome: 2_337_000,
  municipal: { incomeLevy: 140_200, perCapitaLevy: 3000, total: 143_200 },
  prefectural: { incomeLevy: 93_400, perCapitaLevy: 1000, total: 94_400 },
};
const pension: TaxRecord = {
  ...taxed, residentId: 'R000005', income: [{ kind: 'pension', revenue: 2_050_000, income: 950_000 }, { kind: 'salary', revenue: 900_000, income: 350_000 }], totalIncome: 1_300_000,
  deductions: [{ kind: 'social-insurance', amount: 164_000 }, { kind: 'medical', amount: 120_000 }, { kind: 'basic', amount: 430_000 }], totalDeductions: 714_000,
  dependents: { general: 0, specific: 0, elderly: 0, elderlyParentsLivingTogether: 0, under16: 0 }, taxableIncome: 586_000,
  municipal: { incomeLevy: 35_100, perCapitaLevy: 3000, total: 38_100 }, prefectural: { incomeLevy: 23_400, perCapitaLevy: 1000, total: 24_400 },
};
const nonTaxed: TaxRecord = {
  ...taxed, residentId: 'R000003', taxed: false, income: [{ kind: 'salary', revenue: 800_000, income: 250_000 }], totalIncome: 250_000,
  deductions: [{ kind: 'social-insurance', amount: 0 }, { kind: 'basic', amount: 430_000 }], totalDeductions: 430_000,
  dependents: { general: 0, specific: 0, elderly: 0, elderlyParentsLivingTogether: 0, under16: 0 }, taxableIncome: 0,
  municipal: { incomeLevy: 0, perCapitaLevy: 0, total: 0 }, prefectural: { incomeLevy: 0, perCapitaLevy: 0, total: 0 },
};
function tax(id: string, record: TaxRecord, who: 'jp' | 'foreign' = 'jp'): TaxIncomeModel {
  return who === 'jp'
    ? { ...head(id), certType: 'tax-income', familyName: '髙橋', givenName: '一郎', familyNameKana: 'タカハシ', givenNameKana: 'イチロウ', alphabetName: null, birthDate: '1963-09-25', foreign: false, record }
    : { ...head(id), certType: 'tax-income', familyName: '', givenName: '', familyNameKana: 'グエン', givenNameKana: 'ヴァン　アン', alphabetName: 'NGUYEN VAN AN', birthDate: '1990-03-14', foreign: true, record };
}

export const SAMPLES: [string, CertificateModel][] = [
  ['resident-record-household-all-options', resident('1', household, { includeRelationship: true, includeHonseki: true })],
  ['resident-record-household-omitted', resident('2', household.slice(0, 3), {})],
  ['resident-record-self', resident('3', household.slice(0, 1), { includeRelationship: true })],
  ['resident-record-individual-layout', resident('4', household.slice(0, 2), { includeRelationship: true, includeHonseki: true, layout: 'individual' })],
  ['resident-record-my-number', resident('5', household.slice(0, 2), { includeRelationship: true, includeMyNumber: true })],
  ['resident-record-foreign', resident('6', [foreignPerson], { includeRelationship: true, includeForeignDetails: true, address: '東雲県星見市港町三丁目4番5号', headName: 'NGUYEN VAN AN' })],
  ['resident-record-two-copies', resident('7', household.slice(0, 2), { includeRelationship: true, copies: 2 })],
  ['resident-entries-household', resident('8', household, { certType: 'resident-entries', includeRelationship: true })],
  ['resident-entries-self-honseki', resident('9', household.slice(0, 1), { certType: 'resident-entries', includeHonseki: true })],
  ['resident-entries-foreign', resident('10', [foreignPerson], { certType: 'resident-entries', includeForeignDetails: true, address: '東雲県星見市港町三丁目4番5号', headName: 'NGUYEN VAN AN' })],
  ['seal', seal('11', false)],
  ['seal-foreign', seal('12', true)],
  ['tax-income-salary', tax('13', taxed)],
  ['tax-income-pension', tax('14', pension)],
  ['tax-income-non-taxed', tax('15', nonTaxed)],
  ['tax-income-foreign', tax('16', taxed, 'foreign')],
];

/* ---- koseki types: the fixture city's registers (the fixtures generator, seeded) ---- */
const fixtureCity = generateCityDataset();
const kosekiStore = new KosekiStore(generateKosekiDataset(fixtureCity.generatedWithSeed, fixtureCity) as unknown as KosekiDataset);
const withRemoved = kosekiStore.dataset.koseki.find((k) => k.persons.some((p) => p.removed) && k.persons.some((p) => p.residentId && !p.removed))!;
const entryOf = (record: typeof withRemoved) => kosekiStore.entryOf(record.persons.find((p) => p.residentId && !p.removed)!.residentId!)!;
const first = entryOf(kosekiStore.dataset.koseki[0]!);
SAMPLES.push(
  ['koseki-full', kosekiModel(head('17'), first, 'koseki-full')],
  ['koseki-full-removed-person', kosekiModel(head('18'), entryOf(withRemoved), 'koseki-full')],
  ['koseki-individual', kosekiModel(head('19'), first, 'koseki-individual')],
  ['koseki-fuhyo-partial', fuhyoModel(head('20'), first, kosekiStore, false)],
  ['koseki-fuhyo-whole', fuhyoModel(head('21'), first, kosekiStore, true)],
);

/** As issued: with the anti-forgery marks (unsigned here: the 2D code says so). */
async function render(model: CertificateModel): Promise<Buffer> {
  const marked = { ...model, antiForgery: makeMark({ cityCode: CITY.code, issuanceId: model.issuanceId, verificationNumber: `${model.issuanceId.replace(/\D/g, '').slice(-16)}`.padStart(16, '1'), contentSha256: contentSha256(model) }, null) };
  return renderCertificatePdf(marked as CertificateModel);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'var/samples' } } });
  const out = resolve(values.out!);
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) if (/\.(pdf|png)$/.test(f)) rmSync(join(out, f));
  for (const [name, model] of SAMPLES) {
    const started = performance.now();
    const pdf = await render(model);
    const file = join(out, `${name}.pdf`);
    writeFileSync(file, pdf);
    execFileSync('pdftoppm', ['-png', '-r', '80', file, join(out, name)]);
    const pngs = readdirSync(out).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.png') && /-\d+\.png$/.test(f.slice(name.length)));
    console.log(`${name}: ${pngs.length} page(s), ${Math.round(performance.now() - started)} ms`);
  }
  console.log(`samples written: ${out}`);
}

// run as a script (npm run samples); imported (the render bench), it only lends its models
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(`samples: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
}
