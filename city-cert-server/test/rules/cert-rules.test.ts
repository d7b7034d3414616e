/** Each type rule and request check on its own: the code it answers and when it lets through. */
import t from 'tap';
import type { CertOptions, Resident } from '@konbini/protocol';
import {
  REQUEST_CHECKS,
  TYPE_RULES,
  allowedOptions,
  certTypeKnown,
  copiesInRange,
  fiscalYearKept,
  membersChosen,
  membersNotUnderSupportMeasure,
  optionsAllowed,
  runTypeRules,
  sealActive,
  sealRegistered,
  sealRegistrantEligible,
  taxRecordKept,
  type TypeContext,
} from '../../src/rules/cert-rules.js';
import type { SealRegistration } from '../../src/replica/seal.js';

const holder = { id: 'R1', birthDate: '1980-01-01', foreign: null, flags: [] as string[] } as Resident;
const foreigner = { id: 'R2', birthDate: '1990-01-01', foreign: { nationality: '英国' }, flags: [] as string[] } as Resident;
const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const seal = (over: Partial<SealRegistration> = {}): SealRegistration => ({
  residentId: 'R1', sealNumber: 'S1', status: 'active', registeredOn: '2010-01-01', abolishedOn: null, imagePng: png, ...over,
});
const ctx = (over: Partial<TypeContext> = {}): TypeContext => ({
  certType: 'seal', today: '2026-11-22', holder, seal: seal(), taxYears: [2026], allowMyNumber: false, ...over,
});
const req = (over: { certType?: unknown; copies?: unknown; options?: CertOptions } = {}) => ({ certType: 'resident-record', copies: 1, options: {}, ...over });

t.test('seal-registered: no registration → SEAL_NOT_REGISTERED', async (t) => {
  t.equal(sealRegistered.check(ctx({ seal: null })), 'SEAL_NOT_REGISTERED');
  t.equal(sealRegistered.check(ctx()), null);
});

t.test('seal-active: an abolished registration → SEAL_ABOLISHED', async (t) => {
  t.equal(sealActive.check(ctx({ seal: seal({ status: 'abolished', abolishedOn: '2026-11-01' }) })), 'SEAL_ABOLISHED');
  t.equal(sealActive.check(ctx()), null);
});

t.test('seal-registrant-eligible: only the registrant, 15+, with an 印影 to print', async (t) => {
  t.equal(sealRegistrantEligible.check(ctx()), null);
  t.equal(sealRegistrantEligible.check(ctx({ seal: seal({ residentId: 'R9' }) })), 'SEAL_REGISTRANT_INELIGIBLE', 'someone else’s registration');
  t.equal(sealRegistrantEligible.check(ctx({ holder: { ...holder, birthDate: '2012-11-23' } })), 'SEAL_REGISTRANT_INELIGIBLE', '14 years old');
  t.equal(sealRegistrantEligible.check(ctx({ holder: { ...holder, birthDate: '2011-11-22' } })), null, '15 today');
  t.equal(sealRegistrantEligible.check(ctx({ seal: seal({ imagePng: null }) })), 'SEAL_REGISTRANT_INELIGIBLE', 'no 印影 image');
});

t.test('tax-record-kept: no year kept → TAX_RECORD_MISSING', async (t) => {
  t.equal(taxRecordKept.check(ctx({ certType: 'tax-income', taxYears: [] })), 'TAX_RECORD_MISSING');
  t.equal(taxRecordKept.check(ctx({ certType: 'tax-income' })), null);
});

