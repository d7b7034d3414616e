import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import forge from 'node-forge';
import { crlDerToPem, crlSerials, generatePki, issueCardAuthCert, issueCardSignCert, loadPki, makeCrl, PKI_NAMES } from '../src/index.js';
import { openssl } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'konbini-jpki-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 86400e3;

t.test('card certificates and CRLs of the JPKI-sim CAs', async (t) => {
  await generatePki({ out: dir });
  const pki = loadPki(dir);
  const authCa = pki.issuer(PKI_NAMES.jpkiAuthCa);
  const signCa = pki.issuer(PKI_NAMES.jpkiSignCa);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Date.now();

  const auth = issueCardAuthCert({ ca: authCa, publicKey, notBefore: new Date(now - DAY), notAfter: new Date(now + 5 * 365 * DAY) });
  t.match(auth.serial, /^[0-7][0-9a-f]{31}$/, 'random positive 16-byte serial');
  t.equal(forge.pki.certificateFromPem(auth.pem).serialNumber, auth.serial);
  t.same([...auth.der.subarray(0, 2)], [0x30, 0x82]);
  const authPath = join(dir, 'auth.pem');
  writeFileSync(authPath, auth.pem);
  const authText = openssl(['x509', '-in', authPath, '-noout', '-text']).stdout;
  t.match(authText, /Key Usage: critical\n\s+Digital Signature\n/, 'digitalSignature only, critical');
  t.match(authText, /Subject: C = JP, CN = [0-9A-F]{24}\n/, 'opaque subject, no name');
  t.notMatch(authText, /Extended Key Usage/);
  t.match(authText, /1\.2\.392\.200149\.8\.5\.1\.3\.30/);
  t.equal(openssl(['verify', '-CAfile', pki.jpki.authCa.certPath, authPath]).status, 0, 'chains to the auth CA');
  t.not(openssl(['verify', '-CAfile', pki.jpki.signCa.certPath, authPath]).status, 0, 'not to the signing CA');
  // The card key signs; the certificate verifies it.
  const sig = sign('sha256', Buffer.from('challenge'), privateKey);
  t.ok(verify('sha256', Buffer.from('challenge'), createPublicKey(auth.pem), sig));

  const name = '𠮷田　葛\u{E0102}子';
  const signCert = issueCardSignCert({ ca: signCa, publicKey, holderName: name, prefecture: '東雲県', city: '星見市', notBefore: new Date(now - DAY), notAfter: new Date(now + 5 * 365 * DAY) });
  const signPath = join(dir, 'sign.pem');
  writeFileSync(signPath, signCert.pem);
  const signText = openssl(['x509', '-in', signPath, '-noout', '-text', '-nameopt', 'utf8,sep_comma_plus_space']).stdout;
  t.match(signText, /Key Usage: critical\n\s+Digital Signature, Non Repudiation\n/);
  t.ok(signText.includes(`Subject: C=JP, L=東雲県, L=星見市, CN=${name}`), 'the holder name survives UTF-8 encoding, IVS included');
  t.equal(openssl(['verify', '-CAfile', pki.jpki.signCa.certPath, signPath]).status, 0);

  const expired = issueCardAuthCert({ ca: authCa, publicKey, notBefore: new Date(now - 400 * DAY), notAfter: new Date(now - 35 * DAY) });
  const expPath = join(dir, 'exp.pem');
  writeFileSync(expPath, expired.pem);
  t.match(openssl(['verify', '-CAfile', pki.jpki.authCa.certPath, expPath]).out, /certificate has expired/);

  const crl = makeCrl(authCa, [auth.serial, { serial: expired.serial, reason: 'superseded', revokedAt: new Date(now - 3 * DAY) }], new Date(now - 3600e3), new Date(now + DAY));
  t.same(crlSerials(crl), [auth.serial, expired.serial]);
  const crlPath = join(dir, 'auth.crl.der');
  writeFileSync(crlPath, crl);
  const crlText = openssl(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text', '-CAfile', pki.jpki.authCa.certPath]);
  t.match(crlText.out, /verify OK/);
  t.match(crlText.out, new RegExp(auth.serial.toUpperCase()));
  t.match(crlText.out, /Superseded/);
  const crlPem = join(dir, 'auth.crl.pem');
  writeFileSync(crlPem, crlDerToPem(crl));
  t.match(openssl(['verify', '-crl_check', '-CAfile', pki.jpki.authCa.certPath, '-CRLfile', crlPem, authPath]).out, /certificate revoked/);

  const empty = makeCrl(authCa, [], new Date(now), new Date(now + DAY));
  t.same(crlSerials(empty), []);
  writeFileSync(crlPath, empty);
  t.equal(openssl(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']).status, 0, 'an empty CRL parses');
  t.ok(createPrivateKey(pki.jpki.authCa.keyPem));
});
