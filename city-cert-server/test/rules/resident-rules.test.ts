import t from 'tap';
import type { Resident } from '@konbini/protocol';
import {
  RESIDENT_RULES,
  ageOn,
  cardLinkValid,
  cardLinked,
  minimumAge,
  notMovedInToday,
  printableCharacters,
  residentFlags,
  residentFound,
  residentStatus,
  runResidentRules,
  tokyoDate,
  type RuleContext,
} from '../../src/rules/index.js';

const today = '2026-11-22';
const holder: Resident = {
  id: 'R1', householdId: 'H1', familyName: '髙橋', givenName: '一郎', familyNameKana: 'タカハシ', givenNameKana: 'イチロウ',
  birthDate: '1975-04-01', sex: 'male', relationship: '世帯主', residentSince: '2010-04-01', addressSince: null, notifiedOn: '2010-04-01',
  previousAddress: null, honseki: null, kosekiHead: null, foreign: null, status: 'active', flags: [],
};
const spouse: Resident = { ...holder, id: 'R2', givenName: '花子', relationship: '妻', birthDate: '1978-01-01' };

function ctx(over: { holder?: Partial<Resident>; spouse?: Partial<Resident>; link?: RuleContext['link']; address?: string; printable?: (s: string) => boolean } = {}): RuleContext {
  const h = { ...holder, ...over.holder };
  const sp = { ...spouse, ...over.spouse };
  return {
    today,
    link: over.link === undefined ? { serial: 'ab', residentId: 'R1', validFrom: '2020-01-01' } : over.link,
    resident: h,
    household: { household: { id: 'H1', address: over.address ?? '東雲県星見市緑町一丁目2番3号', headId: 'R1' }, members: [h, sp] },
    printable: over.printable ?? ((s) => !s.includes('\u{E000}')),
  };
}

t.test('an eligible holder passes every rule', async (t) => {
  t.equal(runResidentRules(ctx()), null);
  t.same(RESIDENT_RULES.map((r) => r.name), [
    'card-linked', 'card-link-valid', 'resident-found', 'resident-status', 'resident-flags', 'minimum-age', 'not-moved-in-today', 'printable-characters',
  ]);
});

t.test('card-linked', async (t) => {
  t.equal(cardLinked.check(ctx({ link: null })), 'CARD_NOT_LINKED');
  t.equal(cardLinked.check(ctx()), null);
});

t.test('card-link-valid: from the day after issuance, in Tokyo', async (t) => {
  t.equal(cardLinkValid.check(ctx({ link: { serial: 'ab', residentId: 'R1', validFrom: '2026-11-23' } })), 'CARD_LINK_NOT_YET_VALID');
  t.equal(cardLinkValid.check(ctx({ link: { serial: 'ab', residentId: 'R1', validFrom: today } })), null);
  // 2026-11-22T15:30Z is already the 23rd in Tokyo
  t.equal(tokyoDate(new Date('2026-11-22T15:30:00Z')), '2026-11-23');
  t.equal(tokyoDate(new Date('2026-11-22T14:59:59Z')), '2026-11-22');
});

t.test('resident-found', async (t) => {
  t.equal(residentFound.check({ ...ctx(), resident: null, household: null }), 'RESIDENT_NOT_FOUND');
  t.equal(residentFound.check(ctx()), null);
});

t.test('resident-status', async (t) => {
  t.equal(residentStatus.check(ctx({ holder: { status: 'moved-out' } })), 'RESIDENT_MOVED_OUT');
  t.equal(residentStatus.check(ctx({ holder: { status: 'deceased' } })), 'RESIDENT_DECEASED');
  t.equal(residentStatus.check(ctx()), null);
});

t.test('resident-flags', async (t) => {
  t.equal(residentFlags.check(ctx({ holder: { flags: ['support-measure'] } })), 'SUPPORT_MEASURE');
  t.equal(residentFlags.check(ctx({ holder: { flags: ['moving-out', 'support-measure'] } })), 'SUPPORT_MEASURE', 'support measure explains first');
  t.equal(residentFlags.check(ctx({ holder: { flags: ['moving-out'] } })), 'RESIDENT_MOVING_OUT');
  t.equal(residentFlags.check(ctx({ spouse: { flags: ['moving-out'] } })), 'RESIDENT_MOVING_OUT', 'another household member');
  t.equal(residentFlags.check(ctx({ spouse: { flags: ['moving-out'], status: 'moved-out' } })), null, 'a member who already left');
  t.equal(residentFlags.check(ctx()), null);
});

t.test('minimum-age: 15 in Tokyo today', async (t) => {
  t.equal(minimumAge.check(ctx({ holder: { birthDate: '2011-11-23' } })), 'UNDER_15', 'turns 15 tomorrow');
  t.equal(minimumAge.check(ctx({ holder: { birthDate: '2011-11-22' } })), null, 'turns 15 today');
  t.equal(ageOn('2008-02-29', '2023-02-28'), 14);
  t.equal(ageOn('2008-02-29', '2023-03-01'), 15);
  t.equal(ageOn('2008-02-29', '2024-02-29'), 16);
});

t.test('not-moved-in-today', async (t) => {
  t.equal(notMovedInToday.check(ctx({ holder: { residentSince: today } })), 'MOVED_IN_TODAY');
  t.equal(notMovedInToday.check(ctx({ holder: { residentSince: '2026-11-21' } })), null);
});

t.test('printable-characters: holder name and household address', async (t) => {
  t.equal(printableCharacters.check(ctx({ holder: { familyName: '\u{E000}川' } })), 'UNPRINTABLE_CHARACTERS');
  t.equal(printableCharacters.check(ctx({ address: '東雲県\u{E000}市' })), 'UNPRINTABLE_CHARACTERS');
  t.equal(printableCharacters.check(ctx({ spouse: { givenName: '\u{E000}' } })), null, 'other members are checked when printed (issue time)');
  t.equal(printableCharacters.check(ctx()), null);
});

t.test('fixed order: the most basic reason wins', async (t) => {
  const r = runResidentRules(ctx({ holder: { status: 'deceased', flags: ['support-measure'], birthDate: '2020-01-01' } }));
  t.same(r, { rule: 'resident-status', code: 'RESIDENT_DECEASED' });
  t.same(runResidentRules(ctx({ link: null })), { rule: 'card-linked', code: 'CARD_NOT_LINKED' });
});
