import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { totp } from '../../src/ops/totp.js';
import { cli } from '../ledger/helpers.js';
import { cardKit } from '../auth/helpers.js';
import { CITY_CODE, startCentre } from '../helpers/centre.js';
import { operatorRecord, OpsClient, PASSWORD } from './helpers.js';

t.setTimeout(180_000);

t.test('operator console: login with password + TOTP, sessions, lockout, actions audited', async (t) => {
  const clock = { now: new Date('2026-05-12T03:00:00Z') };
  const kit = await cardKit(clock.now);
  const alice = await operatorRecord('alice');
  const bob = await operatorRecord('bob');
  const c = await startCentre({
    kit,
    centre: { now: () => clock.now, ledgerDb: {}, console: { listen: { host: '127.0.0.1', port: 0 }, operators: [alice, bob] } },
  });
  t.teardown(() => c.close());
  const url = c.app.operatorConsole!.url();
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  const page = await fetch(url);
  t.equal(page.status, 200);
  t.match(await page.text(), /運用コンソール/, 'the console page, Japanese first');

  const anon = new OpsClient(url);
  for (const [m, p] of [['GET', '/api/status'], ['POST', '/api/cities/991015/suspend'], ['GET', '/api/settlement?month=2026-05'], ['GET', '/api/audit']] as const) {
    const r = await anon.call(m, p, m === 'POST' ? {} : undefined);
    t.equal(r.status, 401, `${m} ${p} without a session: 401`);
    t.equal(r.body.code, 'UNAUTHENTICATED');
  }
  t.equal(c.app.directory.city(CITY_CODE)?.status, 'active', 'nothing changed');

  // Without the one-time code, with a wrong one, with a wrong password.
  const op = new OpsClient(url);
  const noCode = await op.call('POST', '/api/login', { name: 'alice', password: PASSWORD });
  t.equal(noCode.status, 400, 'no TOTP field: refused');
  t.equal(noCode.body.code, 'MESSAGE_INVALID');
  const wrongCode = await op.login(alice, clock.now, PASSWORD, totp(alice.totpSecret, new Date(clock.now.getTime() + 300_000)));
  t.equal(wrongCode.status, 401);
  t.equal(wrongCode.body.code, 'OPERATOR_LOGIN_FAILED');
  t.equal(wrongCode.setCookie, null, 'no cookie');
  const wrongPassword = await op.login(alice, clock.now, 'not the password');
  t.equal(wrongPassword.body.code, 'OPERATOR_LOGIN_FAILED', 'same code whichever part was wrong');
  t.equal((await op.login({ name: 'mallory', totpSecret: alice.totpSecret }, clock.now)).body.code, 'OPERATOR_LOGIN_FAILED', 'unknown name: same code');

  const ok = await op.login(alice, clock.now);
  t.equal(ok.status, 200, 'password + TOTP: logged in');
  t.match(ok.setCookie, /^konbini_ops=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
  t.same((await op.call('GET', '/api/session')).body, { name: 'alice' });
  const replay = await new OpsClient(url).login(alice, clock.now);
  t.equal(replay.body.code, 'OPERATOR_LOGIN_FAILED', 'the same one-time code cannot be used twice');

  // Live status.
  const status = await op.call('GET', '/api/status');
  t.same(status.body.cities.map((x: { code: string; status: string }) => [x.code, x.status]), [[CITY_CODE, 'active']]);
  const k = await c.kiosk();
  const kioskStatus = (await op.call('GET', '/api/status')).body.kiosks.find((x: { kioskId: string }) => x.kioskId === 'K0001');
  t.equal(kioskStatus.connected, true, 'a connected kiosk shows');

  // Suspend and resume through the API: a resident is refused meanwhile.
  const suspended = await op.call('POST', `/api/cities/${CITY_CODE}/suspend`, {});
  t.same(suspended.body, { code: CITY_CODE, status: 'suspended' });
  t.equal((await k.login(c.kit, c.card)).answer?.code, 'CITY_SUSPENDED');
  t.same((await op.call('POST', `/api/cities/${CITY_CODE}/resume`, {})).body, { code: CITY_CODE, status: 'active' });
  t.equal((await k.login(c.kit, c.card)).answer?.type, 'session.menu');
  t.equal((await op.call('POST', '/api/cities/999999/suspend', {})).body.code, 'CITY_UNKNOWN');
  const csrf = await op.call('POST', `/api/cities/${CITY_CODE}/suspend`, {}, { origin: 'http://evil.example' });
  t.equal(csrf.status, 403, 'a POST from another origin is refused');
  t.equal((await op.call('POST', `/api/cities/${CITY_CODE}/suspend`, {}, { origin: 'null' })).status, 403, 'and from an opaque origin');
  t.equal(c.app.directory.city(CITY_CODE)?.status, 'active');

  // Settlement for a month, JSON and CSV: one issuance printed (2 copies) through the centre.
  const session = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId: session.sessionId, certType: 'resident-record', options: {}, copies: 2 });
  const accepted = await k.message();
  t.equal((await k.message())?.type, 'issue.document');
  k.send({ type: 'issue.outcome', sessionId: session.sessionId, issuanceId: accepted!.issuanceId, outcome: 'printed', copiesPrinted: 2 });
  t.equal((await k.message())?.type, 'issue.recorded');
  const json = await op.call('GET', '/api/settlement?month=2026-05');
  t.equal(json.status, 200);
  t.equal(json.body.month, '2026-05');
  t.match(json.body.cities, [{ cityCode: CITY_CODE, totals: { issuances: 1, copies: 2, fees: 400, commission: 230, netToCity: 170, failed: 0 } }], 'the month: 2 copies, 400 yen, 115 per copy withheld');
  const csv = await op.call('GET', '/api/settlement?month=2026-05&format=csv');
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  t.match(csv.headers.get('content-disposition'), /settlement-2026-05\.csv/);
  t.match(csv.body, `2026-05,${CITY_CODE},resident-record,1,2,400,115,230,170,0\n`, 'the same in CSV');
  t.equal((await op.call('GET', '/api/settlement?month=2026-13')).body.code, 'MESSAGE_INVALID');

  // Lockout: five failures in a row lock the name, even against the right password.
  const b = new OpsClient(url);
  for (let i = 0; i < 5; i++) t.equal((await b.login(bob, clock.now, `wrong ${i}`)).body.code, 'OPERATOR_LOGIN_FAILED');
  const locked = await b.login(bob, clock.now);
  t.equal(locked.status, 423);
  t.equal(locked.body.code, 'OPERATOR_LOCKED', 'locked: the right password does not help');
  clock.now = new Date(clock.now.getTime() + 16 * 60_000);
  t.equal((await b.login(bob, clock.now)).status, 200, 'after 15 minutes: in again');

  // Logout ends the session.
  const cookie = op.cookie;
  t.equal((await op.call('POST', '/api/logout', {})).status, 200);
  op.cookie = cookie;
  t.equal((await op.call('GET', '/api/status')).body.code, 'UNAUTHENTICATED', 'the old cookie is dead');

  // The audit log: who, what, when, outcome; nothing personal.
  const audit = (await b.call('GET', '/api/audit?limit=500')).body.events as { at: string; actor: string; action: string; target?: string; outcome: string; code?: string }[];
  const seen = audit.map((e) => `${e.actor} ${e.action} ${e.outcome}${e.code ? ` ${e.code}` : ''}${e.target ? ` ${e.target}` : ''}`).reverse();
  for (const line of [
    'anonymous status refused UNAUTHENTICATED',
    'anonymous city-suspend refused UNAUTHENTICATED',
    'operator:alice login refused OPERATOR_LOGIN_FAILED',
    'operator:mallory login refused OPERATOR_LOGIN_FAILED',
    'operator:alice login ok',
    `operator:alice city-suspend ok city:${CITY_CODE}`,
    `operator:alice city-resume ok city:${CITY_CODE}`,
    'operator:alice city-suspend refused CITY_UNKNOWN city:999999',
    'operator:alice settlement ok month:2026-05:json',
    'operator:alice settlement ok month:2026-05:csv',
    'operator:bob login refused OPERATOR_LOCKED',
    'operator:bob login ok',
    'operator:alice logout ok',
  ]) t.ok(seen.includes(line), line);
  t.ok(audit.every((e) => !Number.isNaN(Date.parse(e.at))), 'each with its time');
  t.notOk(JSON.stringify(audit).includes(c.card.serial), 'no card serial');
  t.notOk(JSON.stringify(audit).includes(PASSWORD) || JSON.stringify(c.logs).includes(PASSWORD), 'no password anywhere');
});

