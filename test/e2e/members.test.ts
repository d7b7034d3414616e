/**
 * Chosen household members end to end: the kiosk gets the household to choose from
 * (references, 続柄, birth year) through the centre, names some, and the paper prints
 * exactly those; a member who leaves the household between the menu and the request
 * is refused with HOUSEHOLD_MEMBER_GONE all the way back to the kiosk, nothing
 * printed, nothing charged. No name and no reference in any log of the centre or
 * the city.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ERRORS, KonbiniError, type CardProfile, type CertOptions, type HouseholdMember, type MenuItem, type Resident } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../../kiosk-sim/src/reader/in-process-reader.js';
import { TrayPrinter } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance, type KioskUi } from '../../kiosk-sim/src/session/issuance.js';
import { applyDelta } from '../../city-cert-server/src/sync/delta.js';
import { parseDelta } from '../../city-cert-server/src/sync/delta-format.js';
import { syncState } from '../../city-cert-server/src/replica/sync-state.js';
import { cardProfiles, startStack, type Stack } from './stack.js';

// Never execFileSync: the centre and the city run in this process.
const run = promisify(execFile);
const plain = (s: string) => s.replace(/[\u{e0100}-\u{e01ef}\s\u3000]/gu, '');
const list = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/** An 'ok' card whose holder is not the head, in a household with at least five active members. */
function householdCard(stack: Stack, skip: string[] = []): { card: CardProfile; holder: Resident; active: Resident[] } {
  for (const card of cardProfiles()) {
    if (card.scenario !== 'ok' || card.cityCode !== stack.cityCode || skip.includes(card.cardId)) continue;
    const holder = stack.dataset.residents.find((r) => r.id === card.residentId)!;
    const active = stack.dataset.residents.filter((r) => r.householdId === holder.householdId && r.status === 'active');
    if (holder.relationship !== '世帯主' && active.length >= 5 && new Set(active.map((r) => r.givenNameKana)).size === active.length) return { card, holder, active };
  }
  throw new Error('no fixture card in a household of five');
}

/** The kiosk's resident: enters the PIN, looks at the menu, picks with `pick`, pays. */
async function atKiosk(
  stack: Stack,
  card: CardProfile,
  pick: (item: MenuItem) => Promise<CertOptions> | CertOptions,
): Promise<{ result?: Awaited<ReturnType<typeof runIssuance>>; error?: KonbiniError; menuItem?: MenuItem; tray: string; paid: number[] }> {
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
  const centre = await stack.connect();
  const tag = `${card.cardId}-${Math.random().toString(36).slice(2)}`;
  const tray = join(stack.tmp, `tray-${tag}`);
  const paid: number[] = [];
  let menuItem: MenuItem | undefined;
  const ui: KioskUi = {
    step: (name) => {
      if (name === 'remove-card') reader.remove();
    },
    pin: async () => card.jpki.authPin,
    choose: async (menu) => {
      menuItem = menu.items.find((i) => i.certType === 'resident-record');
      if (!menuItem) throw new Error('resident-record not offered');
      return { certType: 'resident-record', options: await pick(menuItem), copies: 1 };
    },
    pay: async (fee) => {
      paid.push(fee);
      return { paid: fee, change: 0 };
    },
  };
  try {
    const result = await runIssuance({ kioskId: 'K0001', centreOrigin: stack.centreOrigin }, reader, centre, new TrayPrinter(join(stack.tmp, `work-${tag}`, 'spool'), tray), ui);
    return { result, menuItem, tray, paid };
  } catch (err) {
    return { error: err as KonbiniError, menuItem, tray, paid };
  } finally {
    centre.close();
    await reader.close();
  }
}

const logLines: string[] = [];
let stack: Stack;
t.before(async () => {
  stack = await startStack({ logLines });
});
t.teardown(() => stack?.close());

const refsSeen: string[] = [];

