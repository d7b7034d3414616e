#!/usr/bin/env node
// Starts the whole stack on this machine from the dev PKI and fixtures that
// scripts/setup.sh made: one city certificate server per fixture city, the
// issuance centre, and writes the kiosk's configuration so `npx kiosk-sim` finds
// the centre. Prints the endpoints, then `ready`. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const pkiDir = join(root, 'var/pki');
const fixturesDir = join(root, 'var/fixtures');
const runDir = join(root, 'var/run');
mkdirSync(runDir, { recursive: true });

const HOST = process.env.KONBINI_HOST ?? '127.0.0.1';
const CENTRE_PORT = Number(process.env.KONBINI_CENTRE_PORT ?? 7444);
const CITY_BASE_PORT = Number(process.env.KONBINI_CITY_PORT ?? 7450);

const manifest = JSON.parse(readFileSync(join(pkiDir, 'manifest.json'), 'utf8'));
const pki = (name) => {
  const rec = manifest.certs[name];
  if (!rec) throw new Error(`dev PKI has no ${name}: run \`npm run setup\``);
  return { cert: join(pkiDir, rec.cert), key: join(pkiDir, rec.key) };
};
const rel = (p) => relative(runDir, p);

const cityFiles = readdirSync(fixturesDir).filter((f) => /^city-\d{6}\.json$/.test(f)).sort();
const cities = cityFiles.map((f, i) => {
  const code = f.slice(5, 11);
  return { code, dataset: join(fixturesDir, f), port: CITY_BASE_PORT + i, ...pki(`lgwan-city-${code}`) };
});

const centreConfig = {
  host: HOST,
  port: CENTRE_PORT,
  origin: `wss://localhost:${CENTRE_PORT}`,
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
};
writeFileSync(join(runDir, 'centre.json'), JSON.stringify(centreConfig, null, 2));

const kioskId = process.env.KONBINI_KIOSK_ID ?? 'K0001';
const kioskConfig = {
  centreUrl: `wss://localhost:${CENTRE_PORT}/v1/kiosk`,
  centreOrigin: centreConfig.origin,
  kioskId,
  tls: { key: rel(pki(`kiosk-${kioskId}`).key), cert: rel(pki(`kiosk-${kioskId}`).cert), ca: rel(pki('kiosk-line-ca').cert) },
  cardsDir: rel(join(fixturesDir, 'cards')),
  workDir: rel(join(root, 'var/kiosk')),
};
writeFileSync(join(runDir, 'kiosk.json'), JSON.stringify(kioskConfig, null, 2));

const children = [];
let stopping = false;

function launch(name, args, readyPattern) {
  return new Promise((resolveReady, rejectReady) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push({ name, child });
    let buffered = '';
    const onLine = (line) => {
      if (readyPattern.test(line)) resolveReady(line.trim());
    };
    child.stdout.on('data', (d) => {
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        onLine(line);
        if (process.env.KONBINI_VERBOSE) process.stdout.write(`[${name}] ${line}\n`);
      }
    });
    child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
    child.on('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`${name} exited (${signal ?? code}); stopping the stack\n`);
        stop(1);
      }
      rejectReady(new Error(`${name} exited before it was ready`));
    });
  });
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
  }, 5000);
  Promise.all(children.map(({ child }) => (child.exitCode !== null ? null : new Promise((r) => child.once('exit', r))))).then(() => {
    clearTimeout(deadline);
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const started = Date.now();
try {
  const cityLines = await Promise.all(
    cities.map((c) =>
      launch(
        `city ${c.code}`,
        [
          'city-cert-server/bin/city-cert.js', 'serve',
          '--dataset', c.dataset,
          '--db', join(root, 'var/city-db', c.code),
          '--host', HOST, '--port', String(c.port),
          '--key', c.key, '--cert', c.cert, '--ca', pki('lgwan-ca').cert,
        ],
        /^listening /,
      ),
    ),
  );
  cityLines.forEach((line, i) => console.log(`city ${cities[i].code}: ${line.replace(/^listening /, '')}`));
  const centreLine = await launch('centre', ['issuance-center/bin/issuance-center.js', 'serve', '--config', join(runDir, 'centre.json')], /^listening /);
  console.log(`centre (kiosk line): ${centreLine.replace(/^listening /, '')}`);
  console.log(`kiosk ${kioskId}: headless CLI, configured by var/run/kiosk.json`);
  console.log(`  npx kiosk-sim card list`);
  console.log(`  npx kiosk-sim issue --card <id> --pin <pin> --type resident-record --tray var/tray`);
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (Ctrl-C stops all)`);
} catch (err) {
  process.stderr.write(`start failed: ${err.message}\n`);
  stop(1);
}
