#!/usr/bin/env node
// Starts the whole stack on this machine from the dev PKI and fixtures that
// scripts/setup.sh made: one city certificate server per fixture city, then the
// issuance centre, then writes the kiosk's configuration so `npx kiosk-sim` finds
// the centre. Prints the endpoints and where the logs are, then `ready`.
// Ctrl-C (or SIGTERM) stops everything it started.
//
// Environment (all optional): KONBINI_HOST (127.0.0.1), KONBINI_CENTRE_PORT (7444),
// KONBINI_CITY_PORT (7450: first city, the next ones follow; 0 = any free port),
// KONBINI_KIOSK_SCREEN_PORT (7480), KONBINI_CONSOLE_PORT (7445), KONBINI_CENTRE_CITY_API_PORT (7446),
// KONBINI_KOSEKI_PORT (7460: first city's koseki server), KONBINI_VERIFY_PORT (7470: first city's verify endpoint),
// KONBINI_STATE_DIR (var: where run/, log/ and city-db/ go), KONBINI_KIOSK_ID (K0001).
//
// Several processes per role (docs/DEPLOYMENT.md), all on one PostgreSQL server:
// KONBINI_PG=postgres://user@host:port puts each city's replica and the centre's
// ledger in databases there (<KONBINI_PG_PREFIX>_city_<code>, <prefix>_centre;
// prefix konbini; created when missing) instead of PGlite directories; then
// KONBINI_CENTRES=K starts K centre instances and KONBINI_CITY_WORKERS=W starts W
// workers per city behind a TCP balancer on the city's port.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { centreAllocatorEnv } from './allocator.mjs';
import { startBalancer } from './tcp-balancer.mjs';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const pkiDir = join(root, 'var/pki');
const fixturesDir = join(root, 'var/fixtures');
const stateDir = resolve(root, process.env.KONBINI_STATE_DIR ?? 'var');
const runDir = join(stateDir, 'run');
const logDir = join(stateDir, 'log');
mkdirSync(runDir, { recursive: true });
mkdirSync(logDir, { recursive: true });

const HOST = process.env.KONBINI_HOST ?? '127.0.0.1';
const CENTRE_PORT = Number(process.env.KONBINI_CENTRE_PORT ?? 7444);
const CITY_BASE_PORT = Number(process.env.KONBINI_CITY_PORT ?? 7450);
const KIOSK_SCREEN_PORT = Number(process.env.KONBINI_KIOSK_SCREEN_PORT ?? 7480);
const CONSOLE_PORT = Number(process.env.KONBINI_CONSOLE_PORT ?? 7445);
const KOSEKI_BASE_PORT = Number(process.env.KONBINI_KOSEKI_PORT ?? 7460);
const VERIFY_BASE_PORT = Number(process.env.KONBINI_VERIFY_PORT ?? 7470);
/** A port free now: for a listener others must know before it starts, or that must keep its port across a restart. */
const freePort = () =>
  new Promise((res, rej) => {
    const probe = createServer();
    probe.once('error', rej);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => res(port));
    });
  });
// The cities start first and must know where the centre's city API (card links)
// will be, so it needs a port before the centre runs: 0 picks a free one now.
const CITY_API_PORT = await (async (wanted) => (wanted !== 0 ? wanted : freePort()))(Number(process.env.KONBINI_CENTRE_CITY_API_PORT ?? 7446));

