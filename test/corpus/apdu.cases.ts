/**
 * Malformed and out-of-place APDUs for the virtual 個人番号カード, with the status
 * word a real card answers (/work/shared/JPKI-CARD.md). Hex, spaces ignored.
 * `before` runs first (its answers are not checked here); `triesAfter` is the
 * user-authentication PIN's counter after the case (default: untouched, 3);
 * `card: 'locked'` starts from a card whose PIN is blocked.
 */
export interface ApduCase {
  name: string;
  card?: 'ok' | 'locked';
  before?: string[];
  apdu: string;
  sw: string;
  triesAfter?: number;
  /** The case's input is not a byte array at all (a caller bug): the card still answers. */
  notBytes?: unknown;
  todo?: string;
}

export const SELECT_JPKI = '00A4040C 0A D392F000260100000001';
export const SELECT_CARDINFO = '00A4040C 0A D3921000310001010408';
const sel = (fid: string) => `00A4020C 02 ${fid}`;
const pinHex = (pin: string) => Buffer.from(pin, 'latin1').toString('hex');
const verify = (pin: string) => `00200080 ${pin.length.toString(16).padStart(2, '0')} ${pinHex(pin)}`;
/** `before` may hold this instead of an APDU: power off and on again. */
export const POWER_CYCLE = '<POWER-CYCLE>';
const DIGEST_INFO = '3031300D060960864801650304020105000420' + '11'.repeat(32);

