import t from 'tap';
import type { CityIssueRequest, Resident } from '@konbini/protocol';
import { buildMenu, checkIssueShape, checkOptions, residentRecordOptions } from '../../src/rules/offer.js';

const city = { code: '999997', name: '星見市', prefecture: '東雲県', mayorName: '星見　太陽' };
const fees = new Map([['resident-record', 200], ['seal', 200]]);
const national = { foreign: null } as Resident;
const foreign = { foreign: { nationality: '英国' } } as Resident;
const req = (over: Partial<CityIssueRequest>): CityIssueRequest => ({
  issuanceId: '00000000-0000-4000-8000-000000000001', cardSerial: 'ab', kioskId: 'K1', certType: 'resident-record', options: {}, copies: 1, ...over,
});

t.test('menu', async (t) => {
  const m = buildMenu(city, fees, national, null);
  t.same(m.city, { code: '999997', name: '星見市', prefecture: '東雲県' }, 'no mayor name or anything personal');
  t.same(m.items, [
    { certType: 'resident-record', fee: 200, options: ['scope', 'includeRelationship', 'includeHonseki'] },
    { certType: 'seal', fee: 200, options: [] },
  ]);
  t.equal(m.refusals.length, 5);
  t.ok(m.refusals.every((r) => r.code === 'CERT_TYPE_NOT_OFFERED'));
  const typeRefused = buildMenu(city, fees, national, null, (certType) => ({
    refusal: certType === 'seal' ? { rule: 'seal-active', code: 'SEAL_ABOLISHED' } : null,
    options: [],
  }));
  t.same(typeRefused.items.map((i) => i.certType), ['resident-record']);
  t.same(typeRefused.refusals.find((r) => r.certType === 'seal'), { certType: 'seal', code: 'SEAL_ABOLISHED' }, 'a type rule refusal is explained per type');
  const refused = buildMenu(city, fees, national, { rule: 'minimum-age', code: 'UNDER_15' });
  t.same(refused.items, []);
  t.same(refused.refusals[0], { certType: 'resident-record', code: 'UNDER_15' });
  const noFee = buildMenu(city, new Map(), national, null);
  t.same(noFee.items, [], 'a type without a fee in the table is not offered');
});

t.test('options by nationality', async (t) => {
  t.same(residentRecordOptions(national), ['scope', 'includeRelationship', 'includeHonseki']);
  t.same(residentRecordOptions(foreign), ['scope', 'includeRelationship', 'includeForeignDetails']);
  t.doesNotThrow(() => checkOptions(req({ options: { scope: 'self', includeHonseki: true } }), national));
  t.throws(() => checkOptions(req({ options: { includeForeignDetails: true } }), national), { code: 'OPTION_NOT_ALLOWED' });
  t.throws(() => checkOptions(req({ options: { includeHonseki: false } }), foreign), { code: 'OPTION_NOT_ALLOWED' });
  t.throws(() => checkOptions(req({ options: { includeMyNumber: true } }), national), { code: 'OPTION_NOT_ALLOWED' });
});

t.test('request shape: type, then offer, then copies', async (t) => {
  t.same(checkIssueShape(req({ copies: 10 }), fees), { certType: 'resident-record', feePerCopy: 200 });
  t.throws(() => checkIssueShape(req({ certType: 'passport', copies: 11 }), fees), { code: 'CERT_TYPE_UNKNOWN' });
  t.throws(() => checkIssueShape(req({ certType: 'resident-entries' }), fees), { code: 'CERT_TYPE_NOT_OFFERED' }, 'no fee: not offered');
  t.throws(() => checkIssueShape(req({ certType: 'koseki-full' }), new Map([['koseki-full', 350]])), { code: 'CERT_TYPE_NOT_OFFERED' }, 'koseki types are not made here');
  t.throws(() => checkIssueShape(req({ copies: 11 }), fees), { code: 'COPIES_OUT_OF_RANGE' });
  t.throws(() => checkIssueShape(req({ copies: 0 }), fees), { code: 'COPIES_OUT_OF_RANGE' });
  t.throws(() => checkIssueShape(req({ copies: 1.5 }), fees), { code: 'COPIES_OUT_OF_RANGE' });
});
