/**
 * Chosen household members (scope 'members') on 住民票 and 住民票記載事項証明書, on a
 * real (in-memory) replica: what the menu offers (references, 続柄, birth year, no
 * names), what the paper prints (exactly the chosen members, household order, read
 * back with pdftotext), and every bad choice refused with its code before anything
 * is reserved, including a member who left the household after the menu.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { MAX_HOUSEHOLD_MEMBERS, parseCityMenuResponse, type CityDataset, type CityIssueRequest, type HouseholdMember, type MenuItem } from '@konbini/protocol';
import { issue, menu, type IssuanceDeps } from '../../src/issuance/service.js';
import { loadDataset, migrate, openPgliteDb, type Db } from '../../src/replica/index.js';
import { renderAndBind } from '../../src/render/resident-record.js';
import { unprintable } from '../../src/render/fonts.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { testDataset, SERIAL } from '../helpers/dataset.js';
import { deltaFile } from '../sync/helpers.js';

const now = new Date();
const dir = mkdtempSync(join(tmpdir(), 'konbini-members-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The test city, with resident-entries offered and a lodger whose name no kiosk can print. */
function dataset(): CityDataset {
  const { dataset: d } = testDataset(now);
  d.city = { ...d.city, fees: { 'resident-record': 200, 'resident-entries': 200, seal: 200, 'tax-income': 300 } };
  d.residents.push({
    ...d.residents.find((r) => r.id === 'R0003')!,
    id: 'R0007', givenName: '\u{E001}', givenNameKana: 'ゲシュク', birthDate: '1999-09-09', relationship: '同居人',
  });
  return d;
}

async function open(): Promise<{ db: Db; deps: IssuanceDeps }> {
  const db = await openPgliteDb();
  await migrate(db);
  await loadDataset(db, dataset());
  const deps: IssuanceDeps = {
    db,
    printable: (text) => unprintable(text).length === 0,
    now: () => now,
    render: (model, hmac) => renderAndBind(model, hmac, null),
    log: pino({ level: 'silent' }),
  };
  return { db, deps };
}

const req = (cardSerial: string, certType: string, options: CityIssueRequest['options'] = {}): CityIssueRequest => ({
  issuanceId: randomUUID(), cardSerial, kioskId: 'K0001', certType, options, copies: 1,
});

function text(pdf: Buffer): string {
  const f = join(dir, `${randomUUID()}.pdf`);
  writeFileSync(f, pdf);
  return execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
}

/** Furigana of each 髙橋 member: printed only in the person's own rows (the header names the head without it). */
const KANA = { 一郎: 'イチロウ', 花子: 'ハナコ', 美咲: 'ミサキ', 次郎: 'ジロウ', トメ: 'トメ', 下宿人: 'ゲシュク' } as const;
type Who = keyof typeof KANA;

/** Which of the household's members the paper prints, in the order it prints them. */
function printed(pdf: Buffer): Who[] {
  const s = text(pdf);
  return (Object.keys(KANA) as Who[])
    .filter((w) => s.includes(KANA[w]))
    .sort((a, b) => s.indexOf(KANA[a]) - s.indexOf(KANA[b]));
}

async function takahashiMenu(deps: IssuanceDeps): Promise<{ record: MenuItem; entries: MenuItem; ref: (relation: string, birthYear: number) => string }> {
  const m = await menu(deps, { cardSerial: SERIAL.takahashi, kioskId: 'K0001' });
  const record = m.items.find((i) => i.certType === 'resident-record')!;
  const entries = m.items.find((i) => i.certType === 'resident-entries')!;
  const ref = (relation: string, birthYear: number) => record.members!.find((x) => x.relation === relation && x.birthYear === birthYear)!.ref;
  return { record, entries, ref };
}

