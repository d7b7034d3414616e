/**
 * The printing screen and what happens after the paper is out (issue 7 item 4):
 * progress for both sides of the two-sided print (the certificate's pages on the
 * fronts, each copy's verification page on the back of its last sheet), and a line
 * to the centre that drops right after printing: the resident is still told to take
 * the certificate, never shown an error, and the kiosk keeps the unreported outcome.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { TrayPrinter } from '../../src/printer/printer.js';
import { printPlan } from '../../src/printer/print-plan.js';
import type { DocumentBuffer } from '../../src/session/document-buffer.js';
import type { ScreenName } from '../../src/screen/state.js';
import { cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';
import { watchedLine } from '../helpers/line.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const ok = cardFor('ok');

async function payAndTake(k: Awaited<ReturnType<KioskEnv['open']>>, copies: number): Promise<void> {
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('copies');
  await k.tap(`#kiosk [data-action="copies"][data-copies="${copies}"]`);
  await k.page.waitForSelector(`[data-copies="${copies}"][aria-pressed="true"]`);
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('received');
  await k.tap('#kiosk [data-action="to-pay"]');
  await k.shows('pay');
  const fee = k.screen.kiosk.state.pay!.fee;
  await k.coins(Array.from({ length: Math.ceil(fee / 500) }, () => 500));
  await k.tap('#kiosk [data-action="pay"]');
  await k.shows('remove-card');
}

t.test('two copies, two-sided: the fronts and the backs each count up on the printing screen', async (t) => {
  const line = watchedLine(() => env.stack.connect());
  const k = await env.open({ prefix: 'printing', connect: line.connect, printMsPerCopy: 1800 });
  t.teardown(() => k.close());
  const p = k.page;
  await payAndTake(k, 2);
  await k.remove();
  await k.shows('printing');
  await p.waitForFunction(() => /^[1-9]/.test(document.querySelector('[data-testid="front-count"]')?.textContent ?? ''));
  await k.shot('two-sided-front');
  const pdf = [...line.documents.values()][0]!;
  const plan = printPlan(pdf, 2);
  t.equal(plan.backs, 2, 'one back page per copy');
  t.ok(plan.fronts >= 2, `${plan.fronts} front pages`);
  t.same(plan.pages.filter((x) => x.side === 'back').map((x) => x.copy), [1, 2]);
  for (const c of [1, 2]) t.equal(plan.pages.filter((x) => x.copy === c).at(-1)!.side, 'back', `copy ${c} ends with its back page`);
  t.match(await p.textContent('[data-testid="front-count"]'), new RegExp(`／${plan.fronts}ページ`));
  t.match(await p.textContent('[data-testid="back-count"]'), /^[0-2]／2ページ$/);
  t.match(await p.textContent('#screen'), /両面印刷です/);
  await p.waitForFunction(() => document.querySelector('[data-testid="back-count"]')?.textContent?.startsWith('1／'), undefined, { timeout: 15_000 });
  t.match(await p.textContent('[data-testid="copies-done"]'), /1／2通 印刷済み/, 'the first copy is done with its back page');
  await k.shot('two-sided-back');
  await p.waitForTimeout(400);
  const filled = await p.$eval('[data-side="back"] .progress', (el) => el.firstElementChild!.getBoundingClientRect().width / el.getBoundingClientRect().width);
  t.ok(filled > 0.35 && filled < 0.65, `the back bar is half full (${filled.toFixed(2)}): widths are set despite the CSP`);
  await k.shows('take');
  await k.screen.kiosk.idle();
  t.equal(k.screen.kiosk.results[0]?.copies, 2);
});

t.test('the line drops right after printing: "take your certificate", no error, the outcome kept as unreported', async (t) => {
  const line = watchedLine(() => env.stack.connect());
  const docs: DocumentBuffer[] = [];
  const seen: ScreenName[] = [];
  let tray = '';
  const k = await env.open({
    prefix: 'drop-after-print',
    connect: line.connect,
    onDocument: (d) => {
      d.trackAllocations();
      docs.push(d);
    },
    // the printer finishes the job, and the cable to the centre is pulled at that moment
    printer: {
      async print(issuanceId, pdf, copies) {
        const r = await new TrayPrinter(`${tray}-spool`, tray).print(issuanceId, pdf, copies);
        line.terminate();
        return r;
      },
    },
  });
  t.teardown(() => k.close());
  tray = k.screen.trayDir;
  k.screen.kiosk.on('state', (s: { screen: ScreenName }) => seen.push(s.screen));
  await payAndTake(k, 1);
  await k.remove();
  await k.shows('take');
  await k.screen.kiosk.idle();
  await k.page.waitForTimeout(300);
  t.equal(k.screen.kiosk.state.screen, 'take', 'still telling the resident to take the certificate');
  t.match(await k.page.textContent('#screen'), /証明書をお取りください/);
  t.notOk(seen.includes('error'), 'never an error screen');
  await k.shot('take');
  const r = k.screen.kiosk.results[0]!;
  t.equal(r.reported, false, 'the centre was not told');
  t.equal(r.charged, 0, 'and so nothing is charged (the centre records an unreported issuance as not charged)');
  t.same(k.screen.kiosk.unreported.map((u) => u.issuanceId), [r.issuanceId], 'the kiosk keeps the id for the operator');
  t.equal(k.screen.kiosk.counters.unreported, 1);
  t.equal(k.screen.kiosk.counters.printed, 1);
  t.same(k.screen.kiosk.counters.errors, {}, 'not counted as an error');
  const sheets = filesUnder(tray);
  t.same(sheets.map((s) => s.split('/').pop()), [`${r.issuanceId}.pdf`], 'the paper is out');
  t.equal(readFileSync(sheets[0]!).subarray(0, 5).toString(), '%PDF-');
  t.ok(docs[0]!.allocations().every((b) => b.every((x) => x === 0)), 'the document buffers are zeroed');
  t.same(filesUnder(`${tray}-spool`), [], 'spool wiped');
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('start');
  // The next resident gets a fresh line.
  await k.toPin(ok.cardId);
  t.pass('the next session starts on a new line');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});
