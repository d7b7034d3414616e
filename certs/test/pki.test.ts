import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEV_CITIES, generatePki, loadPki, type LoadedPki } from '../src/index.js';
import { openssl } from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = resolve(here, '../src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'konbini-pki-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let pki: LoadedPki;
const [city1, city2] = DEV_CITIES.map((c) => c.code);

function runCli(args: string[]) {
  return spawnSync(process.execPath, ['--import=tsx', '--conditions=konbini-source', cli, ...args], { encoding: 'utf8' });
}

t.before(() => {
  const r = runCli(['generate', '--out', dir]);
  if (r.status !== 0) throw new Error(`konbini-pki failed: ${r.stderr}`);
  pki = loadPki(dir);
});

t.test('manifest lists every file with the SHA-256 of each certificate DER', async (t) => {
  const m = pki.manifest;
  t.ok(Object.keys(m.certs).length >= 20, 'all certificates are listed');
  for (const [name, rec] of Object.entries(m.certs)) {
    const der = pki.entry(name).certDer;
    t.equal(createHash('sha256').update(der).digest('hex'), rec.sha256, `${name} fingerprint`);
    t.match(rec.sha256, /^[0-9a-f]{64}$/);
    t.same([...der.subarray(0, 2)], [0x30, 0x82], `${name} DER has a long-form 30 82 header`);
    t.equal(statSync(join(dir, rec.key)).mode & 0o777, 0o600, `${name} key is 0600`);
    // The private key belongs to the certificate.
    const pubFromKey = createPublicKey(createPrivateKey(readFileSync(join(dir, rec.key)))).export({ type: 'spki', format: 'der' });
    const pubFromCert = createPublicKey(pki.entry(name).certPem).export({ type: 'spki', format: 'der' });
    t.ok(pubFromKey.equals(pubFromCert), `${name} key matches its certificate`);
  }
  for (const c of Object.values(m.crls)) t.equal(createHash('sha256').update(readFileSync(join(dir, c.der))).digest('hex'), c.sha256);
});

t.test('chains verify with openssl', async (t) => {
  const verify = (ca: string, cert: string) => openssl(['verify', '-CAfile', ca, cert]);
  const goods: [string, string][] = [
    [pki.lgwan.ca.certPath, pki.lgwan.centre.certPath],
    ...Object.values(pki.lgwan.cities).map((e): [string, string] => [pki.lgwan.ca.certPath, e.certPath]),
    ...Object.values(pki.lgwan.impostors).map((e): [string, string] => [pki.lgwan.ca.certPath, e.certPath]),
    [pki.kioskLine.ca.certPath, pki.kioskLine.centre.certPath],
    ...Object.values(pki.kioskLine.kiosks).map((e): [string, string] => [pki.kioskLine.ca.certPath, e.certPath]),
    [pki.kioskLine.ca.certPath, pki.kioskLine.revoked.certPath],
    [pki.lgpki.ca.certPath, pki.lgpki.docSigning[city1].certPath],
    [pki.lgpki.ca.certPath, pki.lgpki.docSigning[city2].certPath],
    [pki.jpki.authCa.certPath, pki.jpki.authCa.certPath],
    [pki.jpki.signCa.certPath, pki.jpki.signCa.certPath],
  ];
  for (const [ca, cert] of goods) {
    const r = verify(ca, cert);
    t.equal(r.status, 0, `${cert} verifies: ${r.out.trim()}`);
  }
  t.same(Object.keys(pki.kioskLine.kiosks).sort(), ['K0001', 'K0002', 'K0003', 'K0004']);
});

t.test('the expired kiosk is expired', async (t) => {
  const r = openssl(['verify', '-CAfile', pki.kioskLine.ca.certPath, pki.kioskLine.expired.certPath]);
  t.not(r.status, 0);
  t.match(r.out, /certificate has expired/);
  t.ok(new Date(pki.manifest.certs[pki.kioskLine.expired.name].notAfter) < new Date());
});

t.test('the wrong-CA kiosk does not verify under the kiosk-line CA', async (t) => {
  const r = openssl(['verify', '-CAfile', pki.kioskLine.ca.certPath, pki.kioskLine.wrongCa.certPath]);
  t.not(r.status, 0);
  t.match(r.out, /unable to get local issuer certificate/);
  t.equal(openssl(['verify', '-CAfile', pki.kioskLine.rogueCa.certPath, pki.kioskLine.wrongCa.certPath]).status, 0, 'it is the rogue CA’s');
  t.equal(pki.kioskLine.wrongCa.kioskId, 'K0001', 'it impersonates a registered kiosk');
});

t.test('the kiosk-line CRL parses with openssl and lists the revoked kiosk only', async (t) => {
  const r = openssl(['crl', '-inform', 'DER', '-in', pki.kioskLine.crlPath, '-text', '-noout']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /Issuer: C = JP, O = J-LIS-sim, CN = Kiosk-line CA \(dev\)/);
  t.match(r.stdout, new RegExp(`Serial Number: ${pki.kioskLine.revoked.serial.toUpperCase()}`));
  t.equal((r.stdout.match(/Serial Number:/g) ?? []).length, 1);
  t.match(r.stdout, /Key Compromise/);
  const sig = openssl(['crl', '-inform', 'DER', '-in', pki.kioskLine.crlPath, '-CAfile', pki.kioskLine.ca.certPath, '-noout']);
  t.match(sig.out, /verify OK/, 'CRL signature verifies');
  const revoked = openssl(['verify', '-crl_check', '-CAfile', pki.kioskLine.ca.certPath, '-CRLfile', pki.kioskLine.crlPemPath, pki.kioskLine.revoked.certPath]);
  t.not(revoked.status, 0);
  t.match(revoked.out, /certificate revoked/);
  const good = openssl(['verify', '-crl_check', '-CAfile', pki.kioskLine.ca.certPath, '-CRLfile', pki.kioskLine.crlPemPath, pki.kioskLine.kiosks.K0002.certPath]);
  t.equal(good.status, 0, good.out);
});

function text(path: string): string {
  const r = openssl(['x509', '-in', path, '-noout', '-text', '-nameopt', 'utf8,sep_comma_plus_space']);
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

t.test('key usages, SANs and subjects are as stated', async (t) => {
  const san = /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/;
  const city = text(pki.lgwan.cities[city1].certPath);
  t.match(city, /Subject: C=JP, O=LGWAN-sim, CN=city-991015/);
  t.match(city, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(city, san);
  const centre = text(pki.lgwan.centre.certPath);
  t.match(centre, /CN=issuance-center/);
  t.match(centre, /TLS Web Client Authentication, TLS Web Server Authentication/);
  t.match(centre, san);
  const wss = text(pki.kioskLine.centre.certPath);
  t.match(wss, /Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
  t.match(wss, san);
  const k = text(pki.kioskLine.kiosks.K0003.certPath);
  t.match(k, /Subject: C=JP, O=Hoshikuzu Store K\.K\., OU=S0101, CN=K0003/);
  t.match(k, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
  const ca = text(pki.kioskLine.ca.certPath);
  t.match(ca, /Basic Constraints: critical\n\s+CA:TRUE/);
  t.match(ca, /Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
  const doc = text(pki.lgpki.docSigning[city1].certPath);
  t.match(doc, /CN=東雲県星見市長/);
  t.match(doc, /Key Usage: critical\n\s+Digital Signature, Non Repudiation\n/);
  t.match(text(pki.lgpki.docSigning[city2].certPath), /CN=東雲県風待町長/);
});

t.test('each city’s koseki server has its own server certificate under the LGWAN CA', async (t) => {
  for (const code of [city1, city2]) {
    const k = pki.lgwan.koseki[code]!;
    t.ok(k, `koseki ${code}`);
    const x = text(k.certPath);
    t.match(x, new RegExp(`Subject: C=JP, O=LGWAN-sim, CN=koseki-${code}`));
    t.match(x, /Extended Key Usage: \n\s+TLS Web Server Authentication\n/, 'a server, never a client');
    t.match(x, /DNS:localhost, IP Address:127\.0\.0\.1/);
    t.equal(openssl(['verify', '-CAfile', pki.lgwan.ca.certPath, k.certPath]).status, 0, 'chains to the LGWAN-sim CA');
    t.not(k.sha256, pki.lgwan.cities[code]!.sha256, 'not the city’s own certificate');
  }
});

t.test('each city’s core system has a client certificate for its replica’s sync endpoint', async (t) => {
  for (const code of [city1, city2]) {
    const c = pki.lgwan.jukiCore[code]!;
    t.ok(c, `juki-core ${code}`);
    const x = text(c.certPath);
    // the replica allows sync calls by this CN (city-cert serve --sync-allow juki-core-<code>)
    t.match(x, new RegExp(`Subject: C=JP, O=LGWAN-sim, CN=juki-core-${code}`));
    t.match(x, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/, 'a client, never a server');
    t.equal(openssl(['verify', '-CAfile', pki.lgwan.ca.certPath, c.certPath]).status, 0, 'chains to the LGWAN-sim CA');
  }
});

t.test('an existing PKI without koseki certificates gets them, and nothing else changes', async (t) => {
  const old = mkdtempSync(join(tmpdir(), 'konbini-pki-old-'));
  t.teardown(() => rmSync(old, { recursive: true, force: true }));
  await generatePki({ out: old });
  const path = join(old, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8'));
  for (const code of [city1, city2]) {
    rmSync(join(old, m.certs[`lgwan-koseki-${code}`].cert));
    rmSync(join(old, m.certs[`lgwan-koseki-${code}`].key));
    delete m.certs[`lgwan-koseki-${code}`];
  }
  writeFileSync(path, JSON.stringify(m, null, 2));
  const r = runCli(['generate', '--out', old]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /lgwan-koseki-/, 'says what it added');
  const after = loadPki(old);
  t.same(Object.keys(after.lgwan.koseki).sort(), [city1, city2].sort());
  for (const [name, rec] of Object.entries(m.certs as Record<string, { sha256: string }>)) t.equal(after.manifest.certs[name]!.sha256, rec.sha256, `${name} unchanged`);
  t.equal(openssl(['verify', '-CAfile', after.lgwan.ca.certPath, after.lgwan.koseki[city1]!.certPath]).status, 0, 'issued by the existing CA');
  t.equal(statSync(join(old, after.manifest.certs[`lgwan-koseki-${city1}`]!.key)).mode & 0o777, 0o600);
  t.equal((await generatePki({ out: old })).skipped, true, 'then nothing more to do');
});

t.test('the impostor has the city’s name but another key and fingerprint', async (t) => {
  const real = pki.lgwan.cities[city1];
  const fake = pki.lgwan.impostors[city1];
  t.equal(fake.cn, real.cn);
  t.not(fake.sha256, real.sha256);
  const spki = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('hex');
  t.not(spki(fake.certPem), spki(real.certPem));
});

t.test('generate is idempotent; --force regenerates', async (t) => {
  const before = readFileSync(join(dir, 'manifest.json'), 'utf8');
  const again = runCli(['generate', '--out', dir]);
  t.equal(again.status, 0);
  t.match(again.stdout, /already present/);
  t.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'), before, 'nothing changed');
  const lib = await generatePki({ out: dir });
  t.equal(lib.skipped, true);

  const forced = await generatePki({ out: dir, force: true });
  t.equal(forced.skipped, false);
  const after = loadPki(dir);
  t.not(after.lgwan.ca.sha256, pki.lgwan.ca.sha256, 'new CA');
  t.equal(openssl(['verify', '-CAfile', after.lgwan.ca.certPath, after.lgwan.cities[city1].certPath]).status, 0, 'new chain is consistent');
  pki = after;
});

t.test('the CLI refuses bad usage', async (t) => {
  t.equal(runCli([]).status, 2);
  t.equal(runCli(['generate', '--out', dir, '--city', '12']).status, 2);
});