t.test('operator add (CLI) prints the TOTP secret once; the console reads the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-ops-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'operators.json');
  const added = await cli(['operator', 'add', 'carol', '--operators', file], { KONBINI_OPERATOR_PASSWORD: PASSWORD });
  t.equal(added.code, 0, added.err);
  const secret = /^totp-secret ([A-Z2-7]{32})$/m.exec(added.out)?.[1];
  t.ok(secret, 'the secret is printed');
  t.match(added.out, new RegExp(`^otpauth otpauth://totp/konbini-centre%3Acarol\\?secret=${secret}&issuer=konbini-centre`, 'm'));
  t.notMatch(added.out, /^password /m, 'a given password is not echoed');
  const stored = readFileSync(file, 'utf8');
  t.notOk(stored.includes(PASSWORD), 'only the scrypt hash is stored');
  t.match(stored, /"passwordHash": "scrypt\$16384\$8\$1\$/);
  t.equal((await cli(['operator', 'add', 'carol', '--operators', file], { KONBINI_OPERATOR_PASSWORD: PASSWORD })).code, 1, 'a name once');
  const generated = await cli(['operator', 'add', 'dave', '--operators', file], { KONBINI_OPERATOR_PASSWORD: '' });
  t.equal(generated.code, 1, 'a short password is refused');

  const now = new Date();
  const c = await startCentre({ kit: await cardKit(now), centre: { console: { listen: { host: '127.0.0.1', port: 0 }, operators: file } } });
  t.teardown(() => c.close());
  const op = new OpsClient(c.app.operatorConsole!.url());
  const code = await cli(['operator', 'code', 'carol', '--operators', file]);
  t.equal((await op.login({ name: 'carol', totpSecret: secret! }, now, PASSWORD, code.out.trim())).status, 200, 'logged in with the printed secret');
});
