import t from 'tap';
import { cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const ok = cardFor('ok');

t.test('double taps on confirm and pay: one request, one payment, one print, charged once', async (t) => {
  const k = await env.open({ prefix: 'double' });
  t.teardown(() => k.close());
  await k.toConfirm(ok.cardId, ok.jpki.authPin);
  // Two taps that reach the kiosk together, both from the confirmation screen.
  const seq = k.screen.kiosk.state.seq;
  // (no named functions inside evaluate: tsx would wrap them in a helper the page lacks)
  const answers = await k.page.evaluate(
    (s) => Promise.all([0, 1].map(() => fetch('/api/action', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'confirm', seq: s }) }).then((r) => r.json()))),
    seq,
  );
  t.same(answers.map((a: { ok: boolean }) => a.ok).sort(), [false, true], 'one confirm counts, the other is refused');
  await k.shows('received');
  await k.page.dblclick('#kiosk [data-action="to-pay"]');
  await k.shows('pay');
  const fee = k.screen.kiosk.state.pay!.fee;
  await k.coins(Array.from({ length: Math.ceil(fee / 100) }, () => 100));
  await k.page.dblclick('#kiosk [data-action="pay"]');
  await k.shows('remove-card');
  t.equal((await k.post({ action: 'pay' })).ok, false, 'a late pay tap does nothing');
  await k.remove();
  await k.shows('take');
  await k.screen.kiosk.idle();
  t.equal(k.screen.kiosk.results.length, 1, 'one issuance');
  t.equal(k.screen.kiosk.results[0]!.charged, fee, 'charged once');
  t.equal(filesUnder(k.screen.trayDir).length, 1, 'one document in the tray');
});

t.test('payment short of the fee: told how much is missing, nothing goes on; cancel gives the coins back', async (t) => {
  const k = await env.open({ prefix: 'short' });
  t.teardown(() => k.close());
  const fee = await k.toPay(ok.cardId, ok.jpki.authPin);
  t.ok(fee > 100);
  await k.coins([100]);
  await k.tap('#kiosk [data-action="pay"]');
  await k.page.waitForSelector('#kiosk .alert[role="alert"]');
  t.match(await k.page.textContent('#screen'), new RegExp(`あと${fee - 100}円お入れください`));
  await k.shot('pay-short');
  t.equal(k.screen.kiosk.state.screen, 'pay', 'still on the payment screen');
  t.same(filesUnder(k.screen.trayDir), []);
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  t.match(await k.page.textContent('#screen'), /100円をお返ししました/);
  await k.remove();
  await k.shows('start');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, []);
  t.same(filesUnder(k.screen.trayDir), [], 'nothing printed');
  t.same(filesUnder(k.screen.spoolDir), []);
});

t.test('reload and back: the kiosk keeps its own state; taps for another screen are refused', async (t) => {
  const k = await env.open({ prefix: 'back' });
  t.teardown(() => k.close());
  await k.toConfirm(ok.cardId, ok.jpki.authPin);
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('copies');
  await k.tap('#kiosk [data-action="copies"][data-copies="3"]');
  await k.page.waitForSelector('[data-copies="3"][aria-pressed="true"]');
  await k.page.reload();
  await k.shows('copies');
  t.equal(await k.page.getAttribute('[data-copies="3"]', 'aria-pressed'), 'true', 'the page comes back where the kiosk is');
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('options');
  await k.tap('#kiosk [data-action="back"]');
  await k.shows('menu');
  t.same(await k.post({ action: 'confirm' }), { ok: false, reason: 'not-now' }, 'no confirm from the menu');
  t.same(await k.post({ action: 'pay' }), { ok: false, reason: 'not-now' }, 'no pay from the menu');
  t.same(await k.post({ action: 'digit', digit: '1' }), { ok: false, reason: 'invalid' }, 'no PIN digits outside the PIN screen');
  t.equal(k.screen.kiosk.state.screen, 'menu');
  await k.tap('#kiosk [data-action="cancel"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});

t.test('a second card: refused while one is on the reader; a swapped card never continues the session', async (t) => {
  const k = await env.open({ prefix: 'second-card' });
  t.teardown(() => k.close());
  const other = cardFor('foreign');
  await k.toPin(ok.cardId);
  const res = await k.page.evaluate(
    (id) => fetch('/api/card/insert', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardId: id }) }).then((r) => r.status),
    other.cardId,
  );
  t.equal(res, 409, 'the reader holds one card');
  await k.remove();
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'CARD_REMOVED');
  await k.insert(other.cardId);
  await k.page.waitForTimeout(300);
  t.equal(k.screen.kiosk.state.screen, 'error', 'the other card does not pick up the session');
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, []);
});

t.test('the centre connection drops at the menu: the resident is told, nothing printed or charged', async (t) => {
  const lines: { close(): void }[] = [];
  const k = await env.open({
    prefix: 'centre-drop',
    connect: async () => {
      const c = await env.stack.connect();
      lines.push(c);
      return c;
    },
  });
  t.teardown(() => k.close());
  await k.toPin(ok.cardId);
  await k.enterPin(ok.jpki.authPin);
  await k.shows('menu');
  lines[0]!.close();
  await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
  await k.shows('options');
  await k.tap('#kiosk [data-action="options-ok"]');
  await k.tap('#kiosk [data-action="copies-ok"]');
  await k.shows('confirm');
  await k.tap('#kiosk [data-action="confirm"]');
  await k.shows('error');
  t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), 'CITY_UNREACHABLE');
  await k.shot('error');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, []);
  t.same(filesUnder(k.screen.trayDir), []);
  await k.tap('#kiosk [data-action="done"]');
  await k.shows('end-remove-card');
  await k.remove();
  await k.shows('start');
});
