/**
 * Setup: one SoftHSM2 token per city holding the city's LGPKI-sim document-signing
 * key (not extractable once imported), its certificate and the LGPKI-sim CA
 * certificate. Idempotent: a token whose certificate already matches the PKI is
 * left alone; a regenerated PKI replaces the token's objects.
 */
import { createHash, createPrivateKey, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import forge from 'node-forge';
import { fromDer, toDer } from './cms.js';
import { HSM_MANIFEST, tokenLabelOf, type HsmManifest } from './hsm-store.js';
import { P, SOFTHSM2_MODULE, acquireModule, attribute, findObjects, findTokenSlot, freeSlot, type Handle, type Pkcs11 } from './pkcs11.js';
import { TOKEN_OBJECTS } from './signer.js';
import { ensureWrappingKey } from '../crypto/key-wrapper.js';

interface PkiManifest {
  cities: { code: string }[];
  certs: Record<string, { cert: string; key: string }>;
}

export interface HsmInitOptions {
  pki: string;
  out: string;
  /** Default: every city in the PKI manifest. */
  cities?: string[];
  module?: string;
}

export interface HsmInitResult {
  dir: string;
  tokens: { cityCode: string; label: string; action: 'created' | 'unchanged' | 'reimported' }[];
}

const pemToDer = (pem: string): Buffer =>
  Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');

/** subject Name DER of a certificate (PKCS#11 wants CKA_SUBJECT on certificate objects). */
function subjectDer(certDer: Buffer): Buffer {
  const cert = fromDer(certDer);
  const fields = (cert.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[];
  const hasVersion = fields[0]!.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC;
  return toDer(fields[hasVersion ? 5 : 4]!);
}

const randomPin = (digits: number) => Array.from({ length: digits }, () => String(randomInt(10))).join('');

function writeSecret(path: string, value: string): void {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function writeSofthsmConf(dir: string): string {
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  return conf;
}

function b64u(s: string | undefined): Buffer {
  if (!s) throw new Error('hsm init: incomplete RSA key');
  return Buffer.from(s, 'base64url');
}

function importObjects(p11: Pkcs11, session: Handle, keyPem: string, certDer: Buffer, caDer: Buffer): void {
  const jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA') throw new Error('hsm init: the document-signing key is not RSA');
  const id = createHash('sha256').update(certDer).digest().subarray(0, 8);
  p11.C_CreateObject(session, [
    { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_SIGN, value: true },
    { type: P.CKA_LABEL, value: TOKEN_OBJECTS.key },
    { type: P.CKA_ID, value: id },
    { type: P.CKA_MODULUS, value: b64u(jwk.n) },
    { type: P.CKA_PUBLIC_EXPONENT, value: b64u(jwk.e) },
    { type: P.CKA_PRIVATE_EXPONENT, value: b64u(jwk.d) },
    { type: P.CKA_PRIME_1, value: b64u(jwk.p) },
    { type: P.CKA_PRIME_2, value: b64u(jwk.q) },
    { type: P.CKA_EXPONENT_1, value: b64u(jwk.dp) },
    { type: P.CKA_EXPONENT_2, value: b64u(jwk.dq) },
    { type: P.CKA_COEFFICIENT, value: b64u(jwk.qi) },
  ]);
  const cert = (der: Buffer, label: string, certId: Buffer) =>
    p11.C_CreateObject(session, [
      { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
      { type: P.CKA_CERTIFICATE_TYPE, value: P.CKC_X_509 },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: false },
      { type: P.CKA_LABEL, value: label },
      { type: P.CKA_ID, value: certId },
      { type: P.CKA_SUBJECT, value: subjectDer(der) },
      { type: P.CKA_VALUE, value: der },
    ]);
  cert(certDer, TOKEN_OBJECTS.cert, id);
  cert(caDer, TOKEN_OBJECTS.chain, createHash('sha256').update(caDer).digest().subarray(0, 8));
}

function tokenCertMatches(p11: Pkcs11, session: Handle, certDer: Buffer): boolean {
  const [obj] = findObjects(p11, session, [
    { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
    { type: P.CKA_LABEL, value: TOKEN_OBJECTS.cert },
  ]);
  const keys = findObjects(p11, session, [
    { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
    { type: P.CKA_LABEL, value: TOKEN_OBJECTS.key },
  ]);
  return obj !== undefined && keys.length === 1 && attribute(p11, session, obj, P.CKA_VALUE).equals(certDer);
}

function withSession<T>(p11: Pkcs11, slot: Handle, user: number, pin: string, fn: (s: Handle) => T): T {
  const session = p11.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  try {
    let loggedIn = false;
    try {
      p11.C_Login(session, user, pin);
      loggedIn = true;
    } catch (err) {
      // login state is per process and token: a signer of this process may hold it
      if ((err as { code?: number }).code !== P.CKR_USER_ALREADY_LOGGED_IN) throw err;
    }
    try {
      return fn(session);
    } finally {
      if (loggedIn) p11.C_Logout(session);
    }
  } finally {
    p11.C_CloseSession(session);
  }
}

export function initHsm(opts: HsmInitOptions): HsmInitResult {
  const pkiManifestPath = resolve(opts.pki, 'manifest.json');
  const pki = JSON.parse(readFileSync(pkiManifestPath, 'utf8')) as PkiManifest;
  const pkiDir = dirname(pkiManifestPath);
  const dir = resolve(opts.out);
  mkdirSync(join(dir, 'pins'), { recursive: true, mode: 0o700 });
  const conf = writeSofthsmConf(dir);
  const modulePath = opts.module ?? SOFTHSM2_MODULE;
  const manifestPath = join(dir, HSM_MANIFEST);
  const previous = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as HsmManifest) : undefined;
  const manifest: HsmManifest = { version: 1, module: modulePath, softhsmConf: 'softhsm2.conf', tokens: { ...(previous?.tokens ?? {}) } };
  const ca = pki.certs['lgpki-ca'];
  if (!ca) throw new Error(`${pkiManifestPath}: no lgpki-ca`);
  const caDer = pemToDer(readFileSync(join(pkiDir, ca.cert), 'utf8'));

  const lease = acquireModule(modulePath, conf);
  const result: HsmInitResult = { dir, tokens: [] };
  try {
    const p11 = lease.p11;
    for (const code of opts.cities ?? pki.cities.map((c) => c.code)) {
      const rec = pki.certs[`lgpki-docsign-${code}`];
      if (!rec) throw new Error(`${pkiManifestPath}: no lgpki-docsign-${code}`);
      const certDer = pemToDer(readFileSync(join(pkiDir, rec.cert), 'utf8'));
      const keyPem = readFileSync(join(pkiDir, rec.key), 'utf8');
      const label = tokenLabelOf(code);
      const pinFile = join('pins', `${code}.pin`);
      const soPinFile = join('pins', `${code}.so-pin`);
      let slot = findTokenSlot(p11, label);
      let action: HsmInitResult['tokens'][number]['action'];
      if (!slot) {
        const free = freeSlot(p11);
        if (!free) throw new Error('hsm init: no free slot for a new token');
        const soPin = randomPin(16);
        const pin = randomPin(8);
        p11.C_InitToken(free, soPin, label.padEnd(32, ' ')); // PKCS#11 labels are blank-padded
        slot = findTokenSlot(p11, label);
        if (!slot) throw new Error(`hsm init: token ${label} not found after initialisation`);
        withSession(p11, slot, P.CKU_SO, soPin, (s) => p11.C_InitPIN(s, pin));
        writeSecret(join(dir, soPinFile), soPin);
        writeSecret(join(dir, pinFile), pin);
        withSession(p11, slot, P.CKU_USER, pin, (s) => importObjects(p11, s, keyPem, certDer, caDer));
        // the AES key that wraps the replica's data key (crypto/key-wrapper.ts)
        withSession(p11, slot, P.CKU_USER, pin, (s) => ensureWrappingKey(p11, s));
        action = 'created';
      } else {
        if (!existsSync(join(dir, pinFile))) {
          throw new Error(`hsm init: token ${label} exists but ${join(dir, pinFile)} is missing; remove ${join(dir, 'tokens')} to start over`);
        }
        const pin = readFileSync(join(dir, pinFile), 'utf8').trim();
        action = withSession(p11, slot, P.CKU_USER, pin, (s) => {
          if (tokenCertMatches(p11, s, certDer)) return 'unchanged' as const;
          for (const label of new Set(Object.values(TOKEN_OBJECTS))) {
            for (const h of findObjects(p11, s, [{ type: P.CKA_LABEL, value: label }])) p11.C_DestroyObject(s, h);
          }
          importObjects(p11, s, keyPem, certDer, caDer);
          return 'reimported' as const;
        });
        // never replaced: a new wrapping key would leave the replica's data key unreadable
        withSession(p11, slot, P.CKU_USER, pin, (s) => ensureWrappingKey(p11, s));
      }
      manifest.tokens[code] = { label, pinFile, certSha256: createHash('sha256').update(certDer).digest('hex') };
      result.tokens.push({ cityCode: code, label, action });
    }
  } finally {
    lease.release();
  }
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return result;
}
