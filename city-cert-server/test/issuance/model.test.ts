import t from 'tap';
import type { Resident } from '@konbini/protocol';
import { householdOrder, printedPersons, printedTexts, residentRecordModel } from '../../src/issuance/model.js';

const base: Resident = {
  id: '', householdId: 'H1', familyName: '髙橋', givenName: '', familyNameKana: 'タカハシ', givenNameKana: '', birthDate: '2000-01-01',
  sex: 'male', relationship: '', residentSince: '2010-04-01', addressSince: null, notifiedOn: '2010-04-01', previousAddress: null,
  honseki: '東雲県星見市緑町一丁目2番', kosekiHead: '髙橋　一郎', foreign: null, status: 'active', flags: [],
};
const p = (id: string, givenName: string, relationship: string, birthDate: string, status: Resident['status'] = 'active'): Resident => ({ ...base, id, givenName, relationship, birthDate, status });

const members = [
  p('R7', '同居', '同居人', '1990-01-01'),
  p('R5', '母', '母', '1948-01-01'),
  p('R4', '次郎', '子', '2005-03-03'),
  p('R3', '双子B', '子', '2003-08-08'),
  p('R2', '双子A', '子', '2003-08-08'),
  p('R1', '一郎', '世帯主', '1975-04-01'),
  p('R6', '花子', '妻', '1978-06-10'),
  p('R8', '源蔵', '父', '1945-02-02', 'deceased'),
  p('R9', '去', '子', '2001-01-01', 'moved-out'),
];
const view = { household: { id: 'H1', address: '東雲県星見市緑町一丁目2番3号', headId: 'R1' }, members };

t.test('household order: head, spouse, children by birth (ties by id), parents, others', async (t) => {
  t.same(householdOrder(members.slice(0, 7), 'R1').map((m) => m.givenName), ['一郎', '花子', '双子A', '双子B', '次郎', '母', '同居']);
});

t.test('scope household prints active members only; self prints the holder', async (t) => {
  const holder = members.find((m) => m.id === 'R4')!;
  t.same(printedPersons(holder, view, 'household').map((m) => m.id), ['R1', 'R6', 'R2', 'R3', 'R4', 'R5', 'R7']);
  t.same(printedPersons(holder, view, 'self').map((m) => m.id), ['R4']);
  t.same(printedPersons(holder, view, undefined).map((m) => m.id), ['R4'], 'no scope: the holder only');
});

t.test('scope members prints exactly the chosen, in household order; never a removed person, never nobody', async (t) => {
  const holder = members.find((m) => m.id === 'R4')!;
  t.same(printedPersons(holder, view, 'members', new Set(['R7', 'R6', 'R2'])).map((m) => m.id), ['R6', 'R2', 'R7']);
  t.same(printedPersons(holder, view, 'members', new Set(['R5'])).map((m) => m.id), ['R5'], 'the holder only if chosen');
  t.throws(() => printedPersons(holder, view, 'members', new Set(['R6', 'R8'])), { code: 'HOUSEHOLD_MEMBER_GONE' }, 'a deceased member');
  t.throws(() => printedPersons(holder, view, 'members', new Set(['R9'])), { code: 'HOUSEHOLD_MEMBER_GONE' }, 'a member who moved out');
  t.throws(() => printedPersons(holder, view, 'members', new Set()), { code: 'HOUSEHOLD_MEMBER_GONE' }, 'nobody');
  t.throws(() => printedPersons(holder, view, 'members'), { code: 'HOUSEHOLD_MEMBER_GONE' });
});

t.test('model', async (t) => {
  const m = residentRecordModel({
    city: { code: '999997', name: '星見市', prefecture: '東雲県', mayorName: '星見　太陽' },
    issuanceId: '00000000-0000-4000-8000-000000000001',
    issuedAt: new Date('2026-11-22T01:00:00Z'),
    copies: 2,
    holder: members[2]!,
    view,
    options: { scope: 'household', includeRelationship: true },
  });
  t.equal(m.headName, '髙橋　一郎');
  t.equal(m.address, view.household.address);
  t.same([m.copyNumber, m.copies], [1, 2]);
  t.same(m.options, { includeRelationship: true, includeHonseki: false, includeForeignDetails: false, includeMyNumber: false });
  t.equal(m.certType, 'resident-record');
  t.notOk(m.persons.some((x) => x.givenName === '源蔵' || x.givenName === '去'));
  t.notOk('id' in m.persons[0]!, 'no resident ids on paper');
});

t.test('printed texts follow the options', async (t) => {
  const r = members[5]!;
  t.notOk(printedTexts(r, {}).includes('東雲県星見市緑町一丁目2番'));
  t.ok(printedTexts(r, { includeHonseki: true }).includes('東雲県星見市緑町一丁目2番'));
});
