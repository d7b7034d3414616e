import t from 'tap';
import { hashMaintenancePassword, verifyMaintenancePassword } from '../../src/screen/maintenance.js';
import { join } from 'node:path';
import { cardFor, SCREENSHOTS, startKioskEnv, type KioskEnv } from './harness.js';

const PASSWORD = 'correct horse battery';

t.test('scrypt hash: verifies the password, refuses another, keeps no password', async (t) => {
  const h = await hashMaintenancePassword(PASSWORD);
  t.match(h, /^scrypt:16384:8:1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  t.notOk(h.includes(PASSWORD));
  t.equal(await verifyMaintenancePassword(PASSWORD, h), true);
  t.equal(await verifyMaintenancePassword('wrong', h), false);
  t.not(await hashMaintenancePassword(PASSWORD), h, 'salted');
});

t.test('maintenance screen in the browser', async (t) => {
  const env: KioskEnv = await startKioskEnv();
  t.teardown(() => env.close());
  const passwordHash = await hashMaintenancePassword(PASSWORD);

  t.test('no maintenance configured: no maintenance screen', async (t) => {
    const k = await env.open({ prefix: 'maint-none' });
    t.teardown(() => k.close());
    const r = await k.page.goto(`${k.url}maintenance`);
    t.equal(r?.status(), 404);
  });

  t.test('wrong passwords lock it; the right one then waits for the lock', async (t) => {
    const k = await env.open({ prefix: 'maint-lock', maintenance: { passwordHash, maxFailures: 3, lockMs: 60_000 } });
    t.teardown(() => k.close());
    const p = k.page;
    await p.goto(`${k.url}maintenance`);
    for (const left of [2, 1]) {
      await p.fill('#password', 'guess');
      await p.click('#login button');
      await p.waitForFunction((n) => document.getElementById('login-message')!.textContent!.includes(`あと${n}回`), left);
    }
    await p.fill('#password', 'guess');
    await p.click('#login button');
    await p.waitForFunction(() => document.getElementById('login-message')!.textContent!.includes('ロックされています'));
    await p.fill('#password', PASSWORD);
    await p.click('#login button');
    await p.waitForFunction(() => document.getElementById('login-message')!.textContent!.includes('ロックされています'));
    t.ok(await p.isHidden('#status'), 'locked out even with the right password');
    await p.screenshot({ path: join(SCREENSHOTS, 'maintenance-locked.png') });
    const unauth = await p.evaluate(() => fetch('/api/maintenance/status').then((r) => r.status));
    t.equal(unauth, 401, 'status needs a login');
  });

  t.test('status and counters after an issuance, and nothing about the resident', async (t) => {
    const k = await env.open({ prefix: 'maint', maintenance: { passwordHash } });
    t.teardown(() => k.close());
    const card = cardFor('ok');
    const fee = await k.toPay(card.cardId, card.jpki.authPin);
    await k.coins(Array.from({ length: Math.ceil(fee / 100) }, () => 100));
    await k.tap('#kiosk [data-action="pay"]');
    await k.shows('remove-card');
    await k.remove();
    await k.shows('take');
    await k.screen.kiosk.idle();
    const issuanceId = k.screen.kiosk.results[0]!.issuanceId;

    const p = k.page;
    await p.goto(`${k.url}maintenance`);
    await p.fill('#password', PASSWORD);
    await p.keyboard.press('Enter');
    await p.waitForSelector('#status:not([hidden]) td[data-key="counters.printed"]');
    t.equal(await p.textContent('td[data-key="counters.printed"]'), '1');
    t.equal(await p.textContent('td[data-key="counters.printer.jobs"]'), '1');
    t.equal(await p.textContent('td[data-key="counters.printer.copies"]'), '1');
    t.equal(await p.textContent('td[data-key="kioskId"]'), 'K0001');
    await p.screenshot({ path: join(SCREENSHOTS, 'maintenance-status.png') });
    const text = (await p.textContent('body'))!;
    for (const secret of [card.holderName, card.jpki.authPin, card.cardId, issuanceId]) {
      t.notOk(text.includes(secret), 'the maintenance screen shows no resident data or document ids');
    }
    await p.click('#logout');
    await p.waitForSelector('#login:not([hidden])');
  });
});
