import { createHash } from 'node:crypto';

/** Challenge nonce length in bytes (DESIGN §4 step 3). */
export const NONCE_BYTES = 32;
/** A challenge lives at most this long. */
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;

/**
 * The authentication context: which centre the kiosk believes it is talking to and
 * which kiosk it is. Both sides compute it from their own configuration, so a
 * signature made for one centre or one kiosk is useless anywhere else.
 */
export function authContext(centreOrigin: string, kioskId: string): string {
  return `${centreOrigin}#${kioskId}`;
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();

/**
 * The bytes whose SHA-256 the card signs: H(context) || H(nonce), as Web eID does
 * with origin and nonce. Verifiers use RSASSA-PKCS1-v1_5/SHA-256 over these 64 bytes.
 */
export function challengeSignedData(centreOrigin: string, kioskId: string, nonce: Buffer): Buffer {
  return Buffer.concat([sha256(authContext(centreOrigin, kioskId)), sha256(nonce)]);
}

/** SHA-256 of the signed data: the digest the card wraps in a DigestInfo. */
export function challengeDigest(centreOrigin: string, kioskId: string, nonce: Buffer): Buffer {
  return sha256(challengeSignedData(centreOrigin, kioskId, nonce));
}

/** SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1). */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');
