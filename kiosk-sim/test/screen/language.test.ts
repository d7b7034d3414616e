import t from 'tap';
import { cardFor, startKioskEnv, type KioskEnv } from './harness.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const START: Record<string, RegExp> = {
  ja: /行政サービス/,
  en: /Government services/,
  zh: /行政服务/,
  ko: /행정 서비스/,
  pt: /Serviços públicos/,
  es: /Servicios públicos/,
  vi: /Dịch vụ hành chính/,
};

t.test('every language on the start screen; a switch mid-flow keeps the session', async (t) => {
  const k = await env.open({ prefix: 'lang' });
  t.teardown(() => k.close());
  await k.shows('start');
  for (const [lang, re] of Object.entries(START)) {
    await k.tap(`#kiosk [data-lang="${lang}"]`);
    await k.page.waitForSelector(`#kiosk [data-lang="${lang}"][aria-pressed="true"]`);
    t.match(await k.page.textContent('#screen'), re, `${lang} start screen`);
    t.equal(await k.page.getAttribute('html', 'lang'), lang === 'zh' ? 'zh-Hans' : lang);
    await k.shot(`start-${lang}`);
  }
  await k.tap('#kiosk [data-lang="en"]');
  const card = cardFor('ok');
  await k.toPin(card.cardId);
  t.match(await k.page.textContent('#screen'), /Enter your PIN/);
  await k.page.click('#kiosk [data-action="digit"][data-digit="1"]');
  await k.page.click('#kiosk [data-action="digit"][data-digit="2"]');
  await k.tap('#kiosk [data-lang="ko"]');
  await k.page.waitForFunction(() => /비밀번호를 입력하십시오/.test(document.getElementById('screen')!.textContent!));
  t.equal(await k.page.locator('.pin-boxes span:not(:empty)').count(), 2, 'the digits typed stay');
  await k.shot('pin-ko');
  await k.tap('#kiosk [data-action="pin-clear"]');
  await k.enterPin(card.jpki.authPin);
  await k.shows('menu');
  await k.tap('#kiosk [data-lang="vi"]');
  await k.page.waitForFunction(() => /Bản sao phiếu cư trú/.test(document.getElementById('screen')!.textContent!));
  await k.shot('menu-vi');
  await k.tap('#kiosk [data-lang="en"]');
  await k.page.waitForFunction(() => /Copy of resident record/.test(document.getElementById('screen')!.textContent!));
  t.match(await k.page.textContent('#screen'), /200 yen per copy/);
  await k.shot('menu-en');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  t.match(await k.page.textContent('#screen'), /Please take your card/);
  await k.remove();
  await k.shows('start');
  t.match(await k.page.textContent('#screen'), /Cancelled/, 'still English on the start screen');
});

t.test('the PIN screen is operable from a keyboard', async (t) => {
  const k = await env.open({ prefix: 'keyboard' });
  t.teardown(() => k.close());
  const card = cardFor('ok');
  await k.shows('start');
  await k.page.focus('#kiosk [data-action="start"]');
  await k.page.keyboard.press('Enter');
  await k.shows('place-card');
  await k.insert(card.cardId);
  await k.shows('pin');
  await k.page.locator('#screen').focus();
  for (const d of card.jpki.authPin) await k.page.keyboard.press(d);
  await k.page.waitForSelector('#kiosk [data-action="pin-ok"]:focus');
  t.pass('OK is focused once four digits are typed');
  await k.page.keyboard.press('Enter');
  await k.shows('menu');
  await k.page.keyboard.press('Tab');
  const focused = await k.page.evaluate(() => document.activeElement?.getAttribute('data-action'));
  t.ok(focused, 'Tab reaches a control');
  await k.page.keyboard.press('Escape');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});