t.test('rules run only for their types, first refusal wins', async (t) => {
  t.same(runTypeRules(ctx({ seal: null, taxYears: [] })), { rule: 'seal-registered', code: 'SEAL_NOT_REGISTERED' });
  t.same(runTypeRules(ctx({ certType: 'tax-income', seal: null, taxYears: [] })), { rule: 'tax-record-kept', code: 'TAX_RECORD_MISSING' });
  t.equal(runTypeRules(ctx({ certType: 'resident-record', seal: null, taxYears: [] })), null, 'a 住民票 needs neither');
  t.same(runTypeRules(ctx({ seal: seal({ status: 'abolished', residentId: 'R9' }) })), { rule: 'seal-active', code: 'SEAL_ABOLISHED' });
  t.equal(new Set(TYPE_RULES.map((r) => r.name)).size, TYPE_RULES.length, 'rule names unique');
});

t.test('cert-type-known: unknown type → CERT_TYPE_UNKNOWN', async (t) => {
  t.equal(certTypeKnown.check(req({ certType: 'passport' }), null), 'CERT_TYPE_UNKNOWN');
  t.equal(certTypeKnown.check(req({ certType: 42 }), null), 'CERT_TYPE_UNKNOWN');
  t.equal(certTypeKnown.check(req({ certType: 'seal' }), null), null);
});

t.test('copies-in-range: 1-10 whole copies', async (t) => {
  for (const bad of [0, 11, -1, 1.5, '2', null]) t.equal(copiesInRange.check(req({ copies: bad }), null), 'COPIES_OUT_OF_RANGE', `copies ${String(bad)}`);
  for (const ok of [1, 10]) t.equal(copiesInRange.check(req({ copies: ok }), null), null);
});

t.test('options-allowed: by type, nationality and the city’s 個人番号 setting', async (t) => {
  const rr = ctx({ certType: 'resident-record' });
  t.equal(optionsAllowed.check(req({ options: { scope: 'household', includeRelationship: true, includeHonseki: true } }), rr), null);
  t.equal(optionsAllowed.check(req({ options: { includeForeignDetails: true } }), rr), 'OPTION_NOT_ALLOWED', '在留資格 for a national');
  t.equal(optionsAllowed.check(req({ options: { includeHonseki: false } }), ctx({ certType: 'resident-record', holder: foreigner })), 'OPTION_NOT_ALLOWED', '本籍 for a foreign resident');
  t.equal(optionsAllowed.check(req({ options: { includeMyNumber: true } }), rr), 'OPTION_NOT_ALLOWED', '個人番号 where the city does not allow it');
  t.equal(optionsAllowed.check(req({ options: { includeMyNumber: true } }), ctx({ certType: 'resident-record', allowMyNumber: true })), null, '個人番号 where it does');
  t.equal(optionsAllowed.check(req({ options: { fiscalYear: 2026 } }), rr), 'OPTION_NOT_ALLOWED', 'a fiscal year on a 住民票');
  t.equal(optionsAllowed.check(req({ options: { scope: 'household' } }), ctx({ certType: 'seal' })), 'OPTION_NOT_ALLOWED', 'a seal certificate has no options');
  t.equal(optionsAllowed.check(req({ options: { fiscalYear: 2026 } }), ctx({ certType: 'tax-income' })), null);
  t.equal(optionsAllowed.check(req({ options: { includeRelationship: true } }), ctx({ certType: 'tax-income' })), 'OPTION_NOT_ALLOWED');
  t.same(allowedOptions('resident-entries', foreigner, true), ['scope', 'includeRelationship', 'includeForeignDetails', 'includeMyNumber']);
  t.same(allowedOptions('resident-record', holder, false, 2), ['scope', 'members', 'includeRelationship', 'includeHonseki'], 'members offered in a household of two or more');
  t.same(allowedOptions('seal', holder, false, 5), [], 'never on a seal certificate');
  t.equal(optionsAllowed.check(req({ options: { scope: 'members', members: ['m0000000000000001'] } }), rr), null, 'a choice of members is judged by members-chosen');
  t.equal(optionsAllowed.check(req({ options: { members: ['m0000000000000001'] } }), ctx({ certType: 'tax-income' })), 'OPTION_NOT_ALLOWED');
});

