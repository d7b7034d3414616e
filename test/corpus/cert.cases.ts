/**
 * The card certificate a kiosk sends in session.start, varied: not base64, not
 * DER, cut short, from the wrong CA, expired, revoked, tampered, a CA certificate,
 * the wrong key, the wrong key usage. The centre checks shape, issuer, signature,
 * validity, key usage and revocation at session.start, in that order (DESIGN §4
 * step 5), so each is refused there with its own code, before any challenge.
 * `signWith` cases pass the certificate check and are refused after the card
 * answered the challenge (the routing step).
 * After every case the connection is still usable: a good card gets a challenge.
 */
import type { CardProfile, CardScenario, ErrorCode } from '@konbini/protocol';
import type { MadeCert } from './cert-factory.js';

export interface CertMaterial {
  card(scenario: CardScenario): CardProfile;
  /** base64 DER of a dev-PKI certificate by manifest name */
  pki(name: string): string;
  made: { notYetValid: MadeCert; wrongKeyUsage: MadeCert; nonRepudiation: MadeCert; ec: MadeCert; unknownToDirectory: MadeCert };
}

export interface CertCase {
  name: string;
  authCert: (m: CertMaterial) => string;
  code: ErrorCode;
  /** Pass the certificate check, then answer the challenge with this key (PKCS#8 base64). */
  signWith?: (m: CertMaterial) => string;
  todo?: string;
}

const der = (b64: string) => Buffer.from(b64, 'base64');
const b64 = (b: Buffer) => b.toString('base64');
const ok = (m: CertMaterial) => m.card('ok').jpki.authCertDer;
function flip(b64cert: string, at: (d: Buffer) => number): string {
  const d = der(b64cert);
  d[at(d)]! ^= 0x01;
  return b64(d);
}

export const CERT_CASES: CertCase[] = [
  // --- not base64 (the message schema refuses it)
  { name: 'not base64 at all', authCert: () => '!!!!not-base64!!!!', code: 'MESSAGE_INVALID' },
  { name: 'base64url alphabet', authCert: (m) => ok(m).replace(/\+/g, '-').replace(/\//g, '_') + (/[+/]/.test(ok(m)) ? '' : '-_'), code: 'MESSAGE_INVALID' },
  { name: 'PEM text instead of bare base64', authCert: (m) => `-----BEGIN CERTIFICATE-----\n${ok(m)}\n-----END CERTIFICATE-----`, code: 'MESSAGE_INVALID' },
  { name: 'base64 with line breaks', authCert: (m) => ok(m).replace(/(.{64})/g, '$1\n'), code: 'MESSAGE_INVALID' },
  { name: 'shorter than 4 characters', authCert: () => 'MII', code: 'MESSAGE_INVALID' },
  { name: 'an empty string', authCert: () => '', code: 'MESSAGE_INVALID' },
  { name: 'over 8192 characters of base64 (still under the 16 KiB frame limit)', authCert: () => 'A'.repeat(8196), code: 'MESSAGE_INVALID' },
  // --- base64, not a certificate
  { name: 'base64 of text', authCert: () => b64(Buffer.from('this is not a certificate')), code: 'CARD_CERT_INVALID' },
  { name: 'base64 of 1,500 zero bytes', authCert: () => b64(Buffer.alloc(1500)), code: 'CARD_CERT_INVALID' },
  { name: 'base64 whose length is not a multiple of 4', authCert: () => 'MIIBAAA', code: 'CARD_CERT_INVALID' },
  { name: 'DER cut to its first 4 bytes (the length header only)', authCert: (m) => b64(der(ok(m)).subarray(0, 4)), code: 'CARD_CERT_INVALID' },
  { name: 'DER cut in half', authCert: (m) => b64(der(ok(m)).subarray(0, der(ok(m)).length >> 1)), code: 'CARD_CERT_INVALID' },
  { name: 'DER one byte short', authCert: (m) => b64(der(ok(m)).subarray(0, -1)), code: 'CARD_CERT_INVALID' },
  { name: 'DER with bytes after the certificate', authCert: (m) => b64(Buffer.concat([der(ok(m)), Buffer.from([0x00, 0x00])])), code: 'CARD_CERT_INVALID' },
  { name: 'a certificate with an EC key (the card key is RSA)', authCert: (m) => m.made.ec.der, code: 'CARD_CERT_INVALID' },
  // --- wrong CA
  { name: 'the signing certificate (署名用, another CA)', authCert: (m) => m.card('ok').jpki.signCertDer, code: 'CARD_CERT_UNTRUSTED' },
  { name: 'the signing CA certificate', authCert: (m) => m.card('ok').jpki.signCaCertDer, code: 'CARD_CERT_UNTRUSTED' },
  { name: 'a kiosk device certificate', authCert: (m) => m.pki('kiosk-K0001'), code: 'CARD_CERT_UNTRUSTED' },
  { name: "the centre's LGWAN certificate", authCert: (m) => m.pki('lgwan-centre'), code: 'CARD_CERT_UNTRUSTED' },
  // --- the right CA, but not a usable user certificate
  { name: 'the authentication CA certificate itself instead of a user certificate', authCert: (m) => m.card('ok').jpki.authCaCertDer, code: 'CARD_CERT_KEY_USAGE' },
  { name: 'a user certificate with key usage keyEncipherment too', authCert: (m) => m.made.wrongKeyUsage.der, code: 'CARD_CERT_KEY_USAGE' },
  { name: 'a user certificate with nonRepudiation (a signing certificate profile)', authCert: (m) => m.made.nonRepudiation.der, code: 'CARD_CERT_KEY_USAGE' },
  { name: 'tampered: last byte of the signature', authCert: (m) => flip(ok(m), (d) => d.length - 1), code: 'CARD_CERT_TAMPERED' },
  { name: 'tampered: first byte of the serial number', authCert: (m) => flip(ok(m), () => 15), code: 'CARD_CERT_TAMPERED' },
  { name: 'expired (fixture card, scenario expired)', authCert: (m) => m.card('expired').jpki.authCertDer, code: 'CARD_CERT_EXPIRED' },
  { name: 'not yet valid', authCert: (m) => m.made.notYetValid.der, code: 'CARD_CERT_NOT_YET_VALID' },
  { name: 'revoked (fixture card, scenario revoked)', authCert: (m) => m.card('revoked').jpki.authCertDer, code: 'CARD_CERT_REVOKED' },
  // --- a good certificate, refused after the challenge
  { name: 'valid, but no card directory knows it', authCert: (m) => m.made.unknownToDirectory.der, signWith: (m) => m.made.unknownToDirectory.keyPkcs8!, code: 'CARD_NOT_LINKED' },
  { name: 'valid, answered with another card\'s key', authCert: (m) => ok(m), signWith: (m) => m.made.unknownToDirectory.keyPkcs8!, code: 'SIGNATURE_INVALID' },
];
