import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CITY_API } from '@konbini/protocol';
import { call } from './helpers/client.js';
import { testDataset } from './helpers/dataset.js';
import { makeTestPki } from './helpers/pki.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../src/cli.ts');
const pki = makeTestPki();
const work = mkdtempSync(join(tmpdir(), 'city-cert-cli-'));
const children = new Set<ChildProcess>();

t.teardown(() => {
  for (const c of children) if (c.exitCode === null) process.kill(c.pid!, 'SIGKILL');
  pki.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const datasetFile = join(work, 'city.json');
writeFileSync(datasetFile, JSON.stringify(testDataset(new Date()).dataset));
for (const [n, pem] of [['server.key', pki.server.key], ['server.crt', pki.server.cert], ['ca.crt', pki.ca]] as const) writeFileSync(join(work, n), pem);

interface Started {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[]): Promise<Started> {
  // These tests are about serving; document signing has its own (test/sign/).
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'serve', '--unsigned', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolveStart, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening https:\/\/127\.0\.0\.1:(\d+)\n/.exec(out);
      if (m) resolveStart({ child, port: Number(m[1]), stderr: () => err, exit });
    });
    void exit.then((code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

t.test('serve with --key/--cert/--ca and a PGlite dir; reload only when the dataset changed', async (t) => {
  const db = join(work, 'replica');
  const args = ['--dataset', datasetFile, '--port', '0', '--db', db, '--key', join(work, 'server.key'), '--cert', join(work, 'server.crt'), '--ca', join(work, 'ca.crt')];
  const first = await start(args);
  const health = await call({ port: first.port, ca: pki.ca, client: pki.centre, path: CITY_API.health });
  t.match(health.json(), { status: 'ok', cityCode: '999997', datasetSeed: 42 });
  t.match(first.stderr(), /replica ready \(dataset loaded\)/);
  process.kill(first.child.pid!, 'SIGTERM');
  t.equal(await first.exit, 0, 'graceful close on SIGTERM');

  const second = await start(args);
  t.notMatch(second.stderr(), /dataset loaded/, 'same city and seed: replica kept');
  t.match(second.stderr(), /replica ready/);
  const again = await call({ port: second.port, ca: pki.ca, client: pki.centre, path: CITY_API.health });
  t.equal(again.status, 200);
  process.kill(second.child.pid!, 'SIGINT');
  t.equal(await second.exit, 0, 'graceful close on SIGINT');
});

t.test('serve with --pki <dir> (manifest.json layout)', async (t) => {
  const dir = join(work, 'pki');
  mkdirSync(join(dir, 'lgwan'), { recursive: true });
  writeFileSync(join(dir, 'lgwan/city-999997.key.pem'), pki.server.key);
  writeFileSync(join(dir, 'lgwan/city-999997.cert.pem'), pki.server.cert);
  writeFileSync(join(dir, 'lgwan/ca.cert.pem'), pki.ca);
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      version: 1,
      certs: {
        'lgwan-ca': { cert: 'lgwan/ca.cert.pem', key: 'lgwan/ca.key.pem', cn: 'LGWAN-sim Root CA' },
        'lgwan-city-999997': { cert: 'lgwan/city-999997.cert.pem', key: 'lgwan/city-999997.key.pem', cn: 'city-999997' },
      },
    }),
  );
  const s = await start(['--dataset', datasetFile, '--port', '0', '--pki', dir]);
  const health = await call({ port: s.port, ca: pki.ca, client: pki.centre, path: CITY_API.health });
  t.equal(health.status, 200);
  process.kill(s.child.pid!, 'SIGTERM');
  t.equal(await s.exit, 0);
});

t.test('usage errors exit 2', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'serve', '--port', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 2);
  t.match(err, /usage: city-cert serve/);
});

t.test('serve without a signer, and without saying --unsigned, refuses to start', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'serve', '--dataset', datasetFile, '--port', '0', '--key', join(work, 'server.key'), '--cert', join(work, 'server.crt'), '--ca', join(work, 'ca.crt')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 2);
  t.match(err, /documents must be signed/);
});
