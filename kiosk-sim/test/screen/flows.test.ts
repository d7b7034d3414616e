import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../../../test/e2e/stack.js';
import { cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const ok = cardFor('ok');
const wrongPin = (pin: string) => pin.split('').map((d) => String((Number(d) + 1) % 10)).join('');
const triesOnFile = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { state: { authPinTries: number } }).state.authPinTries;

t.test('wrong PIN: told it is wrong and how many tries are left, then the right PIN goes on', async (t) => {
  const k = await env.open({ prefix: 'wrong-pin' });
  t.teardown(() => k.close());
  await k.toPin(ok.cardId);
  await k.enterPin(wrongPin(ok.jpki.authPin));
  await k.page.waitForSelector('#kiosk .alert[role="alert"]');
  const text = (await k.page.textContent('#screen'))!;
  t.match(text, /暗証番号が違います/);
  t.match(text, /あと2回間違えるとロック/);
  t.equal(await k.page.locator('.pin-boxes span:not(:empty)').count(), 0, 'the PIN boxes are empty again');
  await k.shot('pin-wrong');
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  t.equal(triesOnFile(join(k.cardsDir, `${ok.cardId}.json`)), 3, 'a right PIN resets the counter on the card');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.shot('cancel-remove-card');
  await k.remove();
  await k.shows('start');
  t.match(await k.page.textContent('#screen'), /中止しました/);
});

t.test('three wrong PINs lock the card (a private copy) and send the resident to city hall', async (t) => {
  const k = await env.open({ prefix: 'lock' });
  t.teardown(() => k.close());
  const card = cardFor('ok');
  await k.toPin(card.cardId);
  await k.enterPin(wrongPin(card.jpki.authPin));
  await k.page.waitForFunction(() => /あと2回/.test(document.getElementById('screen')!.textContent!));
  await k.enterPin(wrongPin(card.jpki.authPin));
  await k.page.waitForFunction(() => /あと1回/.test(document.getElementById('screen')!.textContent!));
  await k.shot('last-try');
  await k.enterPin(wrongPin(card.jpki.authPin));
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'PIN_LOCKED');
  t.match(await k.page.textContent('#screen'), /市区町村の窓口で解除してください/);
  await k.shot('locked');
  t.equal(triesOnFile(join(k.cardsDir, `${card.cardId}.json`)), 0, 'the card copy is locked');
  t.equal(triesOnFile(join(FIXTURES, 'cards', `${card.cardId}.json`)), 3, 'the fixture card is untouched');
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
  // Placed again, the locked card goes straight to the same explanation.
  await k.tap('#kiosk [data-action="start"]');
  await k.shows('place-card');
  await k.insert(card.cardId);
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'PIN_LOCKED');
});

t.test('card removed at the menu: CARD_REMOVED, nothing requested or printed', async (t) => {
  const k = await env.open({ prefix: 'removed' });
  t.teardown(() => k.close());
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  await k.remove();
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'CARD_REMOVED');
  t.match(await k.page.textContent('#screen'), /カードが取り外されました/);
  await k.shot('card-removed-menu');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, []);
  t.same(filesUnder(k.screen.trayDir), []);
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('start');
});

t.test('card removed while paying: CARD_REMOVED, coins back, nothing printed or charged, nothing left on disk', async (t) => {
  const k = await env.open({ prefix: 'removed-pay' });
  t.teardown(() => k.close());
  await k.toPay(ok.cardId, ok.jpki.authPin);
  await k.coins([100]);
  await k.remove();
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'CARD_REMOVED');
  t.match(await k.page.textContent('#screen'), /100円をお返ししました/);
  await k.shot('card-removed-pay');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, [], 'no issuance completed');
  t.same(filesUnder(k.screen.trayDir), [], 'nothing printed');
  t.same(filesUnder(k.screen.spoolDir), [], 'no spool file');
});

t.test('idle time-out on the PIN screen, at payment and while the card should be taken: back to start, money back, nothing printed', async (t) => {
  const k = await env.open({ prefix: 'timeout', idleMs: 1500 });
  t.teardown(() => k.close());
  await k.tap('#kiosk [data-lang="en"]');
  await k.toPin(ok.cardId);
  await k.page.click('#kiosk [data-action="digit"][data-digit="1"]');
  await k.page.waitForSelector('#idle.soon');
  await k.shot('pin-countdown');
  await k.shows('start', 5000);
  t.match(await k.page.textContent('#screen'), /一定時間操作がなかったため/, 'told why, in Japanese again');
  t.equal(k.screen.kiosk.state.lang, 'ja');
  await k.shot('after-timeout');
  await k.remove();

  await k.toPay(ok.cardId, ok.jpki.authPin);
  await k.coins([500]);
  await k.shows('start', 5000);
  t.match(await k.page.textContent('#screen'), /500円をお返ししました/);

  await k.remove();
  await k.toPay(ok.cardId, ok.jpki.authPin);
  const fee = k.screen.kiosk.state.pay!.fee;
  await k.coins(Array.from({ length: Math.ceil(fee / 100) }, () => 100));
  await k.tap('#kiosk [data-action="pay"]');
  await k.shows('remove-card');
  // The resident walks away with the card on the reader: the job is dropped, never printed later.
  await k.shows('start', 5000);
  t.match(await k.page.textContent('#screen'), new RegExp(`${fee}円をお返ししました`));
  await k.shot('timeout-refund');
  await k.remove();
  await new Promise((r) => setTimeout(r, 500));
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, [], 'nothing issued');
  t.same(filesUnder(k.screen.trayDir), [], 'nothing printed, not even after the card is taken');
  t.same(filesUnder(k.screen.spoolDir), []);
});

t.test('waiting for the card: cancel and time-out both go back to start, and a late card starts nothing', async (t) => {
  const k = await env.open({ prefix: 'place-card', idleMs: 1500 });
  t.teardown(() => k.close());
  await k.shows('start');
  await k.tap('#kiosk [data-action="start"]');
  await k.shows('place-card');
  await k.shot('place-card');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('start');
  t.match(await k.page.textContent('#screen'), /中止しました/);
  await k.tap('#kiosk [data-action="start"]');
  await k.shows('place-card');
  await k.shows('start', 5000);
  t.match(await k.page.textContent('#screen'), /一定時間操作がなかったため/);
  await k.insert(ok.cardId);
  await k.page.waitForTimeout(300);
  t.equal(k.screen.kiosk.state.screen, 'start', 'a card placed on the idle kiosk does not start a session by itself');
  await k.tap('#kiosk [data-action="start"]');
  await k.shows('pin');
  t.pass('the resident who then touches start goes on with the card placed');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});
