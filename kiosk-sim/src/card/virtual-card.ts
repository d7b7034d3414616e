/**
 * The virtual 個人番号カード: an APDU engine that answers byte for byte as
 * /work/shared/JPKI-CARD.md describes. `transmit` never throws and always answers.
 */
import { constants, privateEncrypt, type KeyObject } from 'node:crypto';
import { parseCommandApdu, response, SW, type CommandApdu } from './apdu.js';
import {
  CARD_ATR, CARD_INFO_AID, JPKI_AID, basicFourEf, certificateDer, ef0008, integrityEf, myNumberEf, privateKey, tokenInfo,
} from './card-files.js';
import { readCardFile, writeCardFileAtomic } from './card-file.js';
import {
  AUTH_PIN_MAX_TRIES, CARD_INFO_PIN_MAX_TRIES, FOUR_DIGIT_PIN, SIGN_PASSWORD, SIGN_PASSWORD_MAX_TRIES, checkCardProfile,
  type CardProfile,
} from './profile.js';

export type PinId = 'auth' | 'sign' | 'cardInfo';

type Ef =
  | { fid: number; kind: 'data'; data: Buffer; readAfter?: PinId }
  | { fid: number; kind: 'key'; key: KeyObject; usableAfter: PinId }
  | { fid: number; kind: 'pin'; pin: PinId };

interface App {
  name: 'jpki' | 'cardInfo';
  aid: Buffer;
  efs: Map<number, Ef>;
}

interface PinSpec {
  max: number;
  format: RegExp;
  get: (p: CardProfile) => string;
  set: (p: CardProfile, v: string) => void;
  tries: (p: CardProfile) => number;
  setTries: (p: CardProfile, n: number) => void;
}

const PINS: Record<PinId, PinSpec> = {
  auth: {
    max: AUTH_PIN_MAX_TRIES,
    format: FOUR_DIGIT_PIN,
    get: (p) => p.jpki.authPin,
    set: (p, v) => { p.jpki.authPin = v; },
    tries: (p) => p.state.authPinTries,
    setTries: (p, n) => { p.state.authPinTries = n; },
  },
  sign: {
    max: SIGN_PASSWORD_MAX_TRIES,
    format: SIGN_PASSWORD,
    get: (p) => p.jpki.signPassword,
    set: (p, v) => { p.jpki.signPassword = v; },
    tries: (p) => p.state.signPasswordTries,
    setTries: (p, n) => { p.state.signPasswordTries = n; },
  },
  cardInfo: {
    max: CARD_INFO_PIN_MAX_TRIES,
    format: FOUR_DIGIT_PIN,
    get: (p) => p.cardInfo.pin,
    set: (p, v) => { p.cardInfo.pin = v; },
    tries: (p) => p.state.cardInfoPinTries,
    setTries: (p, n) => { p.state.cardInfoPinTries = n; },
  },
};

/** Called with the whole profile after every change of persistent state; throwing makes the card answer 6581. */
export type PersistFn = (profile: CardProfile) => void;

export interface VirtualCardOptions {
  /** Where persistent state goes. Omit for an in-memory card. */
  persist?: PersistFn;
}

function rsa2048Sign(key: KeyObject, data: Buffer): Buffer {
  // PKCS#1 v1.5 block type 01 (00 01 FF..FF 00 || data) and the raw private-key operation.
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
}

export class VirtualCard {
  /** The ATR sent on reset (a real contact-card ATR; T=1). */
  readonly atr: Buffer = Buffer.from(CARD_ATR);

  private readonly profile: CardProfile;
  private readonly persistFn?: PersistFn;
  private readonly apps: App[];
  private powered = false;
  private currentApp: App | null = null;
  private currentEf: Ef | null = null;
  private readonly verified = new Set<PinId>();

