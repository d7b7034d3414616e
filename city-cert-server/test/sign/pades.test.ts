import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { cardSerialHmac, KonbiniError, verifyBinding } from '@konbini/protocol';
import { renderAndBind } from '../../src/render/resident-record.js';
import { initHsm, Pkcs11Signer, signerConfigFromHsmDir, tokenLabelOf } from '../../src/sign/index.js';
import { mixedHousehold } from '../render/sample.js';
import { CITY, makeLgpki, tempDir } from './helpers.js';

const work = tempDir('city-cert-sign-');
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const pkiDir = makeLgpki(work);
const hsmDir = join(work, 'hsm');
const SERIAL = '00c0ffee12';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KonbiniError ? err.code : `not-a-konbini-error: ${(err as Error).message}`;
  }
  return undefined;
}

function pdfsig(pdf: Buffer, name: string): string {
  const file = join(work, name);
  writeFileSync(file, pdf);
  return spawnSync('pdfsig', [file], { encoding: 'utf8' }).stdout;
}

t.test('hsm init: one token per city, PINs in 0600 files, idempotent, re-imports a regenerated PKI', async (t) => {
  const first = initHsm({ pki: pkiDir, out: hsmDir });
  t.same(first.tokens, [{ cityCode: CITY, label: tokenLabelOf(CITY), action: 'created' }]);
  t.equal(statSync(join(hsmDir, 'pins', `${CITY}.pin`)).mode & 0o777, 0o600);
  t.equal(statSync(join(hsmDir, 'pins', `${CITY}.so-pin`)).mode & 0o777, 0o600);
  t.match(readFileSync(join(hsmDir, 'softhsm2.conf'), 'utf8'), `directories.tokendir = ${join(hsmDir, 'tokens')}`);
  t.same(initHsm({ pki: pkiDir, out: hsmDir }).tokens[0]?.action, 'unchanged', 'second run changes nothing');

  // the CLI, as scripts/setup.sh runs it: one line per token, no PIN on the screen
  const cli = resolve(import.meta.dirname, '../../src/cli.ts');
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'hsm', 'init', '--pki', pkiDir, '--out', hsmDir], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, `token ${tokenLabelOf(CITY)} (city ${CITY}): unchanged`);
  t.notMatch(run.stdout + run.stderr, readFileSync(join(hsmDir, 'pins', `${CITY}.pin`), 'utf8').trim());
  const usage = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'hsm', 'init', '--out', hsmDir], { encoding: 'utf8' });
  t.equal(usage.status, 2, 'missing --pki is a usage error');

  const other = makeLgpki(work, 'pki2');
  t.same(initHsm({ pki: other, out: hsmDir }).tokens[0]?.action, 'reimported', 'a regenerated PKI replaces the token objects');
  const signer = Pkcs11Signer.open(signerConfigFromHsmDir(hsmDir, CITY));
  const der = Buffer.from(readFileSync(join(other, `lgpki/docsign-${CITY}.crt.pem`), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  t.equal(signer.certSha256, (await import('node:crypto')).createHash('sha256').update(der).digest('hex'));
  t.same(initHsm({ pki: pkiDir, out: hsmDir }).tokens[0]?.action, 'reimported', 'back to the first PKI (for the tests below)');
  signer.close();
});

t.test('a signed 住民票: pdfsig valid and whole document signed, qpdf clean, CMS verifies against the CA, binding inside', async (t) => {
  const signer = Pkcs11Signer.open(signerConfigFromHsmDir(hsmDir, CITY));
  t.teardown(() => signer.close());
  const model = mixedHousehold();
  const { pdf, binding } = await renderAndBind(model, cardSerialHmac(model.issuanceId, SERIAL), signer);

  const report = pdfsig(pdf, 'signed.pdf');
  t.match(report, 'Signature Validation: Signature is Valid.');
  t.match(report, 'Total document signed');
  t.match(report, 'Signature Type: ETSI.CAdES.detached');
  t.match(report, 'Signing Hash Algorithm: SHA-256');
  t.match(report, 'Signer Certificate Common Name: 青嵐県東雲市長');
  t.equal(spawnSync('qpdf', ['--check', join(work, 'signed.pdf')]).status, 0, 'qpdf --check: no errors, no warnings');

  // the binding is inside the signed bytes and still what the kiosk checks
  t.same(verifyBinding(pdf, { issuanceId: model.issuanceId, cardSerial: SERIAL }, { requireSignature: true }), binding);
  const m = /\/ByteRange \[0 (\d+) (\d+) (\d+)\]/.exec(pdf.toString('latin1'))!;
  const [a, b] = [Number(m[1]), Number(m[2])];
  t.ok(pdf.indexOf('/KonbiniBinding (v1;') < a, 'binding lies in the signed range');

  // CMS: openssl verifies the signature and the chain from the embedded certificates
  const hex = pdf.subarray(a + 1, b - 1).toString('latin1').replace(/(00)+$/, '');
  const cms = Buffer.from(hex.length % 2 ? `${hex}0` : hex, 'hex');
  writeFileSync(join(work, 'sig.der'), cms);
  writeFileSync(join(work, 'content.bin'), Buffer.concat([pdf.subarray(0, a), pdf.subarray(b)]));
  const verify = spawnSync(
    'openssl',
    ['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', 'content.bin', '-CAfile', join(pkiDir, 'lgpki/ca.crt.pem'), '-purpose', 'any', '-out', '/dev/null'],
    { cwd: work, encoding: 'utf8' },
  );
  t.equal(verify.status, 0, verify.stderr);
  t.match(verify.stderr, 'Verification successful');
  const dump = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'sig.der'], { cwd: work, encoding: 'utf8' });
  t.match(dump, /id-smime-aa-signingCertificateV2|1\.2\.840\.113549\.1\.9\.16\.2\.47/, 'signing-certificate-v2');
  t.notMatch(dump, /signingTime/, 'no signing-time attribute (PAdES: the time is /M)');
  t.match(dump, /LGPKI-sim Application CA/, 'the CA certificate is embedded');
});