t.test('menu: members listed by reference, 続柄 and birth year, in household order; no names; only households of two or more', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const { record, entries } = await takahashiMenu(deps);
  t.same(record.options, ['scope', 'members', 'includeRelationship', 'includeHonseki']);
  t.same(
    record.members!.map((x: HouseholdMember) => [x.relation, x.birthYear, x.self]),
    [['世帯主', 1975, true], ['妻', 1978, false], ['子', 2003, false], ['子', 2005, false], ['母', 1948, false], ['同居人', 1999, false]],
    'head, spouse, children by birth date, parent, others; the deceased father is not offered',
  );
  const refs = record.members!.map((x) => x.ref);
  t.ok(refs.every((r) => /^m[0-9a-f]{16}$/.test(r)), 'opaque references');
  t.equal(new Set(refs).size, refs.length, 'one per member');
  t.notOk(refs.includes(`m${createHash('sha256').update('R0002').digest('hex').slice(0, 16)}`), 'not a bare hash of a resident id');
  t.same(entries.members, record.members, 'the same references on 記載事項証明書');
  const again = await takahashiMenu(deps);
  t.same(again.record.members, record.members, 'stable from one menu to the next');
  const m = await menu(deps, { cardSerial: SERIAL.takahashi, kioskId: 'K0001' });
  t.notMatch(JSON.stringify(m), /髙橋|花子|ハナコ|R000\d|緑町|1978-06-10/, 'no name, resident id, address or full birth date');
  t.same(m.items.filter((i) => i.members).map((i) => i.certType), ['resident-record', 'resident-entries'], 'nothing to choose on other types');

  const single = await menu(deps, { cardSerial: SERIAL.foreign, kioskId: 'K0001' });
  const one = single.items.find((i) => i.certType === 'resident-record')!;
  t.notOk(one.members, 'a household of one: no members listed');
  t.notOk(one.options.includes('members'), 'and no members option');

  // another replica (another data key) gives the same person another reference
  const other = await open();
  t.teardown(() => other.db.close());
  const theirs = (await takahashiMenu(other.deps)).record.members!.map((x) => x.ref);
  t.notSame(theirs, refs, 'references are keyed by the city');
});

t.test('a household larger than a menu may list: no members offered, the menu stays valid', async (t) => {
  const { dataset: d } = testDataset(now);
  d.city = { ...d.city, fees: { 'resident-record': 200 } };
  const yoshida = d.residents.find((r) => r.id === 'R0010')!;
  for (let i = 0; i < MAX_HOUSEHOLD_MEMBERS - 1; i++) {
    d.residents.push({ ...yoshida, id: `R09${String(i).padStart(2, '0')}`, givenName: '同居', relationship: '同居人', birthDate: `19${50 + i}-01-01` });
  }
  const db = await openPgliteDb();
  t.teardown(() => db.close());
  await migrate(db);
  await loadDataset(db, d);
  const deps: IssuanceDeps = { db, printable: () => true, now: () => now, render: (m, h) => renderAndBind(m, h, null), log: pino({ level: 'silent' }) };
  const m = await menu(deps, { cardSerial: SERIAL.yoshida, kioskId: 'K0001' });
  const item = m.items.find((i) => i.certType === 'resident-record')!;
  t.notOk(item.members, `${MAX_HOUSEHOLD_MEMBERS + 1} members: none listed`);
  t.notOk(item.options.includes('members'));
  t.ok(parseCityMenuResponse(JSON.parse(JSON.stringify(m))), 'the centre accepts the menu');
});

t.test('the paper prints exactly the chosen members, in household order', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const { ref } = await takahashiMenu(deps);
  const mother = ref('母', 1948);
  const wife = ref('妻', 1978);
  const younger = ref('子', 2005);

  const r1 = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [mother, wife], includeRelationship: true }));
  t.same(printed(r1.pdf), ['花子', 'トメ'], 'spouse before parent whatever order the request names them; the holder is not printed unless chosen');
  const s1 = text(r1.pdf);
  t.match(s1, /住民票/);
  t.match(s1, /世帯主/, 'the header still names the head of household');

  const r2 = await issue(deps, req(SERIAL.takahashi, 'resident-entries', { scope: 'members', members: [younger, ref('世帯主', 1975)] }));
  t.same(printed(r2.pdf), ['一郎', '次郎']);
  t.match(text(r2.pdf), /住民票記載事項証明書/);

  const all = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [ref('世帯主', 1975), wife, ref('子', 2003), younger, mother] }));
  t.same(printed(all.pdf), ['一郎', '花子', '美咲', '次郎', 'トメ'], 'five of six on two pages');
  const self = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'self' }));
  t.same(printed(self.pdf), ['一郎'], 'scope self is still the holder alone');
});

t.test('the printable-characters check covers the chosen members only (as whole-household printing covers all)', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const { ref } = await takahashiMenu(deps);
  await t.rejects(issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'household' })), { code: 'UNPRINTABLE_CHARACTERS' }, 'the whole household includes the lodger');
  await t.rejects(issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [ref('同居人', 1999), ref('妻', 1978)] })), { code: 'UNPRINTABLE_CHARACTERS' });
  const ok = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [ref('妻', 1978)] }));
  t.same(printed(ok.pdf), ['花子'], 'without the lodger it prints');
});

