import { verify as verifySignature, X509Certificate } from 'node:crypto';
import { cardSerialOf, challengeSignedData, KonbiniError, type ErrorCode } from '@konbini/protocol';
import type { Crl } from './crl.js';
import { keyUsageOf, type KeyUsage } from './der.js';

/**
 * The card check, as a pipeline of validators run in a fixed order, one concern
 * and one error code each (the Web eID design): shape, issuer, certificate
 * signature, validity, key usage, revocation, then the signature over the
 * challenge. The first failure wins; the clock is passed in so tests can move it.
 */
export type Clock = () => Date;

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
  der: Buffer;
  /** The card serial (protocol cardSerialOf): the card directory key. */
  serial: string;
}

/** What the validators learn about the certificate as they go. */
export interface CardSubject {
  readonly authCert: string;
  der?: Buffer;
  cert?: X509Certificate;
  issuer?: X509Certificate;
  serial?: string;
  keyUsage?: KeyUsage | null;
}

export interface CertificateValidator {
  readonly name: string;
  /** The codes this validator may raise; each code belongs to one validator only. */
  readonly codes: readonly ErrorCode[];
  validate(subject: CardSubject, now: Date): void;
}

/** A card certificate is ~1.5 KB; 8 KiB of base64 is far more than any real one. */
const MAX_CERT_B64 = 8192;

export const schemaValidator: CertificateValidator = {
  name: 'schema',
  codes: ['CARD_CERT_INVALID'],
  validate(s) {
    if (typeof s.authCert !== 'string' || s.authCert.length > MAX_CERT_B64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.authCert)) {
      throw new KonbiniError('CARD_CERT_INVALID', { reason: 'base64' });
    }
    const der = Buffer.from(s.authCert, 'base64');
    try {
      s.cert = new X509Certificate(der);
      s.serial = cardSerialOf(der);
    } catch (err) {
      throw new KonbiniError('CARD_CERT_INVALID', { reason: 'der' }, { cause: err });
    }
    // X509Certificate accepts trailing bytes after the certificate; we do not.
    if (!s.cert.raw.equals(der)) throw new KonbiniError('CARD_CERT_INVALID', { reason: 'trailing-bytes' });
    if (s.cert.publicKey.asymmetricKeyType !== 'rsa') throw new KonbiniError('CARD_CERT_INVALID', { reason: 'key-type' });
    s.der = der;
  },
};

/** The issuer must be one of the JPKI-sim user-authentication CAs (name and key id). */
export function issuerValidator(trust: CardTrust): CertificateValidator {
  return {
    name: 'issuer',
    codes: ['CARD_CERT_UNTRUSTED'],
    validate(s) {
      const issuer = trust.roots.find((root) => s.cert!.checkIssued(root));
      if (!issuer) throw new KonbiniError('CARD_CERT_UNTRUSTED');
      s.issuer = issuer;
    },
  };
}

