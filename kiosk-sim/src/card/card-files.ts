/**
 * The bytes of each EF, built from a card profile (see /work/shared/JPKI-CARD.md).
 */
import { createHash, createPrivateKey, sign as rsaSign, type KeyObject } from 'node:crypto';
import type { CardProfile } from './profile.js';

export const JPKI_AID = Buffer.from('D392F000260100000001', 'hex');
export const CARD_INFO_AID = Buffer.from('D3921000310001010408', 'hex');

/** A real contact-card ATR (T=1). */
export const CARD_ATR = Buffer.from('3BDA13FF8131FB468012392F31C173C601C03B', 'hex');

/** DER/BER length, minimal form. */
export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

/** TLV with a one- or two-byte tag (given as bytes) and a minimal DER length. */
export function tlv(tag: number[], value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(tag), derLength(value.length), value]);
}

/** Decodes a base64 DER certificate and insists on the `30 82 HH LL` header that readers rely on. */
export function certificateDer(b64: string, field: string): Buffer {
  const der = Buffer.from(b64, 'base64');
  if (der.length < 4 || der[0] !== 0x30 || der[1] !== 0x82 || der.readUInt16BE(2) + 4 !== der.length) {
    throw new Error(`card profile: ${field} is not a DER certificate with a 30 82 HH LL header`);
  }
  return der;
}

export function privateKey(b64: string, field: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new Error(`card profile: ${field} is not a PKCS#8 DER private key`, { cause });
  }
  if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) {
    throw new Error(`card profile: ${field} is not an RSA-2048 key`);
  }
  return key;
}

/**
 * JPKI EF 0006, token info: 160 bytes, `JPKIAPICCTOKEN2` padded with spaces to 32.
 * The other 128 bytes are not documented publicly; we fill them with spaces (our choice).
 */
export function tokenInfo(): Buffer {
  const out = Buffer.alloc(160, 0x20);
  out.write('JPKIAPICCTOKEN2', 0, 'ascii');
  return out;
}

/** JPKI EF 0008 (unsure: observed value on real cards per JPKI-CARD.md). */
export function ef0008(): Buffer {
  return Buffer.from([0x8f, 0x8f, 0x00]);
}

/** 券面事項入力補助AP EF 0001, 個人番号: `FF 10 0C` + 12 ASCII digits + `FF FF`. */
export function myNumberEf(myNumber: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0x10, 0x0c]), Buffer.from(myNumber, 'ascii'), Buffer.from([0xff, 0xff])]);
}

/**
 * 券面事項入力補助AP EF 0002, the 4 basic items:
 * `FF 20 L` { `DF21 08` offsets, `DF22` name, `DF23` address, `DF24 08` birth date, `DF25 01` sex }.
 * The 8 bytes of DF21 are four 2-byte big-endian offsets, from the start of the EF,
 * of the DF22..DF25 TLVs (our reading of "offsets"; real cards were not observed).
 */
export function basicFourEf(info: CardProfile['cardInfo']): Buffer {
  const items = [
    tlv([0xdf, 0x22], Buffer.from(info.name, 'utf8')),
    tlv([0xdf, 0x23], Buffer.from(info.address, 'utf8')),
    tlv([0xdf, 0x24], Buffer.from(info.birthDate, 'ascii')),
    tlv([0xdf, 0x25], Buffer.from(info.sex, 'ascii')),
  ];
  const offsetsTlvLen = 3 + 8;
  const innerLen = offsetsTlvLen + items.reduce((s, i) => s + i.length, 0);
  const headerLen = 2 + derLength(innerLen).length;
  const offsets = Buffer.alloc(8);
  let pos = headerLen + offsetsTlvLen;
  items.forEach((item, i) => {
    offsets.writeUInt16BE(pos, i * 2);
    pos += item.length;
  });
  return tlv([0xff, 0x20], Buffer.concat([tlv([0xdf, 0x21], offsets), ...items]));
}

/**
 * 券面事項入力補助AP EF 0003: `FF 30 82 01 4B` { `DF31` SHA-256 of EF 0001, `DF32` SHA-256 of
 * EF 0002, `DF33` 256-byte signature }.
 * JPKI-CARD.md defines no key for this signature (on real cards J-LIS signs it). We use the
 * card's signing key (署名用, EF 001A): RSASSA-PKCS1-v1_5 with SHA-256 over DF31 || DF32
 * (the two hash values concatenated). A reader can check it with the signing certificate.
 */
export function integrityEf(ef0001: Buffer, ef0002: Buffer, signKey: KeyObject): Buffer {
  const h1 = createHash('sha256').update(ef0001).digest();
  const h2 = createHash('sha256').update(ef0002).digest();
  const sig = rsaSign('sha256', Buffer.concat([h1, h2]), signKey);
  return tlv([0xff, 0x30], Buffer.concat([tlv([0xdf, 0x31], h1), tlv([0xdf, 0x32], h2), tlv([0xdf, 0x33], sig)]));
}
