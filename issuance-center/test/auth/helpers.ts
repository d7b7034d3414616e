/**
 * Card certificates for validation tests, issued on the fly by the dev PKI's
 * JPKI-sim user-authentication CA (var/pki). Odd certificates (expired, not yet
 * valid, wrong CA, wrong key usage) are made here, in memory, never committed.
 */
import { sign, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateRsaKey, issueCardAuthCert, issueCert, loadPki, makeCrl, type Issuer, type LoadedPki } from '@konbini/dev-pki';
import { challengeSignedData } from '@konbini/protocol';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const PKI_DIR = join(ROOT, 'var/pki');

export function requirePki(): LoadedPki {
  if (!existsSync(join(PKI_DIR, 'manifest.json'))) throw new Error('dev PKI missing: run `npm run setup`');
  return loadPki(PKI_DIR);
}

const DAY = 86_400_000;

export interface TestCard {
  der: Buffer;
  b64: string;
  serial: string;
  key: KeyObject;
}

export interface CardKit {
  pki: LoadedPki;
  authCa: Issuer;
  caCert: X509Certificate;
  key: { privateKey: KeyObject; publicKey: KeyObject };
  card(opts?: { notBefore?: Date; notAfter?: Date; ca?: Issuer; keyUsage?: Record<string, boolean> }): TestCard;
  crl(revoked: string[], thisUpdate: Date, nextUpdate: Date): Buffer;
  sign(card: TestCard, origin: string, kioskId: string, nonce: Buffer): string;
}

export async function cardKit(now: Date): Promise<CardKit> {
  const pki = requirePki();
  const authCa = pki.issuer('jpki-auth-ca');
  const key = await generateRsaKey();
  return {
    pki,
    authCa,
    caCert: new X509Certificate(pki.jpki.authCa.certPem),
    key,
    card(opts = {}) {
      const notBefore = opts.notBefore ?? new Date(now.getTime() - 30 * DAY);
      const notAfter = opts.notAfter ?? new Date(now.getTime() + 365 * DAY);
      const ca = opts.ca ?? authCa;
      const issued = opts.keyUsage
        ? issueCert({
            subject: [
              { shortName: 'C', value: 'JP' },
              { shortName: 'CN', value: 'TESTCARDKEYUSAGE' },
            ],
            issuer: ca,
            publicKey: key.publicKey,
            notBefore,
            notAfter,
            keyUsage: opts.keyUsage,
          })
        : issueCardAuthCert({ ca, publicKey: key.publicKey, notBefore, notAfter });
      return { der: issued.der, b64: issued.der.toString('base64'), serial: issued.serial, key: key.privateKey };
    },
    crl: (revoked, thisUpdate, nextUpdate) => makeCrl(authCa, revoked, thisUpdate, nextUpdate),
    sign: (card, origin, kioskId, nonce) => sign('sha256', challengeSignedData(origin, kioskId, nonce), card.key).toString('base64'),
  };
}
