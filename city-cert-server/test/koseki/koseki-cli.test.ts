/**
 * `city-cert serve --role koseki --pki <dir>` presents the koseki server's own
 * certificate (lgwan-koseki-<code>), never the city's, and a replica given the same
 * --pki pins exactly that certificate; a dev PKI made before koseki certificates
 * existed is refused with the command that adds them.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'node:tls';
import { KosekiUsageError, replicaKosekiOption } from '../../src/koseki/cli.js';
import { KosekiClient } from '../../src/koseki/client.js';
import { testDataset } from '../helpers/dataset.js';
import { kosekiDatasetFor, makeKosekiPki } from './helpers.js';

const cli = resolve(import.meta.dirname, '../../src/cli.ts');
const work = mkdtempSync(join(tmpdir(), 'koseki-cli-'));
const pki = makeKosekiPki();
const children = new Set<ChildProcess>();
t.teardown(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  pki.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const sha = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const datasetFile = join(work, 'koseki-999997.json');
writeFileSync(datasetFile, JSON.stringify(kosekiDatasetFor(testDataset(new Date()).dataset)));

/** A dev PKI in the manifest layout of certs/ (var/pki), with or without the koseki entry. */
function pkiDir(name: string, withKoseki: boolean): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'lgwan'), { recursive: true });
  const files: Record<string, string> = {
    'lgwan/ca.crt.pem': pki.ca,
    'lgwan/city-999997.crt.pem': pki.replica.cert,
    'lgwan/city-999997.key.pem': pki.replica.key,
    'lgwan/koseki-999997.crt.pem': pki.koseki.cert,
    'lgwan/koseki-999997.key.pem': pki.koseki.key,
  };
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
  const certs: Record<string, object> = {
    'lgwan-ca': { cert: 'lgwan/ca.crt.pem', key: 'lgwan/ca.key.pem', cn: 'Test LGWAN CA' },
    'lgwan-city-999997': { cert: 'lgwan/city-999997.crt.pem', key: 'lgwan/city-999997.key.pem', cn: 'city-999997', sha256: sha(pki.replica.cert) },
  };
  if (withKoseki) certs['lgwan-koseki-999997'] = { cert: 'lgwan/koseki-999997.crt.pem', key: 'lgwan/koseki-999997.key.pem', cn: 'koseki-999997', sha256: sha(pki.koseki.cert) };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, certs }));
  return dir;
}

function serveKoseki(dir: string): { child: ChildProcess; url: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'serve', '--role', 'koseki', '--dataset', datasetFile, '--port', '0', '--pki', dir, '--unsigned', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (https:\/\/\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', () => rej(new Error(`exited: ${err}`)));
  });
  url.catch(() => {});
  const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, url, exit, stderr: () => err };
}

/** The certificate a server presents to the replica (client certificate given, as the replica connects). */
function presented(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const s = connect({ host: u.hostname, port: Number(u.port), ca: pki.ca, key: pki.replica.key, cert: pki.replica.cert, servername: 'localhost' }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      res(createHash('sha256').update(raw).digest('hex'));
    });
    s.once('error', rej);
  });
}

t.test('the koseki role serves with its own certificate, and the replica pins that one', async (t) => {
  const dir = pkiDir('pki', true);
  const k = serveKoseki(dir);
  const url = await k.url;
  t.equal(await presented(url), sha(pki.koseki.cert), 'presents lgwan-koseki-999997');
  t.not(sha(pki.koseki.cert), sha(pki.replica.cert), 'which is not the city’s own certificate');
  t.match(new X509Certificate(pki.koseki.cert).subject, /CN=koseki-999997/);

  const option = replicaKosekiOption({ 'koseki-url': url, pki: dir }, { ...pki.replica, ca: pki.ca });
  t.equal(option.koseki?.pinSha256, sha(pki.koseki.cert), 'the replica (CN city-999997) pins its city’s koseki server from the same --pki');
  const answer = await new KosekiClient(option.koseki!).status('R0001');
  t.ok(Array.isArray(answer.types), 'and talks to it through the pin');

  process.kill(k.child.pid!, 'SIGTERM');
  t.equal(await k.exit, 0, 'stopped by its pid');
});

t.test('a dev PKI without koseki certificates: refused, with the command that adds them', async (t) => {
  const dir = pkiDir('old-pki', false);
  let refused: unknown;
  try {
    replicaKosekiOption({ 'koseki-url': 'https://127.0.0.1:1', pki: dir }, { ...pki.replica, ca: pki.ca });
  } catch (err) {
    refused = err;
  }
  t.ok(refused instanceof KosekiUsageError, 'the replica refuses to guess a pin (a usage error, exit 2)');
  t.match((refused as Error).message, /no lgwan-koseki-999997 entry.*konbini-pki generate --out/);
  const k = serveKoseki(dir);
  t.equal(await k.exit, 2, 'usage error');
  t.match(k.stderr(), /no lgwan-koseki-999997 entry.*konbini-pki generate/s);
  t.notMatch(k.stderr(), /listening/, 'never served with the city’s certificate instead');
});