t.test('signData: the document key signs any bytes (RSA PKCS#1 v1.5, SHA-256), verifiable with the certificate alone', async (t) => {
  const { createPublicKey, verify, X509Certificate } = await import('node:crypto');
  const signer = Pkcs11Signer.open(signerConfigFromHsmDir(hsmDir, CITY));
  const data = Buffer.from('KONBINI-VERIFY-1|999997|some issuance|1234567890123456|' + 'ab'.repeat(32));
  const sig = signer.signData(data);
  t.equal(sig.length, 256, 'an RSA-2048 signature');
  const cert = new X509Certificate(signer.certificate);
  t.equal((await import('node:crypto')).createHash('sha256').update(signer.certificate).digest('hex'), signer.certSha256, 'the certificate the signer reports is the token’s');
  const key = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
  t.ok(verify('sha256', data, key, sig), 'verifies with crypto.verify(sha256) and the certificate');
  t.notOk(verify('sha256', Buffer.concat([data, Buffer.from('x')]), key, sig), 'not for other bytes');
  t.same(signer.signData(data), sig, 'deterministic (PKCS#1 v1.5)');
  signer.close();
  t.equal(codeOf(() => signer.signData(data)), 'SIGNER_FAILED', 'a closed signer refuses');
});

t.test('a changed byte or appended bytes: pdfsig and the kiosk both refuse', async (t) => {
  const signer = Pkcs11Signer.open(signerConfigFromHsmDir(hsmDir, CITY));
  t.teardown(() => signer.close());
  const model = mixedHousehold();
  const { pdf } = await renderAndBind(model, cardSerialHmac(model.issuanceId, SERIAL), signer);

  const tampered = Buffer.from(pdf);
  const at = tampered.indexOf('/MediaBox [0 0 595.28');
  tampered[at + 15] = 0x39; // 595.28 -> 599.28: a wider page
  const report = pdfsig(tampered, 'tampered.pdf');
  t.notMatch(report, 'Signature is Valid.');
  t.match(report, /Signature Validation: (Digest Mismatch|Signature is Invalid)/);
  t.equal(codeOf(() => verifyBinding(tampered, { issuanceId: model.issuanceId, cardSerial: SERIAL })), 'DOCUMENT_HASH_MISMATCH');

  const appended = Buffer.concat([pdf, Buffer.from('\n1 0 obj\n<< >>\nendobj\n')]);
  t.notMatch(pdfsig(appended, 'appended.pdf'), 'Total document signed');
  t.equal(codeOf(() => verifyBinding(appended, { issuanceId: model.issuanceId, cardSerial: SERIAL })), 'DOCUMENT_BINDING_MISMATCH');
});

t.test('wrong PIN, missing token, missing setup: stable codes, at start', async (t) => {
  const config = signerConfigFromHsmDir(hsmDir, CITY);
  t.equal(codeOf(() => Pkcs11Signer.open({ ...config, pin: { value: '00000000' } })), 'SIGNER_PIN_INCORRECT');
  t.equal(codeOf(() => Pkcs11Signer.open({ ...config, tokenLabel: 'konbini-docsign-000000' })), 'SIGNER_TOKEN_MISSING');
  t.equal(codeOf(() => signerConfigFromHsmDir(join(work, 'no-such-hsm'), CITY)), 'SIGNER_TOKEN_MISSING');
  t.equal(codeOf(() => signerConfigFromHsmDir(hsmDir, '999999')), 'SIGNER_TOKEN_MISSING');
  t.equal(codeOf(() => Pkcs11Signer.open({ ...config, pin: { env: 'KONBINI_TEST_UNSET_PIN' } })), 'SIGNER_PIN_INCORRECT');
  process.env.KONBINI_TEST_PIN = readFileSync(join(hsmDir, 'pins', `${CITY}.pin`), 'utf8').trim();
  const viaEnv = signerConfigFromHsmDir(hsmDir, CITY, { pinEnv: 'KONBINI_TEST_PIN' });
  t.same(viaEnv.pin, { env: 'KONBINI_TEST_PIN' });
  const signer = Pkcs11Signer.open(viaEnv);
  signer.close();
  t.pass('PIN from the environment opens the token');
});