t.test('bad choices: each refused with its code, nothing reserved', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const { ref } = await takahashiMenu(deps);
  const wife = ref('妻', 1978);
  const yoshidaChild = (await menu(deps, { cardSerial: SERIAL.yoshida, kioskId: 'K0001' })).items[0]!.members!.find((x) => !x.self)!.ref;
  const cases: [string, CityIssueRequest, string][] = [
    ['members without scope members', req(SERIAL.takahashi, 'resident-record', { members: [wife] }), 'OPTION_NOT_ALLOWED'],
    ['members with scope household', req(SERIAL.takahashi, 'resident-record', { scope: 'household', members: [wife] }), 'OPTION_NOT_ALLOWED'],
    ['scope members without members', req(SERIAL.takahashi, 'resident-record', { scope: 'members' }), 'OPTION_NOT_ALLOWED'],
    ['an empty list', req(SERIAL.takahashi, 'resident-entries', { scope: 'members', members: [] }), 'OPTION_NOT_ALLOWED'],
    ['the same member twice', req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife, wife] }), 'OPTION_NOT_ALLOWED'],
    ['members on a seal certificate', req(SERIAL.takahashi, 'seal', { members: [wife] }), 'OPTION_NOT_ALLOWED'],
    ['scope members on a tax certificate', req(SERIAL.takahashi, 'tax-income', { scope: 'members', members: [wife] }), 'OPTION_NOT_ALLOWED'],
    ['a reference nobody has', req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife, 'm0123456789abcdef'] }), 'HOUSEHOLD_MEMBER_GONE'],
    ['a member of another household', req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [yoshidaChild] }), 'HOUSEHOLD_MEMBER_GONE'],
    ['resident rules first: a household with a moving-out notice', req(SERIAL.movingHousehold, 'resident-record', { scope: 'members', members: [wife] }), 'RESIDENT_MOVING_OUT'],
    ['resident rules first: DV等支援措置', req(SERIAL.support, 'resident-record', { scope: 'members', members: [wife] }), 'SUPPORT_MEASURE'],
  ];
  for (const [name, r, code] of cases) await t.rejects(issue(deps, r), { name: 'KonbiniError', code }, name);
  const reserved = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM issuance_records');
  t.equal(reserved[0]!.n, 0, 'no refusal left an issuance record behind');
});

t.test('a member who leaves the household after the menu: HOUSEHOLD_MEMBER_GONE, the others still print', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const { ref } = await takahashiMenu(deps);
  const daughter = ref('子', 2003);
  const son = ref('子', 2005);
  const mother = ref('母', 1948);
  const wife = ref('妻', 1978);
  const apply = async (id: string, changes: object[]) => applyDelta(db, await parseDelta(deltaFile(id, changes)));
  await apply('m1', [
    { seq: 1, kind: 'household-change', notifiedOn: '2026-02-04', residentId: 'R0004', householdId: 'H101', relationship: '世帯主', effectiveOn: '2026-02-04', household: { id: 'H101', address: '東雲県星見市桜町九丁目8番7号', headId: 'R0004' } },
    { seq: 2, kind: 'move-out', notifiedOn: '2026-02-05', residentId: 'R0003', effectiveOn: '2026-02-05' },
    { seq: 3, kind: 'death', notifiedOn: '2026-02-06', residentId: 'R0005', effectiveOn: '2026-02-06' },
  ]);
  for (const [who, gone] of [['changed household', daughter], ['moved out of the city', son], ['died', mother]] as const) {
    await t.rejects(issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife, gone] })), { code: 'HOUSEHOLD_MEMBER_GONE' }, who);
  }
  const still = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife] }));
  t.same(printed(still.pdf), ['花子'], 'a reference of someone still there keeps naming them');
  const { record } = await takahashiMenu(deps);
  t.same(record.members!.map((x) => x.relation), ['世帯主', '妻', '同居人'], 'the next menu lists who is there now');
  t.equal(record.members!.find((x) => x.relation === '妻')!.ref, wife, 'with the same references');
});

t.test('a member under DV等支援措置: not offered, not printed with the household nor by choice; the others still print', async (t) => {
  const { db, deps } = await open();
  t.teardown(() => db.close());
  const before = await takahashiMenu(deps);
  const mother = before.ref('母', 1948);
  const wife = before.ref('妻', 1978);
  await applyDelta(db, await parseDelta(deltaFile('dv1', [{ seq: 1, kind: 'support-measure-set', notifiedOn: '2026-02-04', residentId: 'R0005' }])));
  const { record } = await takahashiMenu(deps);
  t.same(record.members!.map((x) => x.relation), ['世帯主', '妻', '子', '子', '同居人'], 'the next menu does not list the member under the measure');
  await t.rejects(issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'household' })), { code: 'SUPPORT_MEASURE' }, 'the whole household includes them');
  await t.rejects(issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife, mother] })), { code: 'SUPPORT_MEASURE' }, 'chosen from a menu taken before the measure');
  const ok = await issue(deps, req(SERIAL.takahashi, 'resident-record', { scope: 'members', members: [wife] }));
  t.same(printed(ok.pdf), ['花子'], 'the others may still be chosen');
});