  /** Builds a card from a profile. The profile is copied; persistent changes go to `options.persist`. */
  constructor(profile: CardProfile, options: VirtualCardOptions = {}) {
    checkCardProfile(profile);
    this.profile = structuredClone(profile);
    this.persistFn = options.persist;
    const p = this.profile;
    const authKey = privateKey(p.jpki.authKeyPkcs8, 'jpki.authKeyPkcs8');
    const signKey = privateKey(p.jpki.signKeyPkcs8, 'jpki.signKeyPkcs8');
    const data = (fid: number, d: Buffer, readAfter?: PinId): Ef => ({ fid, kind: 'data', data: d, readAfter });
    const jpki: Ef[] = [
      data(0x0006, tokenInfo()),
      data(0x0008, ef0008()),
      data(0x000a, certificateDer(p.jpki.authCertDer, 'jpki.authCertDer')),
      data(0x000b, certificateDer(p.jpki.authCaCertDer, 'jpki.authCaCertDer')),
      data(0x0001, certificateDer(p.jpki.signCertDer, 'jpki.signCertDer'), 'sign'),
      data(0x0002, certificateDer(p.jpki.signCaCertDer, 'jpki.signCaCertDer')),
      { fid: 0x0017, kind: 'key', key: authKey, usableAfter: 'auth' },
      { fid: 0x0018, kind: 'pin', pin: 'auth' },
      { fid: 0x001a, kind: 'key', key: signKey, usableAfter: 'sign' },
      { fid: 0x001b, kind: 'pin', pin: 'sign' },
    ];
    const ef1 = myNumberEf(p.cardInfo.myNumber);
    const ef2 = basicFourEf(p.cardInfo);
    const cardInfo: Ef[] = [
      { fid: 0x0011, kind: 'pin', pin: 'cardInfo' },
      data(0x0001, ef1, 'cardInfo'),
      data(0x0002, ef2, 'cardInfo'),
      // "protected": readable after the 券面事項入力補助 PIN, like 0001/0002 (our choice).
      data(0x0003, integrityEf(ef1, ef2, signKey), 'cardInfo'),
    ];
    this.apps = [
      { name: 'jpki', aid: JPKI_AID, efs: new Map(jpki.map((e) => [e.fid, e])) },
      { name: 'cardInfo', aid: CARD_INFO_AID, efs: new Map(cardInfo.map((e) => [e.fid, e])) },
    ];
  }

  /** An in-memory card: nothing is persisted. */
  static fromProfile(profile: CardProfile): VirtualCard {
    return new VirtualCard(profile);
  }

  /** A card backed by a card file: every change of PIN or retry counter is written back atomically. */
  static fromFile(path: string): VirtualCard {
    return new VirtualCard(readCardFile(path), { persist: (p) => writeCardFileAtomic(path, p) });
  }

  get cardId(): string {
    return this.profile.cardId;
  }

  get isPowered(): boolean {
    return this.powered;
  }

  /** Remaining tries of a PIN (a look at the chip from outside, for tests and tools). */
  triesLeft(pin: PinId): number {
    return PINS[pin].tries(this.profile);
  }

  /** A copy of the persistent state as it is now. */
  snapshot(): CardProfile {
    return structuredClone(this.profile);
  }

  powerOn(): Buffer {
    this.clearVolatile();
    this.powered = true;
    return Buffer.from(this.atr);
  }

  powerOff(): void {
    this.clearVolatile();
    this.powered = false;
  }

  reset(): Buffer {
    this.clearVolatile();
    this.powered = true;
    return Buffer.from(this.atr);
  }

  /**
   * Processes one command APDU and returns `response data || SW1 SW2`. Never throws.
   * (An APDU sent while unpowered is processed as if powered: the transports power the
   * card on first; answering is better than stalling a reader.)
   */
  transmit(apdu: Buffer | Uint8Array): Buffer {
    try {
      if (!(apdu instanceof Uint8Array)) return response(SW.WRONG_LENGTH);
      return this.process(Buffer.from(apdu.buffer, apdu.byteOffset, apdu.byteLength));
    } catch {
      return response(SW.NO_PRECISE_DIAGNOSIS);
    }
  }

  private clearVolatile(): void {
    this.currentApp = null;
    this.currentEf = null;
    this.verified.clear();
  }

  private process(raw: Buffer): Buffer {
    if (raw.length < 4) return response(SW.WRONG_LENGTH);
    const cla = raw[0];
    const ins = raw[1];
    if (cla !== 0x00 && cla !== 0x80) return response(SW.CLA_NOT_SUPPORTED);
    const known = cla === 0x00 ? [0xa4, 0xb0, 0x20, 0x24].includes(ins) : ins === 0x2a;
    if (!known) return response(SW.INS_NOT_SUPPORTED);
    const c = parseCommandApdu(raw);
    if (!c) return response(SW.WRONG_LENGTH);
    switch (ins) {
      case 0xa4: return this.select(c);
      case 0xb0: return this.readBinary(c);
      case 0x20: return this.verify(c);
      case 0x24: return this.changeReferenceData(c);
      case 0x2a: return this.computeSignature(c);
      default: return response(SW.INS_NOT_SUPPORTED);
    }
  }

  private select(c: CommandApdu): Buffer {
    if (c.p2 !== 0x0c && c.p2 !== 0x00) return response(SW.WRONG_P1P2);
    if (c.p1 === 0x04) {
      if (c.data.length === 0) return response(SW.WRONG_LENGTH);
      const app = this.apps.find((a) => a.aid.equals(c.data));
      if (!app) return response(SW.FILE_NOT_FOUND);
      this.currentApp = app;
      this.currentEf = null;
      this.verified.clear();
      return response(SW.OK);
    }
    if (c.p1 === 0x02) {
      if (c.data.length !== 2) return response(SW.WRONG_LENGTH);
      const ef = this.currentApp?.efs.get(c.data.readUInt16BE(0));
      if (!ef) return response(SW.FILE_NOT_FOUND);
      this.currentEf = ef;
      return response(SW.OK);
    }
    return response(SW.WRONG_P1P2);
  }

