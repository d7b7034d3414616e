/**
 * Card certificates of the JPKI-sim CAs. The user-authentication certificate
 * (利用者証明用電子証明書) carries no name: its subject is an opaque id and the serial is
 * what the centre and the city key on. The signing certificate (署名用電子証明書)
 * carries the holder's name.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { issueCert, randomSerialHex, type IssuedCert, type Issuer } from './x509.js';

/** Certificate policy OIDs of real JPKI (used here so verifiers can tell the two apart). */
export const JPKI_POLICY_AUTH = '1.2.392.200149.8.5.1.3.30';
export const JPKI_POLICY_SIGN = '1.2.392.200149.8.5.1.1.10';

export interface CardCertRequest {
  ca: Issuer;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Defaults to a random positive 16-byte serial. */
  serialHex?: string;
}

/** 利用者証明用: subject C=JP, CN=<opaque id>; keyUsage digitalSignature (critical) only. */
export function issueCardAuthCert(req: CardCertRequest & { subjectId?: string }): IssuedCert {
  return issueCert({
    subject: [
      { shortName: 'C', value: 'JP' },
      { shortName: 'CN', value: req.subjectId ?? randomBytes(12).toString('hex').toUpperCase() },
    ],
    issuer: req.ca,
    publicKey: req.publicKey,
    serialHex: req.serialHex ?? randomSerialHex(16),
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    keyUsage: { digitalSignature: true },
    policies: [JPKI_POLICY_AUTH],
  });
}

/** 署名用: subject C=JP, L=<prefecture>, L=<city>, CN=<holder name>; keyUsage digitalSignature + nonRepudiation (critical). */
export function issueCardSignCert(req: CardCertRequest & { holderName: string; prefecture?: string; city?: string }): IssuedCert {
  const subject = [{ shortName: 'C', value: 'JP' }];
  if (req.prefecture) subject.push({ shortName: 'L', value: req.prefecture });
  if (req.city) subject.push({ shortName: 'L', value: req.city });
  subject.push({ shortName: 'CN', value: req.holderName });
  return issueCert({
    subject,
    issuer: req.ca,
    publicKey: req.publicKey,
    serialHex: req.serialHex ?? randomSerialHex(16),
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    keyUsage: { digitalSignature: true, nonRepudiation: true },
    policies: [JPKI_POLICY_SIGN],
  });
}
