/**
 * The kiosk's side of the JPKI AP: the usual login reading sequence, in APDUs, over
 * any CardReader (see /work/shared/JPKI-CARD.md, "The usual reading sequence").
 */
import { KonbiniError } from '@konbini/protocol';
import type { CardReader } from './card-reader.js';

export const JPKI_AP_AID = Buffer.from('D392F000260100000001', 'hex');
export const EF_AUTH_CERT = 0x000a;
export const EF_AUTH_CA_CERT = 0x000b;
export const EF_AUTH_KEY = 0x0017;
export const EF_AUTH_PIN = 0x0018;

/** DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1). */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** Largest certificate we accept from the card (a JPKI certificate is ~1.3-1.8 kB). */
const MAX_CERT_LENGTH = 16384;

export interface ApduResult {
  data: Buffer;
  sw: number;
}

function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

export class JpkiClient {
  constructor(readonly reader: CardReader) {}

  /** Sends one APDU; splits the answer into data and SW. Transport errors pass through (KonbiniError). */
  async send(apdu: Buffer): Promise<ApduResult> {
    const resp = await this.reader.transmit(apdu);
    if (resp.length < 2) throw new KonbiniError('CARD_UNREADABLE', { reason: 'short-response' });
    return { data: resp.subarray(0, resp.length - 2), sw: resp.readUInt16BE(resp.length - 2) };
  }

  private unexpected(step: string, sw: number): KonbiniError {
    return new KonbiniError('CARD_UNREADABLE', { step, sw: swHex(sw) });
  }

