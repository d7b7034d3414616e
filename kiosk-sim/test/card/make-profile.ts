/**
 * Test card profiles: fresh RSA-2048 keys (node crypto) and certificates made with
 * node-forge. Nothing is written to disk unless a test asks for a card file.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import type { CardProfile } from '../../src/card/profile.js';
import { writeCardFileAtomic } from '../../src/card/card-file.js';

export interface TestKeys {
  caKey: KeyObject;
  authKey: KeyObject;
  signKey: KeyObject;
}

function rsa(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

function makeCert(subjectCn: string, subjectKey: KeyObject, issuerCn: string, issuerKey: KeyObject, ca: boolean): Buffer {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(createPublicKey(subjectKey).export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subjectCn }]);
  cert.setIssuer([{ name: 'commonName', value: issuerCn }]);
  cert.setExtensions(
    ca
      ? [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }]
      : [{ name: 'keyUsage', digitalSignature: true }],
  );
  const issuer = forge.pki.privateKeyFromPem(issuerKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  cert.sign(issuer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

let cached: { keys: TestKeys; certs: { ca: Buffer; auth: Buffer; sign: Buffer } } | null = null;

function material() {
  if (!cached) {
    const keys = { caKey: rsa(), authKey: rsa(), signKey: rsa() };
    cached = {
      keys,
      certs: {
        ca: makeCert('Test JPKI CA', keys.caKey, 'Test JPKI CA', keys.caKey, true),
        auth: makeCert('test-auth', keys.authKey, 'Test JPKI CA', keys.caKey, false),
        sign: makeCert('TEST TARO', keys.signKey, 'Test JPKI CA', keys.caKey, false),
      },
    };
  }
  return cached;
}

export function testKeys(): TestKeys {
  return material().keys;
}

export function testCerts(): { ca: Buffer; auth: Buffer; sign: Buffer } {
  return material().certs;
}

export function makeProfile(overrides: Partial<Pick<CardProfile, 'cardId'>> & { state?: Partial<CardProfile['state']> } = {}): CardProfile {
  const { keys, certs } = material();
  const pkcs8 = (k: KeyObject) => (k.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64');
  return {
    version: 1,
    cardId: overrides.cardId ?? 'T0001',
    scenario: 'ok',
    cityCode: '131016',
    residentId: 'R0001',
    holderName: '試験 太郎',
    jpki: {
      authCertDer: certs.auth.toString('base64'),
      authCaCertDer: certs.ca.toString('base64'),
      authKeyPkcs8: pkcs8(keys.authKey),
      authPin: '1234',
      signCertDer: certs.sign.toString('base64'),
      signCaCertDer: certs.ca.toString('base64'),
      signKeyPkcs8: pkcs8(keys.signKey),
      signPassword: 'ABC123',
    },
    cardInfo: {
      pin: '5678',
      myNumber: '123456789018',
      name: '試験 太郎',
      address: '東京都千代田区千代田1-1',
      birthDate: '19800401',
      sex: '1',
    },
    state: { authPinTries: 3, signPasswordTries: 5, cardInfoPinTries: 3, ...overrides.state },
  };
}

/** Writes a card file in a fresh temporary directory; `cleanup` removes the directory. */
export function makeCardFile(profile = makeProfile()): { path: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-card-'));
  const path = join(dir, `${profile.cardId}.json`);
  writeCardFileAtomic(path, profile);
  return { path, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function apdu(hexString: string): Buffer {
  return Buffer.from(hexString.replace(/\s+/g, ''), 'hex');
}

export function hexOf(b: Buffer): string {
  return b.toString('hex').toUpperCase();
}