/** The cases for a card whose user-authentication PIN is `PIN`. */
export function apduCases(PIN: string): ApduCase[] {
  const WRONG = PIN === '0000' ? '0001' : '0000';
  return [
  // --- transport-level shape
  { name: 'empty APDU', apdu: '', sw: '6700' },
  { name: 'three bytes (no P2)', apdu: '00A404', sw: '6700' },
  { name: 'not a byte array (a string)', apdu: '', notBytes: '00A4040C', sw: '6700' },
  { name: 'CLA FF (reserved)', apdu: 'FFA4040C 0A D392F000260100000001', sw: '6E00' },
  { name: 'CLA 10 (command chaining, unsupported)', apdu: '10A4040C 0A D392F000260100000001', sw: '6E00' },
  { name: 'CLA 0C (secure messaging, unsupported)', apdu: '0CB00000 04', sw: '6E00' },
  { name: 'unknown INS CA (GET DATA)', apdu: '00CA0000 00', sw: '6D00' },
  { name: 'INS 2A with CLA 00 (PSO is proprietary, CLA 80)', apdu: '002A0080 01 00', sw: '6D00' },
  { name: 'SELECT with CLA 80', apdu: '80A4040C 0A D392F000260100000001', sw: '6D00' },
  { name: 'short Lc larger than the data', apdu: '00A4040C 0A D392F0002601000000', sw: '6700' },
  { name: 'short Lc smaller than the data (two extra bytes)', apdu: '00A4020C 02 000A 0000', sw: '6700' },
  { name: 'extended length cut after its first byte', apdu: '00B00000 00 01', sw: '6700' },
  { name: 'extended Lc of zero followed by data', apdu: '00A4040C 000000 D392F000260100000001', sw: '6700' },
  { name: 'extended Lc larger than the data', apdu: '00A4040C 00000B D392F000260100000001', sw: '6700' },

  // --- SELECT
  { name: 'SELECT an unknown AID', apdu: '00A4040C 0A A000000003000000FFFF', sw: '6A82' },
  { name: 'SELECT a prefix of the JPKI AID (readers probe; never 9000)', apdu: '00A4040C 05 D392F00026', sw: '6A82' },
  { name: 'SELECT the JPKI AID with a byte appended', apdu: '00A4040C 0B D392F00026010000000100', sw: '6A82' },
  { name: 'SELECT by AID without data', apdu: '00A4040C', sw: '6700' },
  { name: 'SELECT with P2 04 (return FCP: unsupported)', apdu: '00A40404 0A D392F000260100000001', sw: '6A86' },
  { name: 'SELECT with P1 01 (child DF: unsupported)', apdu: '00A4010C 02 0001', sw: '6A86' },
  { name: 'SELECT an EF before any application', apdu: sel('000A'), sw: '6A82' },
  { name: 'SELECT an EF with a 3-byte file id', before: [SELECT_JPKI], apdu: '00A4020C 03 00000A', sw: '6700' },
  { name: 'SELECT an EF with a 1-byte file id', before: [SELECT_JPKI], apdu: '00A4020C 01 0A', sw: '6700' },
  { name: 'SELECT an unknown EF', before: [SELECT_JPKI], apdu: sel('1234'), sw: '6A82' },
  { name: 'SELECT a card-info EF while the JPKI AP is current', before: [SELECT_JPKI], apdu: sel('0011'), sw: '6A82' },

  // --- READ BINARY
  { name: 'READ BINARY with no EF selected', before: [SELECT_JPKI], apdu: '00B00000 04', sw: '6986' },
  { name: 'READ BINARY at an offset past the end', before: [SELECT_JPKI, sel('000A')], apdu: '00B07F00 04', sw: '6B00' },
  { name: 'READ BINARY of the signing certificate without its password', before: [SELECT_JPKI, sel('0001')], apdu: '00B00000 04', sw: '6982' },
  { name: 'READ BINARY of the authentication private key', before: [SELECT_JPKI, sel('0017')], apdu: '00B00000 00', sw: '6982' },
  { name: 'READ BINARY of the PIN file', before: [SELECT_JPKI, sel('0018')], apdu: '00B00000 00', sw: '6982' },
  { name: 'READ BINARY with command data', before: [SELECT_JPKI, sel('000A')], apdu: '00B00000 01 00 04', sw: '6700' },
  { name: 'READ BINARY without Le', before: [SELECT_JPKI, sel('000A')], apdu: '00B00000', sw: '6700' },
  { name: 'READ BINARY by SFI with bits 7-6 set', before: [SELECT_JPKI], apdu: '00B0E000 04', sw: '6A86' },
  { name: 'READ BINARY by SFI 0', before: [SELECT_JPKI], apdu: '00B08000 04', sw: '6A86' },
  { name: 'READ BINARY by an unknown SFI', before: [SELECT_JPKI], apdu: '00B09F00 04', sw: '6A82' },
  { name: 'READ BINARY of the My Number EF without the card-info PIN', before: [SELECT_CARDINFO, sel('0001')], apdu: '00B00000 00', sw: '6982' },
  { name: 'READ BINARY of the 4 basic items after the JPKI PIN (another AP\'s PIN)', before: [SELECT_JPKI, sel('0018'), verify(PIN), SELECT_CARDINFO, sel('0002')], apdu: '00B00000 00', sw: '6982' },

  // --- VERIFY
  { name: 'VERIFY with P2 81 (another reference)', before: [SELECT_JPKI, sel('0018')], apdu: '00200081 04 31323334', sw: '6A86' },
  { name: 'VERIFY with a certificate EF selected', before: [SELECT_JPKI, sel('000A')], apdu: '00200080 04 31323334', sw: '6A88' },
  { name: 'VERIFY with no EF selected', before: [SELECT_JPKI], apdu: '00200080 04 31323334', sw: '6986' },
  { name: 'VERIFY with a wrong PIN spends exactly one try', before: [SELECT_JPKI, sel('0018')], apdu: verify(WRONG), sw: '63C2', triesAfter: 2 },
  { name: 'VERIFY with 5 digits counts as wrong', before: [SELECT_JPKI, sel('0018')], apdu: verify('12345'), sw: '63C2', triesAfter: 2 },
  { name: 'VERIFY with the right PIN and a trailing NUL counts as wrong', before: [SELECT_JPKI, sel('0018')], apdu: `00200080 05 ${pinHex(PIN)}00`, sw: '63C2', triesAfter: 2 },
  { name: 'VERIFY with P3 00 asks the tries left and spends nothing', before: [SELECT_JPKI, sel('0018')], apdu: '00200080 00', sw: '63C3' },
  { name: 'VERIFY on a blocked PIN, even the right one', card: 'locked', before: [SELECT_JPKI, sel('0018')], apdu: verify(PIN), sw: '6984', triesAfter: 0 },
  { name: 'VERIFY with no data on a blocked PIN answers 63C0', card: 'locked', before: [SELECT_JPKI, sel('0018')], apdu: '00200080', sw: '63C0', triesAfter: 0 },

  // --- CHANGE REFERENCE DATA
  { name: 'CHANGE PIN without verifying first', before: [SELECT_JPKI, sel('0018')], apdu: '00240180 04 39393939', sw: '6982' },
  { name: 'CHANGE PIN to letters', before: [SELECT_JPKI, sel('0018'), verify(PIN)], apdu: '00240180 04 61626364', sw: '6A80' },
  { name: 'CHANGE PIN to 3 digits', before: [SELECT_JPKI, sel('0018'), verify(PIN)], apdu: '00240180 03 393939', sw: '6A80' },
  { name: 'CHANGE PIN with P1 00', before: [SELECT_JPKI, sel('0018'), verify(PIN)], apdu: '00240080 04 39393939', sw: '6A86' },
  { name: 'CHANGE PIN on a blocked PIN', card: 'locked', before: [SELECT_JPKI, sel('0018')], apdu: '00240180 04 39393939', sw: '6984', triesAfter: 0 },

  // --- COMPUTE DIGITAL SIGNATURE
  { name: 'SIGN without the PIN', before: [SELECT_JPKI, sel('0017')], apdu: `802A0080 33 ${DIGEST_INFO} 00`, sw: '6982' },
  { name: 'SIGN with a certificate EF selected', before: [SELECT_JPKI, sel('0018'), verify(PIN), sel('000A')], apdu: `802A0080 33 ${DIGEST_INFO} 00`, sw: '6982' },
  { name: 'SIGN with the signing key after only the authentication PIN', before: [SELECT_JPKI, sel('0018'), verify(PIN), sel('001A')], apdu: `802A0080 33 ${DIGEST_INFO} 00`, sw: '6982' },
  { name: 'SIGN 246 bytes (no room for PKCS#1 padding)', before: [SELECT_JPKI, sel('0018'), verify(PIN), sel('0017')], apdu: `802A0080 F6 ${'11'.repeat(246)} 00`, sw: '6700' },
  { name: 'SIGN with no data', before: [SELECT_JPKI, sel('0018'), verify(PIN), sel('0017')], apdu: '802A0080 00', sw: '6700' },
  { name: 'SIGN with P1 9E (PSO: COMPUTE SIGNATURE of ISO, not this card)', before: [SELECT_JPKI, sel('0018'), verify(PIN), sel('0017')], apdu: `802A9E9A 33 ${DIGEST_INFO} 00`, sw: '6A86' },
  { name: 'SIGN after re-selecting the AP (verified PINs are forgotten)', before: [SELECT_JPKI, sel('0018'), verify(PIN), SELECT_JPKI, sel('0017')], apdu: `802A0080 33 ${DIGEST_INFO} 00`, sw: '6982' },
  { name: 'SIGN after a power cycle (volatile state cleared)', before: [SELECT_JPKI, sel('0018'), verify(PIN), POWER_CYCLE, SELECT_JPKI, sel('0017')], apdu: `802A0080 33 ${DIGEST_INFO} 00`, sw: '6982' },
  ];
}