  /** SELECT the JPKI AP. A card without it (6A82) is CARD_UNREADABLE with detail.reason 'not-jpki'. */
  async selectJpki(): Promise<void> {
    const { sw } = await this.send(Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x0c, JPKI_AP_AID.length]), JPKI_AP_AID]));
    if (sw === 0x6a82) throw new KonbiniError('CARD_UNREADABLE', { step: 'select-ap', reason: 'not-jpki', sw: swHex(sw) });
    if (sw !== 0x9000) throw this.unexpected('select-ap', sw);
  }

  async selectEf(fid: number): Promise<void> {
    const { sw } = await this.send(Buffer.from([0x00, 0xa4, 0x02, 0x0c, 0x02, fid >> 8, fid & 0xff]));
    if (sw !== 0x9000) throw this.unexpected(`select-ef-${fid.toString(16).padStart(4, '0')}`, sw);
  }

  /** READ BINARY at `offset` (15-bit), short Le (1-256). */
  async readBinary(offset: number, le: number): Promise<Buffer> {
    if (offset < 0 || offset > 0x7fff || le < 1 || le > 256) throw new RangeError('readBinary: offset or Le out of range');
    const { data, sw } = await this.send(Buffer.from([0x00, 0xb0, offset >> 8, offset & 0xff, le === 256 ? 0 : le]));
    if (sw !== 0x9000) throw this.unexpected('read-binary', sw);
    return data;
  }

  /**
   * Reads a DER object (certificate) from the selected EF: the first 4 bytes give the
   * length (`30 82 HH LL`, also `30 81 LL` / `30 LL`), then chunks of 256.
   */
  async readDerFromSelectedEf(): Promise<Buffer> {
    const head = await this.readBinary(0, 4);
    if (head.length < 2 || head[0] !== 0x30) throw new KonbiniError('CARD_UNREADABLE', { step: 'read-cert', reason: 'not-der' });
    let total: number;
    if (head[1] < 0x80) total = 2 + head[1];
    else if (head[1] === 0x81 && head.length >= 3) total = 3 + head[2];
    else if (head[1] === 0x82 && head.length >= 4) total = 4 + head.readUInt16BE(2);
    else throw new KonbiniError('CARD_UNREADABLE', { step: 'read-cert', reason: 'bad-length' });
    if (total > MAX_CERT_LENGTH) throw new KonbiniError('CARD_UNREADABLE', { step: 'read-cert', reason: 'too-long' });
    const parts: Buffer[] = [head.subarray(0, Math.min(head.length, total))];
    let have = parts[0].length;
    while (have < total) {
      const chunk = await this.readBinary(have, Math.min(256, total - have));
      if (chunk.length === 0) throw new KonbiniError('CARD_UNREADABLE', { step: 'read-cert', reason: 'truncated' });
      parts.push(chunk);
      have += chunk.length;
    }
    return Buffer.concat(parts).subarray(0, total);
  }

  /** The user-authentication (利用者証明用) certificate, DER. Assumes the JPKI AP is selected. */
  async readAuthCertificate(): Promise<Buffer> {
    await this.selectEf(EF_AUTH_CERT);
    return this.readDerFromSelectedEf();
  }

  /** Its CA certificate, DER. */
  async readAuthCaCertificate(): Promise<Buffer> {
    await this.selectEf(EF_AUTH_CA_CERT);
    return this.readDerFromSelectedEf();
  }

  /** Remaining tries of the user-authentication PIN (VERIFY without data spends nothing). 0 = locked. */
  async authPinTriesLeft(): Promise<number> {
    await this.selectEf(EF_AUTH_PIN);
    const { sw } = await this.send(Buffer.from([0x00, 0x20, 0x00, 0x80]));
    if ((sw & 0xfff0) === 0x63c0) return sw & 0x0f;
    if (sw === 0x6983 || sw === 0x6984) return 0;
    throw this.unexpected('pin-status', sw);
  }

  /**
   * VERIFY the user-authentication PIN. Throws PIN_FORMAT (nothing sent) unless 4 digits;
   * PIN_WRONG with detail.triesLeft; PIN_LOCKED when blocked (also when this try blocked it).
   */
  async verifyAuthPin(pin: string): Promise<void> {
    if (typeof pin !== 'string' || !/^[0-9]{4}$/.test(pin)) throw new KonbiniError('PIN_FORMAT');
    await this.selectEf(EF_AUTH_PIN);
    const pinBytes = Buffer.from(pin, 'ascii');
    try {
      const { sw } = await this.send(Buffer.concat([Buffer.from([0x00, 0x20, 0x00, 0x80, pinBytes.length]), pinBytes]));
      if (sw === 0x9000) return;
      if ((sw & 0xfff0) === 0x63c0) {
        const triesLeft = sw & 0x0f;
        if (triesLeft === 0) throw new KonbiniError('PIN_LOCKED', { triesLeft: 0 });
        throw new KonbiniError('PIN_WRONG', { triesLeft });
      }
      if (sw === 0x6983 || sw === 0x6984) throw new KonbiniError('PIN_LOCKED', { triesLeft: 0 });
      throw this.unexpected('verify-pin', sw);
    } finally {
      pinBytes.fill(0);
    }
  }

  /**
   * Signs a SHA-256 digest (32 bytes) with the user-authentication key: the card gets the
   * DigestInfo and returns the RSA-2048 PKCS#1 v1.5 signature (256 bytes). Needs the PIN
   * verified in this AP selection; otherwise CARD_UNREADABLE with detail.sw '6982'.
   */
  async signWithAuthKey(sha256Digest: Buffer): Promise<Buffer> {
    if (!Buffer.isBuffer(sha256Digest) || sha256Digest.length !== 32) throw new RangeError('signWithAuthKey: expected a 32-byte SHA-256 digest');
    await this.selectEf(EF_AUTH_KEY);
    const digestInfo = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, sha256Digest]);
    const { data, sw } = await this.send(Buffer.concat([Buffer.from([0x80, 0x2a, 0x00, 0x80, digestInfo.length]), digestInfo, Buffer.from([0x00])]));
    if (sw !== 0x9000) throw this.unexpected('sign', sw);
    if (data.length !== 256) throw new KonbiniError('CARD_UNREADABLE', { step: 'sign', reason: 'bad-signature-length' });
    return Buffer.from(data);
  }
}