/** The certificate is signed by that CA: any altered byte fails here. */
export const certificateSignatureValidator: CertificateValidator = {
  name: 'certificate-signature',
  codes: ['CARD_CERT_TAMPERED'],
  validate(s) {
    let ok = false;
    try {
      ok = s.cert!.verify(s.issuer!.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) throw new KonbiniError('CARD_CERT_TAMPERED');
  },
};

export const validityValidator: CertificateValidator = {
  name: 'validity',
  codes: ['CARD_CERT_NOT_YET_VALID', 'CARD_CERT_EXPIRED'],
  validate(s, now) {
    if (now.getTime() < new Date(s.cert!.validFrom).getTime()) throw new KonbiniError('CARD_CERT_NOT_YET_VALID');
    if (now.getTime() > new Date(s.cert!.validTo).getTime()) throw new KonbiniError('CARD_CERT_EXPIRED');
  },
};

/** The user-authentication certificate is for digital signature, nothing wider. */
export const keyUsageValidator: CertificateValidator = {
  name: 'key-usage',
  codes: ['CARD_CERT_KEY_USAGE'],
  validate(s) {
    let ku: KeyUsage | null = null;
    try {
      ku = keyUsageOf(s.der!);
    } catch {
      ku = null;
    }
    s.keyUsage = ku;
    const ok = !!ku && ku.digitalSignature && !ku.nonRepudiation && !ku.keyEncipherment && !ku.dataEncipherment && !ku.keyAgreement && !ku.keyCertSign && !ku.cRLSign;
    if (!ok) throw new KonbiniError('CARD_CERT_KEY_USAGE');
  },
};

export function revocationValidator(trust: CardTrust): CertificateValidator {
  return {
    name: 'revocation',
    codes: ['CRL_UNAVAILABLE', 'CRL_STALE', 'CARD_CERT_REVOKED'],
    validate(s, now) {
      const crl = trust.crl?.();
      if (!crl) {
        if (trust.requireCrl) throw new KonbiniError('CRL_UNAVAILABLE', { reason: 'no-crl' });
        return;
      }
      // A list past its nextUpdate may miss recent revocations: refuse rather than guess.
      if (crl.nextUpdate && now.getTime() > crl.nextUpdate.getTime()) throw new KonbiniError('CRL_STALE', { reason: 'past-next-update' });
      if (crl.revoked.has(s.serial!)) throw new KonbiniError('CARD_CERT_REVOKED');
    },
  };
}

/** The ordered certificate validators (everything that can be checked at session.start). */
export function certificateValidators(trust: CardTrust): CertificateValidator[] {
  return [schemaValidator, issuerValidator(trust), certificateSignatureValidator, validityValidator, keyUsageValidator, revocationValidator(trust)];
}

/** Runs the certificate validators in order; the first failure is thrown. */
export class CardValidator {
  readonly validators: readonly CertificateValidator[];

  constructor(
    readonly trust: CardTrust,
    private readonly clock: Clock = () => new Date(),
    validators?: CertificateValidator[],
  ) {
    this.validators = validators ?? certificateValidators(trust);
  }

  validateCertificate(authCertB64: string): ValidatedCard {
    const subject: CardSubject = { authCert: authCertB64 };
    const now = this.clock();
    for (const v of this.validators) v.validate(subject, now);
    return { cert: subject.cert!, der: subject.der!, serial: subject.serial! };
  }

  /**
   * Run every validator but the schema again on a certificate that passed them
   * before (session.start): the time and the CRL may have changed, the bytes have
   * not, so they are not parsed twice.
   */
  revalidate(card: ValidatedCard): ValidatedCard {
    const subject: CardSubject = { authCert: '', der: card.der, cert: card.cert, serial: card.serial };
    const now = this.clock();
    for (const v of this.validators) if (v !== schemaValidator) v.validate(subject, now);
    return card;
  }

  /**
   * The last validator: the card's signature over H(context) || H(nonce), where the
   * context is the centre origin and the kiosk id.
   */
  checkChallengeSignature(card: ValidatedCard, signatureB64: string, ctx: { origin: string; kioskId: string; nonce: Buffer }): void {
    checkChallengeSignature(card.cert, signatureB64, ctx);
  }
}

export function checkChallengeSignature(cert: X509Certificate, signatureB64: string, ctx: { origin: string; kioskId: string; nonce: Buffer }): void {
  const data = challengeSignedData(ctx.origin, ctx.kioskId, ctx.nonce);
  let ok = false;
  try {
    ok = verifySignature('sha256', data, cert.publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new KonbiniError('SIGNATURE_INVALID');
}

/** Compatibility helper: run the certificate validators once with an explicit time. */
export function validateCardCertificate(authCertB64: string, trust: CardTrust, now: Date): ValidatedCard {
  return new CardValidator(trust, () => now).validateCertificate(authCertB64);
}
