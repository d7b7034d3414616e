/**
 * The kiosk screen on a real PC/SC reader (`kiosk-sim screen --reader pcsc:<name>`):
 * pcscd with vpcd (our own pcscd, under the machine-wide kernel lock of
 * test/helpers/pcscd.ts), a virtual card connected to vpcd as a card is placed on a
 * reader. The demo panel shows the reader's name and whether pcscd sees a card,
 * instead of the buttons of the in-process reader; a whole issuance goes through.
 */
import t from 'tap';
import { join } from 'node:path';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { VpcdBridge } from '../../src/card/vpcd-bridge.js';
import { SCREENSHOTS, cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';
import { openPcscReader, usePcscd, VPCD_READER } from '../helpers/pcscd.js';

const pcsc = await usePcscd();
const ok = cardFor('ok');

t.test('PC/SC reader: the panel shows pcscd\'s view; a card placed through vpcd goes through a whole issuance', { skip: pcsc.skip }, async (t) => {
  const env: KioskEnv = await startKioskEnv();
  t.teardown(() => env.close());
  const reader = await openPcscReader(VPCD_READER[0]);
  const k = await env.open({ prefix: 'pcsc', reader });
  t.teardown(() => k.close());
  const p = k.page;
  const status = () => p.textContent('#reader-status');
  await p.waitForFunction((name) => document.getElementById('reader-status')?.textContent === `PC/SC reader: ${name} — no card`, VPCD_READER[0]);
  t.ok(await p.isHidden('#card-insert'), 'no insert button');
  t.ok(await p.isHidden('#card-remove'), 'no remove button');
  t.ok(await p.isVisible('#pcsc-hint'), 'told how to place a card');
  const refused = await p.evaluate((id) => fetch('/api/card/insert', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardId: id }) }).then((r) => r.status), ok.cardId);
  t.equal(refused, 409, 'the demo insert is refused: the card goes on the reader');
  await p.screenshot({ path: join(SCREENSHOTS, 'pcsc-panel-empty.png') });

  await k.shows('start');
  await k.tap('#kiosk [data-action="start"]');
  await k.shows('place-card');
  const bridge = await VpcdBridge.connect(VirtualCard.fromFile(env.stack.cardFile(ok)), { port: 35963, confirmWithinMs: 8000 });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await bridge.close();
  });
  await k.shows('pin');
  await p.waitForFunction(() => /— card present$/.test(document.getElementById('reader-status')?.textContent ?? ''));
  t.match(await status(), /Virtual PCD 00 00 — card present/);
  await p.screenshot({ path: join(SCREENSHOTS, 'pcsc-panel-card.png') });
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('received');
  await k.tap('#kiosk [data-action="to-pay"]');
  await k.shows('pay');
  const fee = k.screen.kiosk.state.pay!.fee;
  await k.coins(Array.from({ length: Math.ceil(fee / 100) }, () => 100));
  await k.tap('#kiosk [data-action="pay"]');
  await k.shows('remove-card');
  t.same(filesUnder(k.screen.trayDir), [], 'nothing prints while the card is on the reader');
  await bridge.close();
  closed = true;
  await k.shows('take');
  await p.waitForFunction(() => /— no card$/.test(document.getElementById('reader-status')?.textContent ?? ''));
  await k.screen.kiosk.idle();
  t.equal(k.screen.kiosk.results.length, 1, 'printed once');
  t.equal(filesUnder(k.screen.trayDir).length, 1);
});
