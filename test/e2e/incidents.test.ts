/**
 * The real incidents (DESIGN §5) as named regression tests. Each must yield zero
 * foreign documents: every sheet in a tray names the resident who asked for it,
 * and nobody else.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KonbiniError, type CardProfile } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../../kiosk-sim/src/reader/in-process-reader.js';
import { TrayPrinter, type Printer } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance, type KioskUi } from '../../kiosk-sim/src/session/issuance.js';
import type { CentreConnection } from '../../kiosk-sim/src/centre/connection.js';
import { cardProfiles, startStack, type Stack } from './stack.js';
import { applyDelta } from '../../city-cert-server/src/sync/delta.js';
import { parseDelta } from '../../city-cert-server/src/sync/delta-format.js';
import { syncState } from '../../city-cert-server/src/replica/sync-state.js';

const run = promisify(execFile);
const list = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return []; // never created: nothing in it
  }
};
const plain = (s: string) => s.replace(/[\u{e0100}-\u{e01ef}\s\u3000]/gu, '');

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack?.close());

function nameOf(card: CardProfile): string {
  const r = stack.dataset.residents.find((x) => x.id === card.residentId)!;
  return plain(`${r.familyName}${r.givenName}`);
}

/** Names of residents of other households: none may appear on this card's sheet. */
function strangersOf(card: CardProfile): string[] {
  const me = stack.dataset.residents.find((x) => x.id === card.residentId)!;
  return stack.dataset.residents.filter((r) => r.householdId !== me.householdId).map((r) => plain(`${r.familyName}${r.givenName}`)).filter((n) => n !== nameOf(card));
}

async function textOf(pdf: string): Promise<string> {
  return plain((await run('pdftotext', [pdf, '-'], { encoding: 'utf8' })).stdout);
}

function okCards(): CardProfile[] {
  return cardProfiles().filter((c) => c.scenario === 'ok' && c.cityCode === stack.cityCode);
}

/** A resident whose every answer waits for `gate`, so many can act at the same instant. */
function residentUi(reader: InProcessReader, card: CardProfile, gate?: Promise<void>): KioskUi {
  return {
    step: (name) => {
      if (name === 'remove-card') reader.remove();
    },
    pin: async () => card.jpki.authPin,
    choose: async () => {
      await gate;
      return { certType: 'resident-record', options: { scope: 'self' }, copies: 1 };
    },
    pay: async (fee) => ({ paid: fee, change: 0 }),
  };
}

async function issueAt(kioskId: string, centre: CentreConnection, card: CardProfile, printer: Printer, gate?: Promise<void>) {
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromProfile(structuredClone(card)));
  try {
    return await runIssuance({ kioskId, centreOrigin: stack.centreOrigin }, reader, centre, printer, residentUi(reader, card, gate));
  } finally {
    await reader.close();
  }
}

t.test('incident: requests for different residents in the same millisecond never swap documents', async (t) => {
  const cards = okCards().slice(0, 16);
  t.ok(cards.length >= 8, `enough residents (${cards.length})`);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const centres = await Promise.all(cards.map(() => stack.connect()));
  t.teardown(() => centres.forEach((c) => c.close()));
  const trays = cards.map((_, i) => join(stack.tmp, `same-ms-tray-${i}`));
  const runs = cards.map((card, i) => issueAt('K0001', centres[i]!, card, new TrayPrinter(join(stack.tmp, `same-ms-spool-${i}`), trays[i]!), gate));
  // Every resident is at the menu, waiting: release them all in one tick.
  await new Promise((r) => setTimeout(r, 1500));
  open();
  const results = await Promise.all(runs);
  const ids = new Set(results.map((r) => r.issuanceId));
  t.equal(ids.size, cards.length, 'every request got its own issuance id');
  for (let i = 0; i < cards.length; i++) {
    const sheets = readdirSync(trays[i]!);
    t.same(sheets, [`${results[i]!.issuanceId}.pdf`], `tray ${i}: exactly its own document`);
    const text = await textOf(join(trays[i]!, sheets[0]!));
    t.ok(text.includes(nameOf(cards[i]!)), `tray ${i}: names the resident who asked`);
    t.notOk(strangersOf(cards[i]!).some((n) => text.includes(n)), `tray ${i}: names nobody else`);
  }
});