const PG = process.env.KONBINI_PG?.replace(/\/+$/, '');
const PG_PREFIX = process.env.KONBINI_PG_PREFIX ?? 'konbini';
const CENTRES = Number(process.env.KONBINI_CENTRES ?? 1);
const CITY_WORKERS = Number(process.env.KONBINI_CITY_WORKERS ?? 1);
for (const [name, n] of [['KONBINI_CENTRES', CENTRES], ['KONBINI_CITY_WORKERS', CITY_WORKERS]]) {
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    process.stderr.write(`start: ${name} must be a whole number from 1 to 16\n`);
    process.exit(2);
  }
}
if (!/^[a-z_][a-z0-9_]{0,40}$/.test(PG_PREFIX)) {
  process.stderr.write('start: KONBINI_PG_PREFIX must be lower-case letters, digits and _ (a database name prefix)\n');
  process.exit(2);
}
if (!PG && (CENTRES > 1 || CITY_WORKERS > 1)) {
  // A PGlite directory belongs to one process: more than one per role needs a server.
  process.stderr.write('start: several centre instances or city workers share a PostgreSQL server: set KONBINI_PG=postgres://user@host:port (docs/DEPLOYMENT.md)\n');
  process.exit(2);
}
const pgDatabase = (name) => `${PG}/${PG_PREFIX}_${name}`;
/** Create the stack's databases on KONBINI_PG when they are missing. */
async function createDatabases(names) {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  try {
    for (const name of names) {
      const db = `${PG_PREFIX}_${name}`;
      const known = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if (known.rowCount === 0) await admin.query(`CREATE DATABASE "${db}"`);
    }
  } finally {
    await admin.end();
  }
}

let manifest;
try {
  manifest = JSON.parse(readFileSync(join(pkiDir, 'manifest.json'), 'utf8'));
} catch {
  process.stderr.write('start: no dev PKI in var/pki: run `npm start` (it runs the setup) or `npm run setup`\n');
  process.exit(1);
}
const pki = (name) => {
  const rec = manifest.certs[name];
  if (!rec) throw new Error(`dev PKI has no ${name}: run \`npm run setup\``);
  return { cert: join(pkiDir, rec.cert), key: join(pkiDir, rec.key) };
};
const rel = (p) => relative(runDir, p);

const cityFiles = readdirSync(fixturesDir).filter((f) => /^city-\d{6}\.json$/.test(f)).sort();
const cities = cityFiles.map((f, i) => {
  const code = f.slice(5, 11);
  return { code, dataset: join(fixturesDir, f), port: CITY_BASE_PORT === 0 ? 0 : CITY_BASE_PORT + i, ...pki(`lgwan-city-${code}`) };
});

const children = [];
const balancers = [];
let stopping = false;

/**
 * Start one service; its output goes to var/log/<name>.log. Resolves with the URL
 * of its `listening <url>` line (the one line each CLI prints on stdout).
 * Once it has been up, a crash (any exit but a requested stop) restarts it with
 * the same arguments, as a service manager would: the same ports, so the rest of
 * the stack finds it again. More than RESTART_LIMIT crashes a minute stop the stack.
 */
