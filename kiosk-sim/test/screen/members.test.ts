/**
 * Choosing household members (issue 7, protocol commit 44f0c3f): 本人のみ / 世帯全員 /
 * 世帯の一部, one large toggle per member labelled by 続柄 and year of birth, the
 * card holder marked, at least one member before going on, and the confirmation
 * saying how many are on the certificate. See test/helpers/household.ts for how the
 * menu gets its members while the city does not list them yet.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IssueRequest } from '@konbini/protocol';
import { cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';
import { householdLine, householdOf } from '../helpers/household.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const ok = cardFor('ok');

t.test('世帯の一部: pick the spouse and one child by 続柄 and year, confirm says 2人, the request names exactly them, printed', async (t) => {
  const line = householdLine(() => env.stack.connect(), householdOf(env.stack.dataset, ok.residentId));
  const k = await env.open({ prefix: 'members', connect: line.connect });
  t.teardown(() => k.close());
  const p = k.page;
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  t.comment(line.injected ? 'the city does not list members yet: the menu carries the household from the fixtures' : 'members as the city lists them');
  const members = line.members;
  t.ok(members.length >= 3, `a household of ${members.length}`);
  const holder = env.stack.dataset.residents.find((r) => r.id === ok.residentId)!;
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  const scopeLabels = await p.locator('#kiosk [data-key="scope"]').allTextContents();
  t.same(scopeLabels, ['本人のみ', '世帯全員', '世帯の一部（選んで指定）'], 'three choices of who is on it');
  await k.tap('#kiosk [data-key="scope"][data-value=\'"members"\']');
  await p.waitForSelector('[data-key="scope"][data-value=\'"members"\'][aria-pressed="true"]');
  t.match(await p.textContent('[data-testid="members-next"]'), /「次へ」のあと、証明書に載せる人を選びます/, 'told what comes next');
  t.same(await p.$eval('#screen', (el) => [el.scrollHeight, el.clientHeight]), await p.$eval('#screen', (el) => [el.clientHeight, el.clientHeight]), 'the options screen needs no scrolling');
  await k.shot('01-options');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('members');

  // One toggle per member, labelled without names: 続柄, 和暦 (西暦), the holder marked.
  const buttons = p.locator('#kiosk [data-action="set-member"]');
  t.equal(await buttons.count(), members.length, 'one button per member');
  const self = members.find((m) => m.self)!;
  const selfText = (await p.locator(`#kiosk [data-ref="${self.ref}"]`).textContent())!;
  t.match(selfText, /ご本人/, 'the card holder is marked');
  t.match(selfText, new RegExp(`${self.relation}`));
  t.match(selfText, /昭和54年（1979年）生まれ/, '和暦 with 西暦');
  t.notOk((await p.textContent('#screen'))!.includes(holder.givenName), 'no names on the screen');
  t.equal(await p.locator('#kiosk .you').count(), 1, 'only one member is "ご本人"');
  t.same(await k.smallTargets(), [], 'touch targets at least 48 px');
  t.equal(await p.getAttribute('#kiosk [data-action="members-ok"]', 'disabled'), '', 'next is disabled with nobody chosen');
  t.match(await p.textContent('[data-testid="picked-count"]'), /1人以上選んでください/, 'told why');
  t.same(await k.post({ action: 'members-ok' }), { ok: false, reason: 'invalid' }, 'the kiosk itself refuses to go on with nobody');
  await k.shot('02-members-none');

  const wife = members.find((m) => m.relation === '妻')!;
  const children = members.filter((m) => m.relation === '子');
  const child = children[children.length - 1]!;
  // Tapped child first, then the spouse. A double tap sends what the button showed
  // twice ("choose"), so it cannot undo itself: both taps as the page would post them.
  await p.click(`#kiosk [data-ref="${child.ref}"]`);
  await p.waitForSelector(`#kiosk [data-ref="${child.ref}"][aria-pressed="true"]`);
  t.same(await k.post({ action: 'set-member', ref: child.ref, on: true }), { ok: true }, 'the second tap of a double tap');
  await p.click(`#kiosk [data-ref="${wife.ref}"]`);
  await p.waitForSelector(`#kiosk [data-ref="${wife.ref}"][aria-pressed="true"]`);
  await p.waitForTimeout(200);
  t.equal(await p.getAttribute(`#kiosk [data-ref="${child.ref}"]`, 'aria-pressed'), 'true', 'a double tap is not two toggles');
  t.match(await p.textContent('[data-testid="picked-count"]'), /選んだ人：2人/);
  t.match(await p.textContent(`#kiosk [data-ref="${child.ref}"]`), new RegExp(`（${child.birthYear}年）生まれ`));
  await k.shot('03-members-two');
  // Take one off and put it back: the selection follows.
  await p.click(`#kiosk [data-ref="${wife.ref}"]`);
  await p.waitForSelector(`#kiosk [data-ref="${wife.ref}"][aria-pressed="false"]`);
  t.match(await p.textContent('[data-testid="picked-count"]'), /選んだ人：1人/);
  await p.click(`#kiosk [data-ref="${wife.ref}"]`);
  await p.waitForSelector(`#kiosk [data-ref="${wife.ref}"][aria-pressed="true"]`);

  // Back to the options and forth again: the selection is kept.
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('options');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('members');
  t.equal(await p.locator('#kiosk [data-action="set-member"][aria-pressed="true"]').count(), 2, 'still two chosen');
  await k.tap('#kiosk [data-action="members-ok"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  const confirm = (await p.textContent('#screen'))!;
  t.match(confirm, /世帯の一部/);
  t.equal(await p.textContent('[data-testid="member-count"]'), '2人', 'the confirmation says how many');
  t.equal(await p.locator('#kiosk ul.picked li').count(), 2, 'and lists who');
  t.notOk(/ご本人/.test(confirm), 'the holder was not chosen, and the confirmation does not say so');
  await k.shot('04-confirm');

  // English: the same choice reads in English, with the Japanese term as printed.
  await k.tap('#kiosk [data-lang="en"]');
  await p.waitForFunction(() => /Some members/.test(document.getElementById('screen')!.textContent!));
  t.equal(await p.textContent('[data-testid="member-count"]'), '2 people');
  t.match(await p.textContent('#screen'), /Wife \(妻\)/);
  await k.shot('05-confirm-en');
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('members');
  t.match(await p.textContent(`#kiosk [data-ref="${self.ref}"]`), /You/);
  t.match(await p.textContent(`#kiosk [data-ref="${self.ref}"]`), /born 1979/);
  await k.shot('06-members-en');
  // Every language: the labels fit their buttons (no text cut off or spilling out).
  for (const lang of ['zh', 'ko', 'pt', 'es', 'vi', 'ja']) {
    await k.tap(`#kiosk [data-lang="${lang}"]`);
    await p.waitForSelector(`#kiosk [data-lang="${lang}"][aria-pressed="true"]`);
    const spill = await p.$$eval('#kiosk [data-action="set-member"], #kiosk .members-head p', (els) =>
      els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1).map((e) => e.textContent));
    t.same(spill, [], `${lang}: every label fits`);
    t.equal(await p.locator('#kiosk .you').count(), 1, `${lang}: the holder marked`);
    await k.shot(`07-members-${lang}`);
  }
  await p.waitForFunction(() => /証明書に載せる人/.test(document.getElementById('screen')!.textContent!));
  await k.tap('#kiosk [data-action="members-ok"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');

  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('received');
  const request = line.sent.find((m): m is IssueRequest => m.type === 'issue.request')!;
  t.equal(request.options.scope, 'members');
  t.same(request.options.members, members.filter((m) => m === wife || m === child).map((m) => m.ref), 'exactly the two chosen, in the menu order');
  await k.tap('#kiosk [data-action="to-pay"]');
  await k.shows('pay');
  const fee = k.screen.kiosk.state.pay!.fee;
  await k.coins(Array.from({ length: Math.ceil(fee / 100) }, () => 100));
  await k.tap('#kiosk [data-action="pay"]');
  await k.shows('remove-card');
  await k.remove();
  await k.shows('take');
  await k.screen.kiosk.idle();
  t.equal(k.screen.kiosk.results.length, 1, 'printed');
  const sheets = filesUnder(k.screen.trayDir);
  t.equal(sheets.length, 1);
  t.equal(readFileSync(sheets[0]!).subarray(0, 5).toString(), '%PDF-');
  t.same(filesUnder(k.screen.spoolDir), [], 'spool wiped');
  if (!line.injected) {
    // The city took the members: the paper names the two chosen and nobody else.
    const text = execFileSync('pdftotext', ['-layout', sheets[0]!, '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
    const nameOf = (m: (typeof members)[number]) =>
      env.stack.dataset.residents.find((x) => x.householdId === holder.householdId && x.relationship === m.relation && x.birthDate.startsWith(String(m.birthYear)))!.givenName;
    for (const m of members) {
      const chosen = m === wife || m === child;
      t.equal(text.includes(nameOf(m)), chosen, `${m.relation} ${m.birthYear} ${chosen ? 'is' : 'is not'} on the paper`);
    }
  } else t.comment('the city does not take members yet: the paper holds the whole household');
});

t.test('whole household and only-me need no picking; switching scope drops the members from the request', async (t) => {
  const line = householdLine(() => env.stack.connect(), householdOf(env.stack.dataset, ok.residentId));
  const k = await env.open({ prefix: 'members-scope', connect: line.connect });
  t.teardown(() => k.close());
  const p = k.page;
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-key="scope"][data-value=\'"members"\']');
  await p.waitForSelector('[data-key="scope"][data-value=\'"members"\'][aria-pressed="true"]');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('members');
  await p.click(`#kiosk [data-ref="${line.members[0]!.ref}"]`);
  await p.waitForSelector(`#kiosk [data-ref="${line.members[0]!.ref}"][aria-pressed="true"]`);
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('options');
  await k.tap('#kiosk [data-key="scope"][data-value=\'"household"\']');
  await p.waitForSelector('[data-key="scope"][data-value=\'"household"\'][aria-pressed="true"]');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('copies', 5000);
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  t.equal(await p.textContent('[data-testid="member-count"]'), `${line.members.length}人`, '世帯全員 says how many too');
  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('received');
  const request = line.sent.find((m): m is IssueRequest => m.type === 'issue.request')!;
  t.equal(request.options.scope, 'household');
  t.notOk('members' in request.options, 'no members with the whole household');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});

t.test('a household of one offers no 世帯の一部', async (t) => {
  const line = householdLine(() => env.stack.connect(), householdOf(env.stack.dataset, ok.residentId).slice(0, 1), { override: true });
  const k = await env.open({ prefix: 'members-one', connect: line.connect });
  t.teardown(() => k.close());
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  t.same(await k.page.locator('#kiosk [data-key="scope"]').allTextContents(), ['本人のみ', '世帯全員'], 'nobody else to pick');
  t.same(await k.post({ action: 'set-option', key: 'scope', value: 'members' }), { ok: false, reason: 'invalid' }, 'and the kiosk refuses it');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});

t.test('a member the city no longer has in the household: the resident is told to start again, nothing made, paid or printed', async (t) => {
  const household = householdOf(env.stack.dataset, ok.residentId);
  // the menu a moment ago named someone who has since left the household (a ref the city no longer knows)
  const stale = household.map((m, i) => (i === household.length - 1 ? { ...m, ref: 'm00000000deadbeef' } : m));
  const line = householdLine(() => env.stack.connect(), stale, { override: true });
  const docs: unknown[] = [];
  const k = await env.open({ prefix: 'members-gone', connect: line.connect, onDocument: (d) => void docs.push(d) });
  t.teardown(() => k.close());
  const p = k.page;
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-key="scope"][data-value=\'"members"\']');
  await p.waitForSelector('[data-key="scope"][data-value=\'"members"\'][aria-pressed="true"]');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('members');
  await p.click('#kiosk [data-ref="m00000000deadbeef"]');
  await p.waitForSelector('#kiosk [data-ref="m00000000deadbeef"][aria-pressed="true"]');
  await k.tap('#kiosk [data-action="members-ok"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('error');
  const code = await p.getAttribute('#kiosk .alert', 'data-code');
  if (line.injected === false || code === 'HOUSEHOLD_MEMBER_GONE') {
    t.equal(code, 'HOUSEHOLD_MEMBER_GONE');
    t.match(await p.textContent('#screen'), /選択された世帯員は現在この世帯に記録されていません/);
  } else t.ok(code, `refused: ${code}`);
  await k.shot('error');
  await k.screen.kiosk.idle();
  t.same(docs, [], 'no document was ever made for it');
  t.same(k.screen.kiosk.results, [], 'nothing issued');
  t.same(filesUnder(k.screen.trayDir), [], 'no paper');
  t.same(filesUnder(k.screen.spoolDir), []);
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});

t.test('a large household (9): three compact columns, every label fits in every language, no scrolling', async (t) => {
  const rel = ['世帯主', '妻', '子', '子', '子', '子の妻', '孫', '父', '母'];
  const years = [1969, 1971, 1995, 1998, 2003, 1996, 2021, 1941, 1944];
  const big = rel.map((relation, i) => ({ ref: `m${String(i).padStart(16, 'a')}`, relation, birthYear: years[i]!, self: i === 0 }));
  const line = householdLine(() => env.stack.connect(), big, { override: true });
  const k = await env.open({ prefix: 'members-big', connect: line.connect });
  t.teardown(() => k.close());
  const p = k.page;
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-key="scope"][data-value=\'"members"\']');
  await p.waitForSelector('[data-key="scope"][data-value=\'"members"\'][aria-pressed="true"]');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('members');
  t.equal(await p.locator('#kiosk .members.many').count(), 1, 'three columns');
  for (const lang of ['ja', 'en', 'zh', 'ko', 'pt', 'es', 'vi']) {
    await k.tap(`#kiosk [data-lang="${lang}"]`);
    await p.waitForSelector(`#kiosk [data-lang="${lang}"][aria-pressed="true"]`);
    const spill = await p.$$eval('#kiosk [data-action="set-member"]', (els) =>
      els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1).map((e) => e.textContent));
    t.same(spill, [], `${lang}: every label fits`);
    t.same(await k.smallTargets(), [], `${lang}: touch targets at least 48 px`);
    t.ok(await p.$eval('#screen', (el) => el.scrollHeight <= el.clientHeight), `${lang}: nine members fit without scrolling`);
    if (lang === 'ja' || lang === 'pt') await k.shot(`big-${lang}`);
  }
  // the last member can be chosen
  await p.locator(`#kiosk [data-ref="${big[8]!.ref}"]`).click();
  await p.waitForSelector(`#kiosk [data-ref="${big[8]!.ref}"][aria-pressed="true"]`);
  t.ok(await p.isVisible('#kiosk [data-action="members-ok"]:not([disabled])'), 'next is there and enabled');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});
