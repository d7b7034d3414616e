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

t.test('console in a browser: the issuances closed unreported, the one with a late "printed" marked for action', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`no ${CHROMIUM}`);
  const pw = await import('playwright-core').catch(() => undefined);
  if (!pw) return t.skip('playwright-core is not installed');
  const alice = await operatorRecord('alice');
  const c = await startCentre({ kit: await cardKit(new Date()), centre: { kioskReportGraceMs: 500, console: { listen: { host: '127.0.0.1', port: 0 }, operators: [alice] } } });
  t.teardown(() => c.close());

  // A kiosk takes the document and drops its line; the grace period ends; it comes back saying it printed.
  const k = await c.kiosk();
  const { sessionId } = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  let id: string | undefined;
  while (!id) {
    const m = await k.message();
    if (!m || m.type === 'error') throw new Error(`no document (${String(m?.code)})`);
    if (m.type === 'issue.document') id = m.issuanceId as string;
  }
  k.ws.terminate();
  for (let i = 0; (await c.app.ledger.get(id))?.outcome !== 'failed'; i++) {
    if (i > 400) throw new Error('not closed after the grace period');
    await new Promise((r) => setTimeout(r, 50));
  }
  const back = await c.kiosk();
  back.send({ type: 'issue.late-outcome', issuanceId: id, outcome: 'printed', copiesPrinted: 1, at: new Date().toISOString() });
  t.match(await back.message(), { code: 'LATE_OUTCOME_EXPIRED' });

  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(c.app.operatorConsole!.url());
  await page.fill('input[name=name]', 'alice');
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=totp]', totp(alice.totpSecret, new Date()));
  await page.click('#login button[type=submit]');
  await page.getByRole('heading', { name: /未報告で終了した発行/ }).waitFor();
  const rowOf = page.locator('#unreported tbody tr', { hasText: id });
  await rowOf.waitFor();
  const cells = await rowOf.locator('td').allInnerTexts();
  t.equal(cells.length, 7);
  t.same(cells.slice(1, 4), [id, 'K0001', CITY_CODE], 'issuance id, kiosk and city');
  t.equal(cells[5], '1', 'one copy printed, the kiosk says');
  t.match(cells[6], /要対応 \/ action needed/, 'marked for action');
  t.match(await page.locator('#unreported-count').innerText(), /全 1 件（要対応 1 件） \/ 1 in all \(1 need action\)/);
});
