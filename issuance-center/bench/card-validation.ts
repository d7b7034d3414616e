/**
 * Card validations per second on one core:
 *   npx tsx --conditions=konbini-source issuance-center/bench/card-validation.ts [seconds]
 * (a) the certificate validators (schema → issuer → certificate signature →
 *     validity → key usage → revocation against a CRL of 10,000 serials);
 * (b) a whole login as the centre sees it: challenge issued, consumed, certificate
 *     validated again, card signature verified (the card's own signing is done
 *     outside the timed part: it happens on the card).
 */
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { generateRsaKey, issueCardAuthCert, loadPki, makeCrl } from '@konbini/dev-pki';
import { challengeSignedData } from '@konbini/protocol';
import { CardAuthenticator } from '../src/auth/card-authenticator.js';
import { CardValidator } from '../src/auth/card-validator.js';
import { ChallengeStore } from '../src/auth/challenge-store.js';
import { parseCrl } from '../src/auth/crl.js';

const seconds = Number(process.argv[2] ?? 3);
const pki = loadPki(join(resolve(import.meta.dirname, '../..'), 'var/pki'));
const ca = pki.issuer('jpki-auth-ca');
const caCert = new X509Certificate(pki.jpki.authCa.certPem);
const key = await generateRsaKey();
const now = new Date();
const card = issueCardAuthCert({ ca, publicKey: key.publicKey, notBefore: new Date(now.getTime() - 86_400_000), notAfter: new Date(now.getTime() + 365 * 86_400_000) });
const revoked = Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex'));
const crl = parseCrl(makeCrl(ca, revoked, new Date(now.getTime() - 3600_000), new Date(now.getTime() + 86_400_000)), caCert);
const validator = new CardValidator({ roots: [caCert], crl: () => crl, requireCrl: true });
const b64 = card.der.toString('base64');
const origin = 'wss://centre.bench:7444';

function measure(name: string, fn: () => number): void {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  let busy = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) busy += fn(), n++;
  const perSec = n / (busy / 1000);
  console.log(`${name}: ${Math.round(perSec)}/s (${(busy / n * 1000).toFixed(1)} µs each, n=${n})`);
}

measure('certificate validators', () => {
  const t0 = performance.now();
  validator.validateCertificate(b64);
  return performance.now() - t0;
});

const auth = new CardAuthenticator(validator, new ChallengeStore(), () => origin);
measure('whole login (start + finish, signature verified)', () => {
  const t0 = performance.now();
  const { challenge, card: started } = auth.start('K0001', b64);
  const t1 = performance.now();
  const sig = sign('sha256', challengeSignedData(origin, 'K0001', challenge.nonce), key.privateKey).toString('base64');
  const t2 = performance.now();
  auth.finish('K0001', challenge.sessionId, started, sig);
  return t1 - t0 + (performance.now() - t2);
});
