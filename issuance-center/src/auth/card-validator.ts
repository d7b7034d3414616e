import { verify as verifySignature, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { cardSerialOf, challengeSignedData, KonbiniError } from '@konbini/protocol';
import type { Crl } from './crl.js';

/**
 * The card check, as a pipeline of validators run in a fixed order, one concern
 * and one error code each (the Web eID design): shape, chain, validity, key usage,
 * revocation, then the signature over the challenge. The first failure wins.
 */
export interface CardTrust {
  /** JPKI-sim user-authentication CA certificates. */
  roots: X509Certificate[];
  /** Current CRL of that CA, if revocation is checked. */
  crl?: () => Crl | undefined;
  /** Refuse when no CRL is loaded (production); dev may run without one. */
  requireCrl?: boolean;
}

export interface ValidatedCard {
  cert: X509Certificate;
  /** The card serial (protocol cardSerialOf): the card directory key. */
  serial: string;
}

export function parseCardCert(authCertB64: string): X509Certificate {
  const der = Buffer.from(authCertB64, 'base64');
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new KonbiniError('CARD_CERT_INVALID', {}, { cause: err });
  }
}


export function checkChain(cert: X509Certificate, trust: CardTrust): X509Certificate {
  for (const root of trust.roots) {
    if (cert.checkIssued(root) && cert.verify(root.publicKey)) return root;
  }
  throw new KonbiniError('CARD_CERT_UNTRUSTED', { serial: undefined });
}

export function checkValidity(cert: X509Certificate, now: Date): void {
  if (now < new Date(cert.validFrom)) throw new KonbiniError('CARD_CERT_NOT_YET_VALID');
  if (now > new Date(cert.validTo)) throw new KonbiniError('CARD_CERT_EXPIRED');
}

/** The user-authentication certificate must be for digital signature, nothing wider. */
export function checkKeyUsage(cert: X509Certificate): void {
  let ok = false;
  try {
    const f = forge.pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(cert.raw.toString('binary'))));
    const ku = f.getExtension('keyUsage') as { digitalSignature?: boolean; keyCertSign?: boolean; cRLSign?: boolean } | null;
    ok = !!ku && ku.digitalSignature === true && !ku.keyCertSign && !ku.cRLSign;
  } catch {
    ok = false;
  }
  if (!ok) throw new KonbiniError('CARD_CERT_KEY_USAGE');
}

export function checkRevocation(serial: string, trust: CardTrust, now: Date): void {
  const crl = trust.crl?.();
  if (!crl) {
    if (trust.requireCrl) throw new KonbiniError('CRL_STALE', { reason: 'no-crl' });
    return;
  }
  if (crl.nextUpdate && now > crl.nextUpdate) throw new KonbiniError('CRL_STALE', { reason: 'past-next-update' });
  if (crl.revoked.has(serial)) throw new KonbiniError('CARD_CERT_REVOKED');
}

export function checkChallengeSignature(
  cert: X509Certificate,
  signatureB64: string,
  ctx: { origin: string; kioskId: string; nonce: Buffer },
): void {
  const data = challengeSignedData(ctx.origin, ctx.kioskId, ctx.nonce);
  let ok = false;
  try {
    ok = verifySignature('sha256', data, cert.publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new KonbiniError('SIGNATURE_INVALID');
}

/** Everything that can be checked before the signature arrives (at session.start). */
export function validateCardCertificate(authCertB64: string, trust: CardTrust, now: Date): ValidatedCard {
  const cert = parseCardCert(authCertB64);
  checkChain(cert, trust);
  checkValidity(cert, now);
  checkKeyUsage(cert);
  const serial = cardSerialOf(cert.raw);
  checkRevocation(serial, trust, now);
  return { cert, serial };
}