/**
 * The same card behind the vpcd transport (2-byte big-endian length, then payload):
 * frames as vpcd might send them, and what the card must answer. vpcd has no
 * time-outs, so a frame that deserves an answer must get exactly one.
 * `writes`: the raw TCP writes (hex); `answers`: the payloads expected back, in order
 * ('ATR' for the card's ATR, else hex of the status word / full response).
 */
export interface VpcdCase {
  name: string;
  writes: string[];
  answers: string[];
  todo?: string;
}

export const VPCD_CASES: VpcdCase[] = [
  { name: 'a 1-byte payload that is no control code (03)', writes: ['0001 03'], answers: ['6700'] },
  { name: 'an empty payload (length 0)', writes: ['0000'], answers: ['6700'] },
  { name: 'get ATR while powered off', writes: ['0001 00', '0001 04'], answers: ['ATR'] },
  { name: 'power on / off / reset get no reply, the next APDU does', writes: ['0001 01', '0001 00', '0001 02', '0004 00CA0000'], answers: ['6D00'] },
  { name: 'one frame split into single bytes', writes: ['00', '0F', '00', 'A4', '04', '0C', '0A', 'D3', '92', 'F0', '00', '26', '01', '00', '00', '00', '01'], answers: ['9000'] },
  { name: 'two frames in one write', writes: ['0004 00CA0000 0005 00A4040C00'], answers: ['6D00', '6700'] },
  { name: 'an APDU with an extended length of 300 data bytes', writes: [`0133 802A0080 00012C ${'11'.repeat(300)}`], answers: ['6982'] },
];