const RESTART_LIMIT = 5;
function launch(name, args, env = process.env) {
  return new Promise((resolveReady, rejectReady) => {
    const logPath = join(logDir, `${name}.log`);
    const log = createWriteStream(logPath, { flags: 'a' });
    const entry = { name, child: null, logPath };
    children.push(entry);
    const crashes = [];
    let everUp = false;

    const spawnOnce = () => {
      const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      entry.child = child;
      let buffered = '';
      let consoleUrl;
      let verifyUrl;
      child.stdout.on('data', (d) => {
        log.write(d);
        buffered += d.toString();
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          // The centre announces its operator console before it listens.
          if (line.startsWith('console ')) consoleUrl = line.slice('console '.length);
          if (line.startsWith('verify ')) verifyUrl = line.slice('verify '.length);
          if (line.startsWith('listening ')) {
            if (everUp) console.log(`${name} restarted (pid ${child.pid})`);
            everUp = true;
            resolveReady({ url: line.slice('listening '.length).split(' ')[0], pid: child.pid, logPath, consoleUrl, get verifyUrl() { return verifyUrl; } });
          }
        }
      });
      child.stderr.on('data', (d) => log.write(d));
      child.on('exit', (code, signal) => {
        if (stopping) {
          log.end();
          return;
        }
        // Ctrl-C in a terminal reaches the whole process group: a service may see
        // it before this script does. That is a stop, not a crash.
        if (signal === 'SIGINT' || signal === 'SIGTERM' || code === 0) {
          log.end();
          stop(0);
          return;
        }
        const now = Date.now();
        crashes.push(now);
        while (crashes.length && crashes[0] < now - 60_000) crashes.shift();
        if (everUp && crashes.length <= RESTART_LIMIT) {
          process.stderr.write(`${name} exited (${signal ?? code}); see ${relative(process.cwd(), logPath)}; restarting\n`);
          setTimeout(() => !stopping && spawnOnce(), 200 * crashes.length);
          return;
        }
        log.end();
        process.stderr.write(`${name} exited (${signal ?? code}); see ${relative(process.cwd(), logPath)}; stopping the stack\n`);
        stop(1);
        rejectReady(new Error(`${name} exited before it was ready (see ${relative(process.cwd(), logPath)})`));
      });
    };
    spawnOnce();
  });
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5000);
  const exited = ({ child }) =>
    child.exitCode !== null || child.signalCode !== null ? null : new Promise((r) => child.once('exit', r));
  for (const b of balancers) void b.close();
  Promise.all(children.map(exited)).then(() => {
    clearTimeout(deadline);
    console.log('stopped');
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const portOf = (url) => Number(new URL(url.replace(/^wss:/, 'https:')).port);

const started = Date.now();
try {
  // koseki servers (city-cert --role koseki): each city's replica forwards koseki types to its own
  const kosekiUp = await Promise.all(
    cities.map((c, i) =>
      launch(`koseki-${c.code}`, [
        'city-cert-server/bin/city-cert.js', 'serve', '--role', 'koseki',
        '--dataset', join(fixturesDir, `koseki-${c.code}.json`),
        '--host', HOST, '--port', String(KOSEKI_BASE_PORT === 0 ? 0 : KOSEKI_BASE_PORT + i),
        // its own server certificate (CN koseki-<code>), pinned by the replica below
        '--key', pki(`lgwan-koseki-${c.code}`).key, '--cert', pki(`lgwan-koseki-${c.code}`).cert, '--ca', pki('lgwan-ca').cert,
        '--allow', `city-${c.code}`,
        '--hsm', join(root, 'var/hsm'),
        // development: koseki at any hour (default: weekdays 09:00-17:00 Tokyo, closed 12/29-1/3)
        '--hours', '00:00-24:00', '--days', 'sun-sat',
      ]),
    ),
  );
  kosekiUp.forEach((up, i) => console.log(`koseki ${cities[i].code}: ${up.url} (pid ${up.pid}, log ${relative(process.cwd(), up.logPath)})`));
  if (PG) await createDatabases([...cities.map((c) => `city_${c.code}`), 'centre']);
  const cityArgs = (c, i, w, port) => [
    'city-cert-server/bin/city-cert.js', 'serve',
    '--dataset', c.dataset,
    '--db', PG ? pgDatabase(`city_${c.code}`) : join(stateDir, 'city-db', c.code),
    '--host', HOST, '--port', String(port),
    '--key', c.key, '--cert', c.cert, '--ca', pki('lgwan-ca').cert,
    // documents are signed by the city's key in its SoftHSM2 token (setup: city-cert hsm init)
    '--hsm', join(root, 'var/hsm'),
    // card issue/revoke from the city's deltas go to the centre's card directory
    '--centre-city-api', `https://localhost:${CITY_API_PORT}`, '--centre-cert', pki('lgwan-centre').cert,
    // koseki types are made by the koseki server beside the koseki system, pinned
    '--koseki-url', kosekiUp[i].url,
    '--koseki-pin', manifest.certs[`lgwan-koseki-${c.code}`].sha256,
    // 異動 batches from the city's core system (its client certificate: lgwan-juki-core-<code>)
    '--sync-allow', `juki-core-${c.code}`,
    // the public verification endpoint (確認番号 + hash → authentic or not); the first worker's
    '--verify-port', String(w > 0 ? 0 : VERIFY_BASE_PORT === 0 ? 0 : VERIFY_BASE_PORT + i),
    '--render-workers', '2',
  ];
  let cityUp;
  if (CITY_WORKERS === 1) {
    cityUp = await Promise.all(cities.map((c, i) => launch(`city-${c.code}`, cityArgs(c, i, 0, c.port))));
  } else {
    // Each worker keeps its port across a restart, so the balancer finds it again.
    const workerPorts = await Promise.all(cities.map(() => Promise.all(Array.from({ length: CITY_WORKERS }, freePort))));
    // The first worker of each city migrates and loads the dataset; the others then find it loaded.
    const first = await Promise.all(cities.map((c, i) => launch(`city-${c.code}-1`, cityArgs(c, i, 0, workerPorts[i][0]))));
    const rest = await Promise.all(
      cities.flatMap((c, i) => workerPorts[i].slice(1).map((port, j) => launch(`city-${c.code}-${j + 2}`, cityArgs(c, i, j + 1, port)))),
    );
    [...first, ...rest].forEach((up) => console.log(`city worker: ${up.url} (pid ${up.pid}, log ${relative(process.cwd(), up.logPath)})`));
    cityUp = await Promise.all(
      cities.map(async (c, i) => {
        const balancer = await startBalancer({ host: HOST, port: c.port, targets: workerPorts[i].map((port) => ({ host: HOST, port })) });
        balancers.push(balancer);
        return { url: `https://${HOST}:${balancer.port}`, get verifyUrl() { return first[i].verifyUrl; } };
      }),
    );
  }
  cityUp.forEach((up, i) => {
    cities[i].port = portOf(up.url);
    console.log(`city ${cities[i].code}: ${up.url} (${CITY_WORKERS === 1 ? `pid ${up.pid}, log ${relative(process.cwd(), up.logPath)}` : `${CITY_WORKERS} workers behind a balancer`})`);
  });
  const juki = manifest.certs[`lgwan-juki-core-${cities[0].code}`];
  if (juki) {
    console.log(
      `city ${cities[0].code} 異動 batches (core system): curl --cert ${relative(process.cwd(), join(pkiDir, juki.cert))} --key ${relative(process.cwd(), join(pkiDir, juki.key))} ` +
        `--cacert ${relative(process.cwd(), pki('lgwan-ca').cert)} -H 'content-type: application/x-ndjson' --data-binary @deltas.jsonl https://localhost:${cities[0].port}/v1/sync/delta`,
    );
  }

  // The city certificates are pinned by the centre (fingerprint taken from `cert`).
  const centreConfig = {
    host: HOST,
    port: CENTRE_PORT,
    // Without a fixed port the centre derives its origin from the port it got.
    ...(CENTRE_PORT !== 0 ? { origin: `wss://localhost:${CENTRE_PORT}` } : {}),
    kioskTls: {
      key: rel(pki('kiosk-line-centre').key),
      cert: rel(pki('kiosk-line-centre').cert),
      ca: rel(pki('kiosk-line-ca').cert),
      ...(manifest.crls['kiosk-line-ca'] ? { crl: rel(join(pkiDir, manifest.crls['kiosk-line-ca'].pem)) } : {}),
    },
    lgwanTls: { key: rel(pki('lgwan-centre').key), cert: rel(pki('lgwan-centre').cert), ca: rel(pki('lgwan-ca').cert) },
    jpki: { roots: [rel(pki('jpki-auth-ca').cert)], crl: rel(join(fixturesDir, 'jpki-auth.crl.der')) },
    directory: rel(join(fixturesDir, 'centre.json')),
    cities: cities.map((c) => ({ code: c.code, endpoint: `https://localhost:${c.port}`, cert: rel(c.cert) })),
    // Development: open at any hour ("enforce": 6:30-23:00 Tokyo time, closed 12/29-1/3).
    serviceHours: 'always-open',
    // KONBINI_KIOSK_RATE=burst,perSecond: the load harness simulates many kiosks over
    // the fixtures' four kiosk certificates, so it raises the per-kiosk limit.
    ...(process.env.KONBINI_KIOSK_RATE
      ? { kioskRate: { burst: Number(process.env.KONBINI_KIOSK_RATE.split(',')[0]), perSecond: Number(process.env.KONBINI_KIOSK_RATE.split(',')[1]) } }
      : {}),
    ledger: PG ? { url: pgDatabase('centre') } : { dataDir: rel(join(stateDir, 'centre-ledger')) },
    cityApi: { host: HOST, port: CITY_API_PORT },
    console: { host: HOST, port: CONSOLE_PORT, operators: rel(join(stateDir, 'centre-operators.json')) },
  };
  writeFileSync(join(runDir, 'centre.json'), JSON.stringify(centreConfig, null, 2));
  const allocator = centreAllocatorEnv();
  const centre = await launch('centre', ['issuance-center/bin/issuance-center.js', 'serve', '--config', join(runDir, 'centre.json')], allocator.env);
  const centrePort = portOf(centre.url);
  console.log(`centre (kiosk line): ${centre.url} (pid ${centre.pid}, ${allocator.allocator} malloc, log ${relative(process.cwd(), centre.logPath)})`);
  // More instances: the same configuration with their own listeners (docs/DEPLOYMENT.md),
  // started after the first, which has set up the shared ledger and directory.
  const moreCentres = [];
  for (let n = 2; n <= CENTRES; n++) {
    const [port, consolePort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const config = { ...centreConfig, port, origin: `wss://localhost:${port}`, cityApi: { host: HOST, port: apiPort }, console: { ...centreConfig.console, port: consolePort } };
    writeFileSync(join(runDir, `centre-${n}.json`), JSON.stringify(config, null, 2));
    moreCentres.push(launch(`centre-${n}`, ['issuance-center/bin/issuance-center.js', 'serve', '--config', join(runDir, `centre-${n}.json`)], allocator.env));
  }
  (await Promise.all(moreCentres)).forEach((up, i) =>
    console.log(`centre ${i + 2} (kiosk line): ${up.url} (pid ${up.pid}, ${allocator.allocator} malloc, log ${relative(process.cwd(), up.logPath)})`),
  );
  cityUp.forEach((up, i) => up.verifyUrl && console.log(`city ${cities[i].code} verification (確認番号 + hash): ${up.verifyUrl}`));
  console.log(`centre city API (card links from the cities): https://${HOST}:${CITY_API_PORT}/v1/card-links`);
  console.log(`centre console: ${centre.consoleUrl ?? '(not started)'} (first operator: npx issuance-center operator add admin --config ${relative(process.cwd(), join(runDir, 'centre.json'))})`);

  const kioskId = process.env.KONBINI_KIOSK_ID ?? 'K0001';
  const kioskConfig = {
    centreUrl: `wss://localhost:${centrePort}/v1/kiosk`,
    centreOrigin: `wss://localhost:${centrePort}`,
    kioskId,
    tls: { key: rel(pki(`kiosk-${kioskId}`).key), cert: rel(pki(`kiosk-${kioskId}`).cert), ca: rel(pki('kiosk-line-ca').cert) },
    cardsDir: rel(join(fixturesDir, 'cards')),
    workDir: rel(join(stateDir, 'kiosk')),
  };
  const kioskConfigPath = join(runDir, 'kiosk.json');
  writeFileSync(kioskConfigPath, JSON.stringify(kioskConfig, null, 2));
  const screen = await launch('kiosk-screen', [
    'kiosk-sim/bin/kiosk-sim.js', 'screen',
    '--config', kioskConfigPath, '--host', HOST, '--port', String(KIOSK_SCREEN_PORT),
    '--tray', join(stateDir, 'tray'),
  ]);
  const configFlag = stateDir === join(root, 'var') ? '' : ` --config ${kioskConfigPath}`;
  console.log(`kiosk screen: ${screen.url} (pid ${screen.pid}, log ${relative(process.cwd(), screen.logPath)}; open it in a browser, cards in the side panel)`);
  console.log(`kiosk ${kioskId}: headless CLI, configured by ${relative(process.cwd(), kioskConfigPath)}`);
  console.log(`  npx kiosk-sim card list${configFlag}`);
  console.log(`  npx kiosk-sim issue --card C0001 --pin <PIN from card list> --type resident-record --tray var/tray${configFlag}`);
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (Ctrl-C stops all)`);
} catch (err) {
  process.stderr.write(`start failed: ${err.message}\n`);
  stop(1);
}
