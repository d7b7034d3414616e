/**
 * The issuance service for every type this server renders, on a real (in-memory)
 * replica: menu per type, the PDF each type produces (read back with pdftotext), and
 * every bad input refused with its code before anything is reserved.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { CityDataset, CityIssueRequest, CityMenuResponse, TaxRecord } from '@konbini/protocol';
import { issue, menu, type IssuanceDeps } from '../../src/issuance/service.js';
import { loadDataset, migrate, openPgliteDb, type Db } from '../../src/replica/index.js';
import { renderAndBind } from '../../src/render/resident-record.js';
import { unprintable } from '../../src/render/fonts.js';
import { testDataset, SERIAL } from '../helpers/dataset.js';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAEklEQVR4nGNgYGD4z4AG/qMLAAr3Af/fZ1ZJAAAAAElFTkSuQmCC',
  'base64',
);

function tax(residentId: string, fiscalYear: number, taxed = true): TaxRecord {
  return {
    residentId, fiscalYear, assessmentAddress: '東雲県星見市緑町一丁目2番3号', taxed,
    income: [{ kind: 'salary', revenue: 5_000_000, income: 3_560_000 }], totalIncome: 3_560_000,
    deductions: [{ kind: 'social-insurance', amount: 750_000 }, { kind: 'basic', amount: 430_000 }], totalDeductions: 1_180_000,
    dependents: { general: 0, specific: 0, elderly: 0, elderlyParentsLivingTogether: 0, under16: 1 }, taxableIncome: 2_380_000,
    municipal: { incomeLevy: 142_800, perCapitaLevy: 3000, total: 145_800 }, prefectural: { incomeLevy: 95_200, perCapitaLevy: 1000, total: 96_200 },
  };
}

function dataset(now: Date, over: Partial<CityDataset['city']> = {}): CityDataset {
  const { dataset: d } = testDataset(now);
  d.city = { ...d.city, fees: { 'resident-record': 200, 'resident-entries': 200, seal: 200, 'tax-income': 300, 'koseki-full': 450 }, ...over };
  d.residents = d.residents.map((r, i) => ({ ...r, myNumber: `1234567890${String(i).padStart(2, '0')}` }));
  d.seals = [
    { residentId: 'R0001', sealNumber: 'S-0001', status: 'active', registeredOn: '2015-01-01', imagePng: PNG.toString('base64') },
    { residentId: 'R0010', sealNumber: 'S-0002', status: 'abolished', registeredOn: '2012-01-01', abolishedOn: '2026-01-10', imagePng: PNG.toString('base64') },
    // a registered seal whose holder's name the kiosk cannot print
    { residentId: 'R0070', sealNumber: 'S-0003', status: 'active', registeredOn: '2012-01-01', imagePng: PNG.toString('base64') },
  ];
  d.taxRecords = [tax('R0001', 2026), tax('R0001', 2025), tax('R0050', 2026, false), tax('R0070', 2026)];
  return d;
}

const now = new Date();
const dir = mkdtempSync(join(tmpdir(), 'konbini-cert-issuance-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function openWith(d: CityDataset): Promise<{ db: Db; deps: IssuanceDeps }> {
  const db = await openPgliteDb();
  await migrate(db);
  await loadDataset(db, d);
  const deps: IssuanceDeps = {
    db,
    printable: (text) => unprintable(text).length === 0,
    now: () => now,
    render: (model, hmac) => renderAndBind(model, hmac, null),
    log: pino({ level: 'silent' }),
  };
  return { db, deps };
}

const req = (cardSerial: string, certType: string, options: CityIssueRequest['options'] = {}, copies = 1): CityIssueRequest => ({
  issuanceId: randomUUID(), cardSerial, kioskId: 'K0001', certType, options, copies,
});

function text(pdf: Buffer): string {
  const f = join(dir, `${randomUUID()}.pdf`);
  writeFileSync(f, pdf);
  return execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
}

t.test('menu: each type with its own options, or the reason it cannot be taken', async (t) => {
  const { db, deps } = await openWith(dataset(now));
  t.teardown(() => db.close());
  const m: CityMenuResponse = await menu(deps, { cardSerial: SERIAL.takahashi, kioskId: 'K0001' });
  // the household's members to choose from: members.test.ts
  t.same(m.items.map(({ members, ...rest }) => ({ ...rest, ...(members ? { members: members.length } : {}) })), [
    { certType: 'resident-record', fee: 200, options: ['scope', 'members', 'includeRelationship', 'includeHonseki'], members: 5 },
    { certType: 'resident-entries', fee: 200, options: ['scope', 'members', 'includeRelationship', 'includeHonseki'], members: 5 },
    { certType: 'seal', fee: 200, options: [] },
    { certType: 'tax-income', fee: 300, options: ['fiscalYear'], fiscalYears: [2026, 2025] },
  ]);
  t.same(m.refusals.map((r) => [r.certType, r.code]), [
    ['koseki-full', 'CERT_TYPE_NOT_OFFERED'], ['koseki-individual', 'CERT_TYPE_NOT_OFFERED'], ['koseki-fuhyo', 'CERT_TYPE_NOT_OFFERED'],
  ]);
  const y = await menu(deps, { cardSerial: SERIAL.yoshida, kioskId: 'K0001' });
  t.same(y.refusals.filter((r) => r.certType === 'seal' || r.certType === 'tax-income'), [
    { certType: 'seal', code: 'SEAL_ABOLISHED' }, { certType: 'tax-income', code: 'TAX_RECORD_MISSING' },
  ]);
  t.notMatch(JSON.stringify(m), /髙橋|一郎|緑町|S-0001/, 'nothing personal in the menu');
});

t.test('every type renders: title, attestation, the holder, issuance number per copy', async (t) => {
  const { db, deps } = await openWith(dataset(now));
  t.teardown(() => db.close());
  const entries = text((await issue(deps, req(SERIAL.takahashi, 'resident-entries', { scope: 'household', includeRelationship: true }))).pdf);
  t.match(entries, /住民票記載事項証明書/);
  t.match(entries, /上記の事項は、住民票に記載されていることを証明する。/);
  t.notMatch(entries, /転入前住所|住民となった年月日/, 'only name, birth date, sex and the chosen entries');
  t.notMatch(entries, /源蔵/, 'removed persons never printed');

  const r = req(SERIAL.takahashi, 'seal', {}, 2);
  const seal = text((await issue(deps, r)).pdf);
  t.match(seal, /印鑑登録証明書/);
  t.match(seal, /この写しは、登録された印影と相違ないことを証明します。/);
  t.match(seal, /S-0001/);
  t.match(seal, new RegExp(`${r.issuanceId} 001 1/1`), 'copy 1');
  t.match(seal, new RegExp(`${r.issuanceId} 002 1/1`), 'copy 2 has its own number');

  const taxText = text((await issue(deps, req(SERIAL.takahashi, 'tax-income', {}))).pdf);
  t.match(taxText, /所得・課税証明書/);
  t.match(taxText, /令和8年度（令和7年分）/, 'the latest year by default');
  t.match(taxText, /145,800円/);
  t.match(taxText, /上記のとおり相違ないことを証明します。/);
  const older = text((await issue(deps, req(SERIAL.takahashi, 'tax-income', { fiscalYear: 2025 }))).pdf);
  t.match(older, /令和7年度（令和6年分）/);

  const nonTaxed = text((await issue(deps, req(SERIAL.foreign, 'tax-income'))).pdf);
  t.match(nonTaxed, /非課税証明書/);
  t.match(nonTaxed, /SMITH JOHN/);
});

t.test('個人番号: refused where the city does not allow it, printed where it does', async (t) => {
  const closed = await openWith(dataset(now));
  t.teardown(() => closed.db.close());
  await t.rejects(issue(closed.deps, req(SERIAL.takahashi, 'resident-record', { includeMyNumber: true })), { code: 'OPTION_NOT_ALLOWED' });
  const open = await openWith(dataset(now, { allowMyNumber: true }));
  t.teardown(() => open.db.close());
  const m = await menu(open.deps, { cardSerial: SERIAL.takahashi, kioskId: 'K0001' });
  t.ok(m.items[0]!.options.includes('includeMyNumber'), 'offered where allowed');
  const pdf = text((await issue(open.deps, req(SERIAL.takahashi, 'resident-record', { includeMyNumber: true }))).pdf);
  t.match(pdf, /個人番号/);
  t.match(pdf, /1234 5678 90\d\d/);
  t.notMatch(pdf, /住民票コード/, '住民票コード never');
  const without = text((await issue(open.deps, req(SERIAL.takahashi, 'resident-record', {}))).pdf);
  t.notMatch(without, /個人番号/, 'only on request');
});

t.test('bad input: each refused with its code, nothing reserved', async (t) => {
  const { db, deps } = await openWith(dataset(now));
  t.teardown(() => db.close());
  const cases: [string, CityIssueRequest, string][] = [
    ['unknown type', req(SERIAL.takahashi, 'passport'), 'CERT_TYPE_UNKNOWN'],
    ['koseki from the replica server', req(SERIAL.takahashi, 'koseki-full'), 'CERT_TYPE_NOT_OFFERED'],
    ['本籍 for a foreign resident', req(SERIAL.foreign, 'resident-record', { includeHonseki: true }), 'OPTION_NOT_ALLOWED'],
    ['在留資格 for a national', req(SERIAL.takahashi, 'resident-entries', { includeForeignDetails: true }), 'OPTION_NOT_ALLOWED'],
    ['an option the seal certificate does not have', req(SERIAL.takahashi, 'seal', { scope: 'household' }), 'OPTION_NOT_ALLOWED'],
    ['a fiscal year on a 住民票', req(SERIAL.takahashi, 'resident-record', { fiscalYear: 2026 }), 'OPTION_NOT_ALLOWED'],
    ['0 copies', req(SERIAL.takahashi, 'seal', {}, 0), 'COPIES_OUT_OF_RANGE'],
    ['11 copies', req(SERIAL.takahashi, 'tax-income', {}, 11), 'COPIES_OUT_OF_RANGE'],
    ['no tax record at all', req(SERIAL.yoshida, 'tax-income'), 'TAX_RECORD_MISSING'],
    ['no tax record for that year', req(SERIAL.takahashi, 'tax-income', { fiscalYear: 2024 }), 'TAX_RECORD_MISSING'],
    ['an abolished seal', req(SERIAL.yoshida, 'seal'), 'SEAL_ABOLISHED'],
    ['no seal registered', req(SERIAL.foreign, 'seal'), 'SEAL_NOT_REGISTERED'],
    ['a name outside the printable set (seal)', req(SERIAL.unprintable, 'seal'), 'UNPRINTABLE_CHARACTERS'],
    ['a name outside the printable set (tax)', req(SERIAL.unprintable, 'tax-income'), 'UNPRINTABLE_CHARACTERS'],
    ['a name outside the printable set (entries)', req(SERIAL.unprintable, 'resident-entries'), 'UNPRINTABLE_CHARACTERS'],
    ['resident rules first: DV等支援措置', req(SERIAL.support, 'seal'), 'SUPPORT_MEASURE'],
    ['resident rules first: under 15', req(SERIAL.yoshidaChild14, 'tax-income'), 'UNDER_15'],
  ];
  for (const [name, r, code] of cases) {
    await t.rejects(issue(deps, r), { name: 'KonbiniError', code }, name);
  }
  const reserved = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM issuance_records');
  t.equal(reserved[0]!.n, 0, 'no refusal left an issuance record behind');
});
