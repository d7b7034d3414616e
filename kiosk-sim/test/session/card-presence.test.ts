/**
 * Card presence drives the session (issue 3, "Must have" 4), over the in-process
 * reader against the real centre and city in this process: pulling the card while
 * the PIN is being typed or before the document has arrived ends the session at once
 * with CARD_REMOVED, prints nothing and leaves nothing behind; printing starts only
 * after the card is taken. The same over pcscd: test/e2e/pcsc-issuance.test.ts.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { InProcessReader } from '../../src/reader/in-process-reader.js';
import { TrayPrinter } from '../../src/printer/printer.js';
import { runIssuance } from '../../src/session/issuance.js';
import { cardFor, startStack } from '../../../test/e2e/stack.js';
import { filesUnder, resident, type ResidentOptions } from '../helpers/resident.js';

const stack = await startStack();
t.teardown(() => stack.close());

let n = 0;
async function attempt(o: Omit<ResidentOptions, 'pins'> & { pins?: string[] }) {
  const card = cardFor('ok');
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
  const centre = await stack.connect();
  const work = join(stack.tmp, `work-${++n}`);
  const tray = join(stack.tmp, `tray-${n}`);
  const r = resident(() => reader.remove(), { pins: o.pins ?? [card.jpki.authPin], ...o });
  const started = Date.now();
  try {
    const result = await runIssuance({ kioskId: 'K0001', centreOrigin: stack.centreOrigin }, reader, centre, new TrayPrinter(join(work, 'spool'), tray), r.ui);
    return { result, ms: Date.now() - started, work, tray, ...r };
  } catch (err) {
    return { error: err as { code?: string }, ms: Date.now() - started, work, tray, ...r };
  } finally {
    centre.close();
    await reader.close();
  }
}

t.test('card pulled while the PIN is being typed: CARD_REMOVED at once, nothing printed', async (t) => {
  const a = await attempt({ pullAt: 'pin', typingForever: true });
  t.equal(a.error?.code, 'CARD_REMOVED');
  t.ok(a.ms < 5000, `ended without waiting for the PIN (${a.ms} ms)`);
  t.notOk(a.steps.includes('requesting'));
  t.same(filesUnder(a.tray), [], 'no paper');
  t.same(filesUnder(a.work), [], 'no spool');
});

t.test('card pulled after the PIN was typed: the VERIFY itself finds it gone', async (t) => {
  const a = await attempt({ pullAt: 'pin' });
  t.equal(a.error?.code, 'CARD_REMOVED');
  t.same(filesUnder(a.tray), []);
});

for (const step of ['menu', 'requesting', 'receiving'] as const) {
  t.test(`card pulled at "${step}", before the document has arrived: aborted and wiped`, async (t) => {
    const a = await attempt({ pullAt: step });
    t.equal(a.error?.code, 'CARD_REMOVED');
    t.notOk(a.steps.includes('verified'), 'the document was never taken as this session\'s');
    t.notOk(a.steps.includes('printing'));
    t.same(filesUnder(a.tray), [], 'no paper');
    t.same(filesUnder(a.work), [], 'no spool');
  });
}

t.test('printing starts only after the card has been removed', async (t) => {
  let trayBeforeRemoval: string[] | null = null;
  const trayDir = join(stack.tmp, `tray-${n + 1}`);
  const a = await attempt({
    beforeTaking: async () => {
      // The resident leaves the card on the reader for a while: nothing may print.
      await new Promise((r) => setTimeout(r, 400));
      trayBeforeRemoval = filesUnder(trayDir);
    },
  });
  t.equal(a.tray, trayDir);
  t.error(a.error);
  t.same(a.steps.slice(-5), ['paid', 'remove-card', 'printing', 'wiped', 'printed']);
  t.same(trayBeforeRemoval, [], 'the tray was empty while the card was on the reader');
  t.ok(a.result && existsSync(a.result.sheets[0]!), 'printed after removal');
});