t.test('the kiosk chooses three of five members: the paper prints exactly those three, in household order', async (t) => {
  const { card, holder, active } = householdCard(stack);
  const head = active.find((r) => r.relationship === '世帯主')!;
  let offered: HouseholdMember[] = [];
  const a = await atKiosk(stack, card, (item) => {
    offered = item.members ?? [];
    // the holder, the youngest and the oldest other than the head: three of five, head left out
    const others = offered.filter((m) => !m.self && m.relation !== '世帯主').sort((x, y) => x.birthYear - y.birthYear);
    const chosen = [offered.find((m) => m.self)!, others[0]!, others[others.length - 1]!];
    return { scope: 'members', members: chosen.map((m) => m.ref) };
  });
  t.notOk(a.error, `printed (${a.error?.code})`);
  refsSeen.push(...offered.map((m) => m.ref));
  t.ok(a.menuItem!.options.includes('members'), 'the menu offers choosing members');
  t.equal(offered.length, active.length, 'every active member offered, the removed ones not');
  t.same(offered.filter((m) => m.self).length, 1, 'the holder marked once');
  t.notMatch(JSON.stringify(a.menuItem), new RegExp(`${holder.familyName}|${holder.givenName}|${head.givenName}|${holder.id}`), 'no name or resident id reached the kiosk through the centre');

  const sheets = list(a.tray);
  t.same(sheets, [`${a.result!.issuanceId}.pdf`], 'one sheet');
  const sheet = join(a.tray, sheets[0]!);
  const { stdout } = await run('pdftotext', ['-layout', sheet, '-'], { encoding: 'utf8' });
  const text = plain(stdout);
  // who is printed: each member's furigana appears only in their own rows (the header names the head without it)
  const byYear = (r: Resident) => Number(r.birthDate.slice(0, 4));
  const others = active.filter((r) => r.id !== holder.id && r.relationship !== '世帯主').sort((x, y) => byYear(x) - byYear(y));
  const chosen = [holder, others[0]!, others[others.length - 1]!];
  const left = active.filter((r) => !chosen.includes(r));
  t.ok(left.length >= 2, 'some members left out');
  for (const r of chosen) {
    t.match(text, plain(`${r.familyName}${r.givenName}`), `prints ${r.relationship} ${byYear(r)}`);
    t.match(text, plain(r.givenNameKana), 'with furigana');
  }
  for (const r of left) t.notMatch(text, plain(r.givenNameKana), `does not print ${r.relationship} ${byYear(r)}`);
  t.equal(offered[0]!.relation, '世帯主', 'the menu lists the household in household order, head first');
  const menuPosition = (r: Resident) => offered.findIndex((m) => m.relation === r.relationship && m.birthYear === byYear(r));
  const inHouseholdOrder = [...chosen].sort((x, y) => menuPosition(x) - menuPosition(y));
  const onPaper = [...chosen].sort((x, y) => text.indexOf(plain(x.givenNameKana)) - text.indexOf(plain(y.givenNameKana)));
  t.same(onPaper.map((r) => r.id), inHouseholdOrder.map((r) => r.id), 'printed in household order');
  const { stdout: sig } = await run('pdfsig', [sheet], { encoding: 'utf8' }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
  t.match(sig, /Signature is Valid/, 'pdfsig: valid');
  t.equal(a.paid.length, 1, 'paid once');
});

t.test('a member moves out between the menu and the request: HOUSEHOLD_MEMBER_GONE at the kiosk, nothing printed or charged', async (t) => {
  const { card, holder, active } = householdCard(stack);
  const leaving = active.find((r) => r.id !== holder.id && r.relationship !== '世帯主')!;
  const a = await atKiosk(stack, card, async (item) => {
    const members = item.members!;
    refsSeen.push(...members.map((m) => m.ref));
    // city staff apply the 転出 while the resident is choosing
    const seq = (await syncState(stack.city.replica)).lastSeq + 1;
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date());
    const lines = [
      { type: 'header', format: 'konbini-delta', version: 1, cityCode: stack.cityCode, batchId: 'e2e-members-move-out' },
      { type: 'change', seq, kind: 'move-out', notifiedOn: today, residentId: leaving.id, effectiveOn: today },
      { type: 'end', count: 1 },
    ];
    await applyDelta(stack.city.replica, await parseDelta(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`));
    const year = Number(leaving.birthDate.slice(0, 4));
    const gone = members.find((m) => m.relation === leaving.relationship && m.birthYear === year)!;
    return { scope: 'members', members: [members.find((m) => m.self)!.ref, gone.ref] };
  });
  t.equal(a.error?.code, 'HOUSEHOLD_MEMBER_GONE', 'the resident is told the member is no longer in the household');
  t.match(ERRORS.HOUSEHOLD_MEMBER_GONE.ja, /世帯/);
  t.same(list(a.tray), [], 'nothing printed');
  t.same(a.paid, [], 'nothing paid');

  // the next visit offers who is there now
  const b = await atKiosk(stack, card, (item) => ({ scope: 'members', members: [item.members!.find((m) => m.self)!.ref] }));
  t.notOk(b.error, `printed (${b.error?.code})`);
  t.equal(b.menuItem!.members!.length, active.length - 1, 'the member who moved out is no longer offered');
});

t.test('no name and no member reference in any log of the centre or the city', async (t) => {
  const logs = logLines.join('');
  t.ok(logs.length > 0, 'logs were captured');
  t.ok(refsSeen.length >= 5);
  for (const ref of new Set(refsSeen)) t.notMatch(logs, ref, `reference ${ref} not logged`);
  const { holder } = householdCard(stack);
  t.notMatch(logs, holder.familyName, 'no name logged');
});
