/**
 * `npm start`'s second half (scripts/start.mjs; the first half is the setup that
 * `npm test` has just run) as a user meets it: the three services come up as
 * separate processes, it prints the endpoints and `ready`, the kiosk CLI issues a
 * 住民票 against it, and SIGINT (Ctrl-C) stops every process it started.
 * Ports are 0 and the state directory is private, so it never meets a stack the
 * developer is running.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { ROOT, cardFor, cityDataset, requireFixtures } from './stack.js';

const run = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

t.test('start.mjs brings the stack up, the kiosk CLI issues against it, Ctrl-C stops it all', async (t) => {
  requireFixtures();
  const state = mkdtempSync(join(tmpdir(), 'konbini-start-'));
  const child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], {
    cwd: ROOT,
    env: { ...process.env, KONBINI_CENTRE_PORT: '0', KONBINI_CITY_PORT: '0', KONBINI_KIOSK_SCREEN_PORT: '0', KONBINI_CONSOLE_PORT: '0', KONBINI_CENTRE_CITY_API_PORT: '0', KONBINI_KOSEKI_PORT: '0', KONBINI_VERIFY_PORT: '0', KONBINI_STATE_DIR: state },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so Ctrl-C can be sent the way a terminal sends it.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    rmSync(state, { recursive: true, force: true });
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/^ready in [\d.]+ s/m.test(out)) {
        clearInterval(timer);
        resolve();
      }
      if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`start.mjs exited ${child.exitCode}: ${err}`));
      }
    }, 100);
  });
  t.match(out, /^city 991015: https:\/\/127\.0\.0\.1:\d+ \(pid \d+, log /m, 'prints each city endpoint');
  t.match(out, /^centre \(kiosk line\): wss:\/\/127\.0\.0\.1:\d+\/v1\/kiosk/m, 'prints the centre endpoint');
  const pids = [...out.matchAll(/\(pid (\d+),/g)].map((m) => Number(m[1]));
  const ports = [...out.matchAll(/:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  t.match(out, /^kiosk screen: http:\/\/127\.0\.0\.1:\d+\/ \(pid \d+/m, 'prints the kiosk screen URL');
  t.match(out, /^koseki 991015: https:\/\/127\.0\.0\.1:\d+ \(pid \d+/m, 'prints each koseki server');
  t.match(out, /^city 991015 verification \(確認番号 \+ hash\): https:\/\//m, 'prints the verification endpoint');
  t.equal(pids.length, 6, 'two koseki servers, two cities, the centre and the kiosk screen, each its own process');
  t.match(out, /^centre console: http:\/\/127\.0\.0\.1:\d+\/ \(first operator: /m, 'prints the operator console URL');
  const consoleUrl = /^centre console: (\S+)/m.exec(out)![1]!;
  const login = await fetch(consoleUrl);
  t.equal(login.status, 200, 'the console answers');
  const screenUrl = /^kiosk screen: (\S+)/m.exec(out)![1]!;
  const page = await fetch(screenUrl);
  t.equal(page.status, 200, 'the kiosk screen answers');
  t.match(await page.text(), /<html/i, 'with a page');
  for (const port of ports) t.ok(await accepts(port), `port ${port} accepts connections`);
  t.ok(readdirSync(join(state, 'log')).includes('centre.log'), 'logs go to the state directory');
  t.ok(readdirSync(state).includes('centre-ledger'), 'the centre keeps its ledger in the state directory');

  const card = cardFor('ok');
  const config = join(state, 'run/kiosk.json');
  const tray = join(state, 'tray');
  const issued = await run(
    process.execPath,
    [join(ROOT, 'kiosk-sim/bin/kiosk-sim.js'), 'issue', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'resident-record', '--tray', tray, '--config', config],
    { cwd: ROOT, encoding: 'utf8' },
  );
  t.match(issued.stdout, /^printed issuance=[0-9a-f-]{36} type=resident-record copies=1 charged=\d+$/m);
  t.equal(readdirSync(tray).length, 1, 'one document in the tray');
  const holder = cityDataset(card.cityCode).residents.find((r) => r.id === card.residentId)!;
  for (const name of ['centre', `city-${card.cityCode}`]) {
    const log = readFileSync(join(state, `log/${name}.log`), 'utf8');
    t.match(log, /"msg"/, `${name} logged`);
    t.notMatch(log, holder.familyName, `no holder name in the ${name} log`);
    // Standalone only: a PIN's four digits may well occur inside a timestamp or uuid.
    t.notMatch(log, new RegExp(`(?<![0-9a-f-])${card.jpki.authPin}(?![0-9a-f-])`), `no PIN in the ${name} log`);
  }

  // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
  process.kill(-child.pid!, 'SIGINT');
  const end = await exited;
  t.equal(end.code, 0, 'exits 0 on Ctrl-C');
  t.match(out, /^stopped$/m);
  for (const pid of pids) t.notOk(alive(pid), `service pid ${pid} is gone`);
  for (const port of ports) t.notOk(await accepts(port), `port ${port} is closed`);
});

t.test('several centres or city workers without a PostgreSQL server: a clear refusal, nothing started', async (t) => {
  for (const [extra, message] of [
    [{ KONBINI_CENTRES: '2' }, /set KONBINI_PG=postgres:\/\/user@host:port/],
    [{ KONBINI_CITY_WORKERS: '3' }, /set KONBINI_PG=postgres:\/\/user@host:port/],
    [{ KONBINI_CENTRES: '0', KONBINI_PG: 'postgres://postgres@127.0.0.1:5432' }, /KONBINI_CENTRES must be a whole number from 1 to 16/],
    [{ KONBINI_PG: 'postgres://postgres@127.0.0.1:5432', KONBINI_PG_PREFIX: 'Bad-Name' }, /KONBINI_PG_PREFIX must be/],
  ] as const) {
    const state = mkdtempSync(join(tmpdir(), 'konbini-start-bad-'));
    t.teardown(() => rmSync(state, { recursive: true, force: true }));
    const r = await run(process.execPath, [join(ROOT, 'scripts/start.mjs')], { cwd: ROOT, env: { ...process.env, KONBINI_STATE_DIR: state, ...extra } }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    t.equal(r.code, 2, JSON.stringify(extra));
    t.match(r.stderr, message);
    t.same(readdirSync(join(state, 'log')), [], 'no service was started');
  }
});
