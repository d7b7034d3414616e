/**
 * A virtual Mynumber card as the fixtures generator writes it (var/fixtures/cards/<cardId>.json)
 * and the virtual card (kiosk-sim) loads it. It holds private keys and PINs: the file is
 * mode 0600, lives under var/ only and is never logged.
 */

export type CardScenario =
  | 'ok'
  | 'revoked'
  | 'expired'
  | 'not-linked'
  | 'link-not-yet-valid'
  | 'moving-out'
  | 'support-measure'
  | 'under-15'
  | 'foreign'
  | 'ivs-name';

export const CARD_SCENARIOS: readonly CardScenario[] = [
  'ok',
  'revoked',
  'expired',
  'not-linked',
  'link-not-yet-valid',
  'moving-out',
  'support-measure',
  'under-15',
  'foreign',
  'ivs-name',
];

/** Retry counters of a new card: user-authentication PIN 3, signing password 5, card-info PIN 3. */
export const CARD_MAX_TRIES = { authPinTries: 3, signPasswordTries: 5, cardInfoPinTries: 3 } as const;

export interface CardProfile {
  version: 1;
  /** 'C0001' */
  cardId: string;
  scenario: CardScenario;
  cityCode: string;
  residentId: string;
  holderName: string;
  /** Base64 DER certificates; keys are PKCS#8 DER, base64. */
  jpki: {
    authCertDer: string;
    authCaCertDer: string;
    authKeyPkcs8: string;
    /** 4 digits */
    authPin: string;
    signCertDer: string;
    signCaCertDer: string;
    signKeyPkcs8: string;
    /** 6-16 of [A-Z0-9] */
    signPassword: string;
  };
  /** 券面事項入力補助AP content. */
  cardInfo: {
    pin: string;
    /** 12 digits */
    myNumber: string;
    name: string;
    address: string;
    /** YYYYMMDD */
    birthDate: string;
    /** 1 male, 2 female, 9 not applicable */
    sex: '1' | '2' | '9';
  };
  /** Persistent card state (survives removal); 3, 5, 3 when new. */
  state: { authPinTries: number; signPasswordTries: number; cardInfoPinTries: number };
}

/**
 * The card serial used everywhere (card directory, card links, bindings): the
 * user-authentication certificate's serialNumber as lowercase hex of the DER INTEGER
 * content bytes, byte for byte (a leading 00 byte, if the encoder wrote one, is kept).
 * This is exactly what node-forge's `cert.serialNumber` gives, without depending on it.
 */
export function cardSerialOf(certDer: Uint8Array): string {
  const cert = readTlv(certDer, 0, 0x30, 'Certificate');
  const tbs = readTlv(certDer, cert.contentStart, 0x30, 'TBSCertificate');
  let p = tbs.contentStart;
  if (certDer[p] === 0xa0) {
    // [0] EXPLICIT version
    const version = readTlv(certDer, p, 0xa0, 'version');
    p = version.end;
  }
  const serial = readTlv(certDer, p, 0x02, 'serialNumber');
  if (serial.end > tbs.end || serial.contentStart === serial.end) throw new TypeError('certificate DER: bad serialNumber');
  return Buffer.from(certDer.subarray(serial.contentStart, serial.end)).toString('hex');
}

function readTlv(der: Uint8Array, at: number, expectedTag: number, what: string): { contentStart: number; end: number } {
  if (at + 2 > der.length || der[at] !== expectedTag) throw new TypeError(`certificate DER: expected ${what}`);
  let len = der[at + 1];
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > der.length) throw new TypeError(`certificate DER: bad length of ${what}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i];
    p += n;
  }
  if (p + len > der.length) throw new TypeError(`certificate DER: ${what} runs past the end`);
  return { contentStart: p, end: p + len };
}