t.test('incident: a failed print leaves nothing behind, and the next applicant gets only their own document', async (t) => {
  const [first, second] = okCards();
  const centre = await stack.connect('kiosk-K0002');
  t.teardown(() => centre.close());
  const tray = join(stack.tmp, 'jam-tray');
  const spool = join(stack.tmp, 'jam-spool');
  let faults: ('jam' | null)[] = ['jam'];
  const printer = new TrayPrinter(spool, tray, () => faults.shift() ?? null);

  const failed = await issueAt('K0002', centre, first!, printer).then(
    () => null,
    (err: unknown) => err as KonbiniError,
  );
  t.equal(failed?.code, 'PRINTER_JAM', 'the resident is told the printer jammed');
  t.same(list(tray), [], 'nothing came out for the first resident');
  t.same(list(spool), [], 'the spooled job was wiped, not left for the next job');

  faults = [];
  const next = await issueAt('K0002', centre, second!, printer);
  t.equal(next.charged, next.fee, 'the next applicant is charged for their own document');
  const sheets = readdirSync(tray);
  t.same(sheets, [`${next.issuanceId}.pdf`], 'one document in the tray: the second applicant’s');
  const text = await textOf(join(tray, sheets[0]!));
  t.ok(text.includes(nameOf(second!)), 'it names the second applicant');
  t.notOk(text.includes(nameOf(first!)), 'and not the first');
});

t.test('incident: delta sync during issuance never mixes residents, and no batch is half seen', async (t) => {
  const cards = okCards().slice(0, 8);
  const requesters = new Set(cards.map((c) => c.residentId));
  const households = new Set(cards.map((c) => stack.dataset.residents.find((r) => r.id === c.residentId)!.householdId));
  // City staff rename and re-address residents of *other* households while the kiosks work.
  const others = stack.dataset.residents.filter((r) => !requesters.has(r.id) && !households.has(r.householdId) && r.status === 'active').slice(0, 10);
  t.ok(others.length >= 5, 'residents to change');
  const otherHouseholds = [...new Set(others.map((r) => r.householdId))];
  let seq = (await syncState(stack.city.replica)).lastSeq;
  let batches = 0;
  let syncing = true;
  const renamed: string[] = [];
  const sync = (async () => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date());
    while (syncing) {
      const changes = [
        ...others.slice(0, 3).map((r, i) => ({ type: 'change', seq: ++seq, kind: 'name-change', notifiedOn: today, residentId: r.id, effectiveOn: today, givenName: `改名${batches}${i}` })),
        { type: 'change', seq: ++seq, kind: 'address-change', notifiedOn: today, householdId: otherHouseholds[batches % otherHouseholds.length], address: `東雲県星見市港町${batches + 1}丁目1番1号`, effectiveOn: today },
      ];
      renamed.push(...changes.filter((c) => c.kind === 'name-change').map((c) => String((c as { givenName: string }).givenName)));
      const text = [{ type: 'header', format: 'konbini-delta', version: 1, cityCode: stack.cityCode, batchId: `e2e-${batches}` }, ...changes, { type: 'end', count: changes.length, lastSeq: seq }]
        .map((r) => JSON.stringify(r))
        .join('\n');
      await applyDelta(stack.city.replica, await parseDelta(`${text}\n`));
      batches++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const results = await Promise.all(
    cards.map(async (card, i) => {
      const centre = await stack.connect();
      try {
        const tray = join(stack.tmp, `sync-tray-${i}`);
        const printer = new TrayPrinter(join(stack.tmp, `sync-spool-${i}`), tray);
        const a = await issueAt('K0001', centre, card, printer);
        const b = await issueAt('K0001', centre, card, printer);
        return { card, tray, ids: [a.issuanceId, b.issuanceId] };
      } finally {
        centre.close();
      }
    }),
  );
  syncing = false;
  await sync;
  t.ok(batches >= 2, `delta batches applied during issuance (${batches})`);
  for (const r of results) {
    const sheets = list(r.tray).sort();
    t.same(sheets, r.ids.map((id) => `${id}.pdf`).sort(), `${r.card.cardId}: exactly its two documents`);
    for (const s of sheets) {
      const text = await textOf(join(r.tray, s));
      t.ok(text.includes(nameOf(r.card)), `${r.card.cardId}: names the resident who asked`);
      t.notOk(strangersOf(r.card).some((n) => text.includes(n)) || renamed.some((n) => text.includes(n)), `${r.card.cardId}: names nobody else, old or renamed`);
    }
  }
  t.equal((await syncState(stack.city.replica)).lastSeq, seq, 'every batch applied whole');
});