  private readBinary(c: CommandApdu): Buffer {
    if (c.data.length > 0) return response(SW.WRONG_LENGTH);
    if (c.ne === 0) return response(SW.WRONG_LENGTH);
    let ef: Ef | null;
    let offset: number;
    if (c.p1 & 0x80) {
      if (c.p1 & 0x60) return response(SW.WRONG_P1P2);
      const sfi = c.p1 & 0x1f;
      if (sfi === 0) return response(SW.WRONG_P1P2);
      ef = this.currentApp?.efs.get(sfi) ?? null;
      if (!ef) return response(SW.FILE_NOT_FOUND);
      this.currentEf = ef;
      offset = c.p2;
    } else {
      ef = this.currentEf;
      if (!ef) return response(SW.COMMAND_NOT_ALLOWED_NO_EF);
      offset = (c.p1 << 8) | c.p2;
    }
    if (ef.kind !== 'data') return response(SW.SECURITY_NOT_SATISFIED);
    if (ef.readAfter && !this.verified.has(ef.readAfter)) return response(SW.SECURITY_NOT_SATISFIED);
    if (offset >= ef.data.length) return response(SW.WRONG_OFFSET);
    const n = Math.min(c.ne, ef.data.length - offset);
    return response(SW.OK, ef.data.subarray(offset, offset + n));
  }

  /** The PIN EF currently selected, or the status word to answer with. */
  private selectedPin(): PinId | number {
    const ef = this.currentEf;
    if (!ef) return SW.COMMAND_NOT_ALLOWED_NO_EF;
    if (ef.kind !== 'pin') return SW.REF_DATA_NOT_FOUND;
    return ef.pin;
  }

  private verify(c: CommandApdu): Buffer {
    if (c.p1 !== 0x00 || c.p2 !== 0x80) return response(SW.WRONG_P1P2);
    const pin = this.selectedPin();
    if (typeof pin === 'number') return response(pin);
    const spec = PINS[pin];
    const left = spec.tries(this.profile);
    if (c.data.length === 0) return response(0x63c0 | Math.min(left, 15));
    if (left <= 0) {
      this.verified.delete(pin);
      return response(SW.REF_DATA_UNUSABLE);
    }
    // Spend the try first and make it durable, then compare: pulling the card (or a
    // crashed process) between the two never gives a free try.
    this.verified.delete(pin);
    spec.setTries(this.profile, left - 1);
    if (!this.persist()) return response(SW.MEMORY_FAILURE);
    const expected = Buffer.from(spec.get(this.profile), 'utf8');
    if (expected.length === c.data.length && expected.equals(c.data)) {
      spec.setTries(this.profile, spec.max);
      if (!this.persist()) return response(SW.MEMORY_FAILURE);
      this.verified.add(pin);
      return response(SW.OK);
    }
    return response(0x63c0 | Math.min(left - 1, 15));
  }

  private changeReferenceData(c: CommandApdu): Buffer {
    if (c.p1 !== 0x01 || c.p2 !== 0x80) return response(SW.WRONG_P1P2);
    const pin = this.selectedPin();
    if (typeof pin === 'number') return response(pin);
    const spec = PINS[pin];
    if (spec.tries(this.profile) <= 0) return response(SW.REF_DATA_UNUSABLE);
    if (!this.verified.has(pin)) return response(SW.SECURITY_NOT_SATISFIED);
    const value = c.data.toString('latin1');
    if (!spec.format.test(value)) return response(SW.WRONG_DATA);
    const old = spec.get(this.profile);
    spec.set(this.profile, value);
    if (!this.persist()) {
      spec.set(this.profile, old);
      return response(SW.MEMORY_FAILURE);
    }
    return response(SW.OK);
  }

  private computeSignature(c: CommandApdu): Buffer {
    if (c.p1 !== 0x00 || c.p2 !== 0x80) return response(SW.WRONG_P1P2);
    const ef = this.currentEf;
    if (!ef || ef.kind !== 'key' || !this.verified.has(ef.usableAfter)) return response(SW.SECURITY_NOT_SATISFIED);
    // RSA-2048 PKCS#1 v1.5 leaves room for at most 256 - 11 = 245 bytes.
    if (c.data.length < 1 || c.data.length > 245) return response(SW.WRONG_LENGTH);
    return response(SW.OK, rsa2048Sign(ef.key, c.data));
  }

  private persist(): boolean {
    if (!this.persistFn) return true;
    try {
      this.persistFn(structuredClone(this.profile));
      return true;
    } catch {
      return false;
    }
  }
}
