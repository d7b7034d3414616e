import { existsSync } from 'node:fs';
import t from 'tap';
import { totp } from '../../src/ops/totp.js';
import { cardKit } from '../auth/helpers.js';
import { CITY_CODE, startCentre } from '../helpers/centre.js';
import { operatorRecord, PASSWORD } from './helpers.js';

t.setTimeout(120_000);
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

t.test('console in a browser: log in with password + TOTP, suspend a city', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no ${CHROMIUM}`);
  const pw = await import('playwright-core').catch(() => undefined);
  if (!pw) return t.skip('playwright-core is not installed');
  const alice = await operatorRecord('alice');
  const c = await startCentre({ kit: await cardKit(new Date()), centre: { console: { listen: { host: '127.0.0.1', port: 0 }, operators: [alice] } } });
  t.teardown(() => c.close());
  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(c.app.operatorConsole!.url());
  await page.getByRole('heading', { name: /ログイン/ }).waitFor();

  await page.fill('input[name=name]', 'alice');
  await page.fill('input[name=password]', 'wrong password');
  await page.fill('input[name=totp]', totp(alice.totpSecret, new Date()));
  await page.click('#login button[type=submit]');
  await page.locator('#login-error', { hasText: 'OPERATOR_LOGIN_FAILED' }).waitFor();
  t.pass('a wrong password is shown as such, in Japanese and English');

  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=totp]', totp(alice.totpSecret, new Date(Date.now() + 30_000)));
  await page.click('#login button[type=submit]');
  await page.locator('#who', { hasText: 'alice' }).waitFor();
  const cookies = await page.context().cookies();
  t.same(cookies.map((k) => [k.name, k.httpOnly, k.sameSite]), [['konbini_ops', true, 'Strict']], 'HttpOnly, SameSite=Strict');
  t.equal(await page.evaluate(() => document.cookie), '', 'the page script cannot read the session');

  page.once('dialog', (d) => void d.accept());
  await page.click(`button[data-city="${CITY_CODE}"][data-verb=suspend]`);
  await page.locator('#cities .suspended').waitFor();
  t.equal(c.app.directory.city(CITY_CODE)?.status, 'suspended', 'suspended from the console');
  await page.locator('#audit td', { hasText: 'city-suspend' }).first().waitFor();
  t.pass('the action shows in the audit log');
  const k = await c.kiosk();
  t.equal((await k.login(c.kit, c.card)).answer?.code, 'CITY_SUSPENDED');
});