t.test('members-chosen: scope and list together, non-empty, no repeats, all in the household now', async (t) => {
  const members = [{ ref: 'm00000000000000a1', resident: holder }, { ref: 'm00000000000000b2', resident: foreigner }];
  const rr = ctx({ certType: 'resident-record', members });
  const check = (options: CertOptions, c = rr) => membersChosen.check(req({ options }), c);
  t.equal(check({ scope: 'members', members: ['m00000000000000b2'] }), null);
  t.equal(check({ scope: 'members', members: ['m00000000000000b2', 'm00000000000000a1'] }), null, 'any order');
  t.equal(check({ scope: 'household' }), null, 'no choice: nothing to check');
  t.equal(check({ members: ['m00000000000000b2'] }), 'OPTION_NOT_ALLOWED', 'members without scope members');
  t.equal(check({ scope: 'self', members: ['m00000000000000b2'] }), 'OPTION_NOT_ALLOWED');
  t.equal(check({ scope: 'members' }), 'OPTION_NOT_ALLOWED', 'scope members without members');
  t.equal(check({ scope: 'members', members: [] }), 'OPTION_NOT_ALLOWED', 'an empty list');
  t.equal(check({ scope: 'members', members: ['m00000000000000b2', 'm00000000000000b2'] }), 'OPTION_NOT_ALLOWED', 'a repeat');
  t.equal(check({ scope: 'members', members: ['m00000000000000b2', 'm00000000000000c3'] }), 'HOUSEHOLD_MEMBER_GONE', 'one not in the household (any more)');
  t.equal(check({ scope: 'members', members: ['m00000000000000b2'] }, ctx({ certType: 'koseki-fuhyo', members })), 'OPTION_NOT_ALLOWED', 'not a koseki option');
  t.equal(check({ scope: 'members', members: ['m00000000000000b2'] }, ctx({ certType: 'resident-entries' })), 'HOUSEHOLD_MEMBER_GONE', 'no household known: nobody to choose');
});

t.test('members-not-under-support-measure: a member under DV等支援措置 is printed neither with the household nor by choice', async (t) => {
  const sheltered = { id: 'R3', birthDate: '1985-01-01', foreign: null, flags: ['support-measure'] } as unknown as Resident;
  const members = [{ ref: 'm00000000000000a1', resident: holder }, { ref: 'm00000000000000b2', resident: foreigner }, { ref: 'm00000000000000c3', resident: sheltered }];
  const rr = ctx({ certType: 'resident-record', members });
  const check = (options: CertOptions, c = rr) => membersNotUnderSupportMeasure.check(req({ options }), c);
  t.equal(check({ scope: 'household' }), 'SUPPORT_MEASURE', 'the whole household includes them');
  t.equal(check({ scope: 'members', members: ['m00000000000000a1', 'm00000000000000c3'] }), 'SUPPORT_MEASURE', 'chosen');
  t.equal(check({ scope: 'members', members: ['m00000000000000a1', 'm00000000000000b2'] }), null, 'the others may be chosen');
  t.equal(check({ scope: 'self' }), null, 'the holder alone');
  t.equal(check({}), null);
  t.equal(check({ scope: 'household' }, ctx({ certType: 'resident-record', members: members.slice(0, 2) })), null, 'nobody under the measure');
});

t.test('fiscal-year-kept: a year the city does not keep → TAX_RECORD_MISSING', async (t) => {
  const tax = ctx({ certType: 'tax-income', taxYears: [2026] });
  t.equal(fiscalYearKept.check(req({ options: { fiscalYear: 2025 } }), tax), 'TAX_RECORD_MISSING');
  t.equal(fiscalYearKept.check(req({ options: { fiscalYear: 2026 } }), tax), null);
  t.equal(fiscalYearKept.check(req({ options: {} }), tax), null, 'no year asked: the latest kept');
  t.same(REQUEST_CHECKS.map((c) => c.name), ['cert-type-known', 'copies-in-range', 'options-allowed', 'members-chosen', 'members-not-under-support-measure', 'fiscal-year-kept']);
});
