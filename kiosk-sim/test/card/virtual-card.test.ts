import t from 'tap';
import { createHash, createPublicKey, publicDecrypt, verify as rsaVerify, X509Certificate, constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { readCardFile } from '../../src/card/card-file.js';
import { apdu, hexOf, makeCardFile, makeProfile, testCerts } from './make-profile.js';

const SELECT_JPKI = '00A4040C0AD392F000260100000001';
const SELECT_CARDINFO = '00A4040C0AD3921000310001010408';
const sel = (fid: string) => `00A4020C02${fid}`;
const verifyPin = (pin: string) => `0020008004${Buffer.from(pin).toString('hex')}`;
const verifyAscii = (pin: string) => `00200080${pin.length.toString(16).padStart(2, '0')}${Buffer.from(pin).toString('hex')}`;
const SHA256_PREFIX = '3031300D060960864801650304020105000420';

function card(profile = makeProfile()) {
  const c = VirtualCard.fromProfile(profile);
  c.powerOn();
  return c;
}
function tx(c: VirtualCard, h: string): { sw: string; data: Buffer } {
  const r = c.transmit(apdu(h));
  return { sw: hexOf(r.subarray(r.length - 2)), data: r.subarray(0, r.length - 2) };
}
function readAll(c: VirtualCard): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; ; off += 256) {
    const r = tx(c, `00B0${off.toString(16).padStart(4, '0')}00`);
    if (r.sw === '6B00') break;
    t.equal(r.sw, '9000');
    parts.push(r.data);
    if (r.data.length < 256) break;
  }
  return Buffer.concat(parts);
}

t.test('ATR and power', async (t) => {
  const c = VirtualCard.fromProfile(makeProfile());
  t.equal(hexOf(c.atr), '3BDA13FF8131FB468012392F31C173C601C03B');
  t.equal(hexOf(c.powerOn()), hexOf(c.atr));
  t.equal(tx(c, SELECT_JPKI).sw, '9000');
  t.equal(tx(c, sel('0018')).sw, '9000');
  t.equal(tx(c, verifyPin('1234')).sw, '9000');
  c.reset();
  t.equal(tx(c, sel('000A')).sw, '6A82', 'after reset no AP is selected');
  t.equal(tx(c, SELECT_JPKI).sw, '9000');
  t.equal(tx(c, sel('0017')).sw, '9000');
  t.equal(tx(c, `802A00803300${'00'.repeat(0)}`).sw, '6700', 'Lc mismatch');
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '6982', 'PIN forgotten after reset');
  t.equal(tx(c, sel('0018')).sw, '9000');
  t.equal(tx(c, verifyPin('1234')).sw, '9000');
  c.powerOff();
  c.powerOn();
  t.equal(tx(c, sel('0018')).sw, '6A82', 'power cycle clears selection');
});

t.test('SELECT by AID', async (t) => {
  const c = card();
  t.equal(tx(c, SELECT_JPKI).sw, '9000');
  t.equal(tx(c, SELECT_CARDINFO).sw, '9000');
  t.equal(tx(c, '00A4040C0AD392F000260100000002').sw, '6A82', 'unknown AID is never 9000');
  t.equal(tx(c, '00A4040C07A0000000041010').sw, '6A82', 'EMV AID');
  t.equal(tx(c, '00A4040C09D392F0002601000000').sw, '6A82', 'prefix of the JPKI AID');
  t.equal(tx(c, '00A4040C0BD392F00026010000000100').sw, '6A82', 'JPKI AID plus a byte');
  t.equal(tx(c, '00A4040C00').sw, '6700', 'empty AID');
  t.equal(tx(c, '00A40400 0AD392F000260100000001'.replace(' ', '')).sw, '9000', 'P2 00 accepted');
  t.equal(tx(c, '00A4041C0AD392F000260100000001').sw, '6A86', 'bad P2');
  t.equal(tx(c, '00A4080C0AD392F000260100000001').sw, '6A86', 'bad P1');
});

t.test('SELECT AP forgets verified PINs; SELECT EF keeps them', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('1234')).sw, '9000');
  t.equal(tx(c, sel('000A')).sw, '9000');
  t.equal(tx(c, sel('0017')).sw, '9000');
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '9000', 'still verified after SELECT EF');
  t.equal(tx(c, SELECT_JPKI).sw, '9000');
  t.equal(tx(c, sel('0017')).sw, '9000');
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '6982', 'forgotten after SELECT AP');
});

t.test('SELECT EF', async (t) => {
  const c = card();
  t.equal(tx(c, sel('000A')).sw, '6A82', 'no AP selected');
  tx(c, SELECT_JPKI);
  for (const fid of ['0006', '0008', '000A', '000B', '0001', '0002', '0017', '0018', '001A', '001B']) {
    t.equal(tx(c, sel(fid)).sw, '9000', `JPKI EF ${fid}`);
  }
  t.equal(tx(c, sel('0011')).sw, '6A82', 'card-info PIN is not in the JPKI AP');
  t.equal(tx(c, sel('3F00')).sw, '6A82');
  t.equal(tx(c, '00A4020C0100').sw, '6700', 'FID of 1 byte');
  tx(c, SELECT_CARDINFO);
  for (const fid of ['0011', '0001', '0002', '0003']) t.equal(tx(c, sel(fid)).sw, '9000', `card-info EF ${fid}`);
  t.equal(tx(c, sel('000A')).sw, '6A82');
});

t.test('JPKI public EFs', async (t) => {
  const c = card();
  const certs = testCerts();
  tx(c, SELECT_JPKI);
  tx(c, sel('0006'));
  const token = readAll(c);
  t.equal(token.length, 160);
  t.equal(token.subarray(0, 32).toString('ascii'), 'JPKIAPICCTOKEN2'.padEnd(32, ' '));
  tx(c, sel('0008'));
  t.equal(hexOf(readAll(c)), '8F8F00');
  tx(c, sel('000A'));
  const head = tx(c, '00B0000004');
  t.equal(head.sw, '9000');
  t.equal(hexOf(head.data.subarray(0, 2)), '3082', 'long-form header');
  t.equal(head.data.readUInt16BE(2) + 4, certs.auth.length);
  t.same(readAll(c), certs.auth, 'EF 000A is the auth certificate');
  tx(c, sel('000B'));
  t.same(readAll(c), certs.ca);
  tx(c, sel('0002'));
  t.same(readAll(c), certs.ca);
  new X509Certificate(certs.auth);
});

t.test('signing certificate 0001 needs the signing password', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  tx(c, sel('0001'));
  t.equal(tx(c, '00B0000004').sw, '6982');
  tx(c, sel('001B'));
  t.equal(tx(c, verifyAscii('ABC123')).sw, '9000');
  tx(c, sel('0001'));
  t.same(readAll(c), testCerts().sign);
});

t.test('keys and PINs are never readable', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  tx(c, verifyPin('1234'));
  tx(c, sel('001B'));
  tx(c, verifyAscii('ABC123'));
  for (const fid of ['0017', '0018', '001A', '001B']) {
    tx(c, sel(fid));
    t.equal(tx(c, '00B0000000').sw, '6982', `EF ${fid}`);
  }
  t.equal(tx(c, '00B0970000').sw, '6982', 'SFI 17 (key) also refused');
});

t.test('READ BINARY forms and bounds', async (t) => {
  const c = card();
  const cert = testCerts().auth;
  t.equal(tx(c, '00B0000004').sw, '6986', 'nothing selected at all');
  tx(c, SELECT_JPKI);
  t.equal(tx(c, '00B0000004').sw, '6986', 'AP selected, no EF');
  tx(c, sel('000A'));
  let r = tx(c, '00B0000000');
  t.equal(r.data.length, 256, 'Le 00 = 256');
  t.same(r.data, cert.subarray(0, 256));
  r = tx(c, '00B0010000'); // offset 256
  t.same(r.data, cert.subarray(256, 512));
  r = tx(c, '00B00000000000'); // extended Le 0000 = 65536 -> whole file
  t.equal(r.sw, '9000');
  t.same(r.data, cert, 'extended Le 0000 reads the whole file');
  r = tx(c, '00B0000000 0800'.replace(' ', ''));
  t.equal(r.sw, '9000');
  t.equal(r.data.length, Math.min(0x800, cert.length), 'extended Le 0800');
  const last = cert.length - 10;
  r = tx(c, `00B0${last.toString(16).padStart(4, '0')}FF`);
  t.equal(r.sw, '9000');
  t.equal(r.data.length, 10, 'Le beyond the end returns what is left');
  t.equal(tx(c, `00B0${cert.length.toString(16).padStart(4, '0')}01`).sw, '6B00', 'offset at the end');
  t.equal(tx(c, '00B07FFF01').sw, '6B00', 'offset past the end');
  t.equal(tx(c, '00B00000').sw, '6700', 'no Le');
  t.equal(tx(c, '00B000000101').sw, '6700', 'data in READ BINARY');
  // SFI form: P1 = 80 | SFI, P2 = offset
  tx(c, sel('0006'));
  r = tx(c, '00B08A0004');
  t.equal(r.sw, '9000');
  t.same(r.data, cert.subarray(0, 4), 'SFI 0A selects EF 000A');
  r = tx(c, '00B0000004');
  t.same(r.data, cert.subarray(0, 4), 'and makes it current');
  r = tx(c, '00B0860010');
  t.equal(r.data.toString('ascii'), 'JPKIAPICCTOKEN2 '.slice(0, 16), 'SFI 06 offset 0');
  t.equal(tx(c, '00B0990000').sw, '6A82', 'unknown SFI');
  t.equal(tx(c, '00B0C00000').sw, '6A86', 'P1 100xxxxx with bits 7-6 set');
});

t.test('VERIFY', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  t.equal(tx(c, '0020008000').sw, '6986', 'no EF selected');
  tx(c, sel('000A'));
  t.equal(tx(c, '00200080').sw, '6A88', 'EF is not a PIN');
  tx(c, sel('0018'));
  t.equal(tx(c, '00200080').sw, '63C3', 'empty VERIFY: 3 tries');
  t.equal(tx(c, '0020008000').sw, '63C3', 'P3 00 is the same and spends nothing');
  t.equal(tx(c, verifyPin('0000')).sw, '63C2', 'wrong PIN decrements');
  t.equal(tx(c, '00200080').sw, '63C2');
  t.equal(tx(c, verifyPin('1234')).sw, '9000', 'right PIN');
  t.equal(tx(c, '00200080').sw, '63C3', 'counter back to max; status query while verified');
  t.equal(c.triesLeft('auth'), 3);
  t.equal(tx(c, '0020018004 31323334'.replace(' ', '')).sw, '6A86', 'bad P1');
  t.equal(tx(c, '002000800431323334').sw, '9000');
  t.equal(tx(c, '00200080043132').sw, '6700', 'Lc says 4, 2 bytes follow');
  // a wrong try after verifying drops the verified state
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('9999')).sw, '63C2');
  tx(c, sel('0017'));
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '6982');
  // signing password: 5 tries
  tx(c, sel('001B'));
  t.equal(tx(c, '00200080').sw, '63C5');
  t.equal(tx(c, verifyAscii('WRONG1')).sw, '63C4');
});

t.test('auth PIN locks after 3 wrong tries: 6984 after that, even for the right PIN', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('1111')).sw, '63C2');
  t.equal(tx(c, verifyPin('1111')).sw, '63C1');
  t.equal(tx(c, verifyPin('1111')).sw, '63C0');
  t.equal(tx(c, verifyPin('1234')).sw, '6984', 'blocked');
  t.equal(tx(c, '00200080').sw, '63C0', 'status query of a blocked PIN');
  t.equal(tx(c, '002401800435353535').sw, '6984', 'no change on a blocked PIN');
  tx(c, sel('0017'));
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '6982');
});

t.test('CHANGE REFERENCE DATA', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, '002401800435353535').sw, '6982', 'not verified');
  tx(c, verifyPin('1234'));
  t.equal(tx(c, '00240180043535').sw, '6700', 'Lc mismatch');
  t.equal(tx(c, '0024018003353535').sw, '6A80', '3 digits refused');
  t.equal(tx(c, '00240180044142434A').sw, '6A80', 'letters refused for the PIN');
  t.equal(tx(c, '002400800435353535').sw, '6A86', 'P1 must be 01');
  t.equal(tx(c, '002401800435353535').sw, '9000', 'changed to 5555');
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('1234')).sw, '63C2', 'old PIN no longer works');
  t.equal(tx(c, verifyPin('5555')).sw, '9000', 'new PIN works');
  t.equal(c.snapshot().jpki.authPin, '5555');
  // signing password format
  tx(c, sel('001B'));
  tx(c, verifyAscii('ABC123'));
  t.equal(tx(c, `00240180${'05'}${Buffer.from('ABCDE').toString('hex')}`).sw, '6A80', 'password too short');
  t.equal(tx(c, `00240180${'06'}${Buffer.from('abc123').toString('hex')}`).sw, '6A80', 'lower case refused');
  t.equal(tx(c, `00240180${'08'}${Buffer.from('NEWPASS9').toString('hex')}`).sw, '9000');
  t.equal(c.snapshot().jpki.signPassword, 'NEWPASS9');
});

t.test('COMPUTE DIGITAL SIGNATURE', async (t) => {
  const c = card();
  const certs = testCerts();
  const authPub = new X509Certificate(certs.auth).publicKey;
  const signPub = new X509Certificate(certs.sign).publicKey;
  const msg = Buffer.from('challenge');
  const digest = createHash('sha256').update(msg).digest();
  const cmd = `802A008033${SHA256_PREFIX}${hexOf(digest)}00`;
  tx(c, SELECT_JPKI);
  t.equal(tx(c, cmd).sw, '6982', 'no key selected');
  tx(c, sel('0017'));
  t.equal(tx(c, cmd).sw, '6982', 'PIN not verified');
  tx(c, sel('0018'));
  tx(c, verifyPin('1234'));
  tx(c, sel('000A'));
  t.equal(tx(c, cmd).sw, '6982', 'certificate EF selected, not a key');
  tx(c, sel('001A'));
  t.equal(tx(c, cmd).sw, '6982', 'signing key selected but only the auth PIN is verified');
  tx(c, sel('0017'));
  const r = tx(c, cmd);
  t.equal(r.sw, '9000');
  t.equal(r.data.length, 256);
  t.ok(rsaVerify('sha256', msg, authPub, r.data), 'verifies as RSASSA-PKCS1-v1_5 SHA-256 with the auth cert');
  const recovered = publicDecrypt({ key: authPub, padding: constants.RSA_PKCS1_PADDING }, r.data);
  t.equal(hexOf(recovered), SHA256_PREFIX + hexOf(digest), 'type-01 padding of exactly the data sent');
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${hexOf(digest)}`).sw, '9000', 'without Le also fine');
  t.equal(tx(c, `802A0080F6${'00'.repeat(246)}00`).sw, '6700', '246 bytes too long for PKCS#1 v1.5');
  t.equal(tx(c, `802A0080F5${'01'.repeat(245)}00`).sw, '9000', '245 bytes ok');
  t.equal(tx(c, '802A00800000').sw, '6700', 'no data');
  t.equal(tx(c, cmd.replace('802A0080', '802A009E')).sw, '6A86', 'bad P2');
  // signing key with the signing password
  tx(c, sel('001B'));
  tx(c, verifyAscii('ABC123'));
  tx(c, sel('001A'));
  const s = tx(c, cmd);
  t.equal(s.sw, '9000');
  t.ok(rsaVerify('sha256', msg, signPub, s.data), 'signing key matches the signing cert');
  t.notOk(rsaVerify('sha256', msg, authPub, s.data));
});

t.test('券面事項入力補助AP', async (t) => {
  const profile = makeProfile();
  const c = card(profile);
  tx(c, SELECT_CARDINFO);
  for (const fid of ['0001', '0002', '0003']) {
    tx(c, sel(fid));
    t.equal(tx(c, '00B0000000').sw, '6982', `EF ${fid} before PIN`);
  }
  tx(c, sel('0011'));
  t.equal(tx(c, '00200080').sw, '63C3');
  t.equal(tx(c, verifyPin('1234')).sw, '63C2', 'the JPKI PIN is not the card-info PIN');
  t.equal(tx(c, verifyPin('5678')).sw, '9000');
  tx(c, sel('0001'));
  const ef1 = readAll(c);
  t.equal(hexOf(ef1), 'FF100C' + hexOf(Buffer.from('123456789018')) + 'FFFF');
  tx(c, sel('0002'));
  const ef2 = readAll(c);
  // FF 20 L { DF21 08 offsets, DF22 name, DF23 address, DF24 08 birth, DF25 01 sex }
  t.equal(hexOf(ef2.subarray(0, 2)), 'FF20');
  const name = Buffer.from(profile.cardInfo.name, 'utf8');
  const addr = Buffer.from(profile.cardInfo.address, 'utf8');
  const innerLen = 11 + (3 + name.length) + (3 + addr.length) + 11 + 4;
  t.equal(ef2[2], innerLen, 'short-form length (inner < 128)');
  t.equal(ef2.length, 3 + innerLen);
  let p = 3;
  t.equal(hexOf(ef2.subarray(p, p + 3)), 'DF2108');
  const offsets = [0, 1, 2, 3].map((i) => ef2.readUInt16BE(p + 3 + i * 2));
  p += 11;
  const items: Record<string, Buffer> = {};
  for (const tag of ['DF22', 'DF23', 'DF24', 'DF25']) {
    t.equal(hexOf(ef2.subarray(p, p + 2)), tag);
    t.equal(offsets.shift(), p, `offset of ${tag}`);
    const len = ef2[p + 2];
    items[tag] = ef2.subarray(p + 3, p + 3 + len);
    p += 3 + len;
  }
  t.equal(items.DF22.toString('utf8'), profile.cardInfo.name);
  t.equal(items.DF23.toString('utf8'), profile.cardInfo.address);
  t.equal(items.DF24.toString('ascii'), '19800401');
  t.equal(items.DF25.toString('ascii'), '1');
  tx(c, sel('0003'));
  const ef3 = readAll(c);
  t.equal(hexOf(ef3.subarray(0, 5)), 'FF3082014B');
  t.equal(ef3.length, 5 + 0x14b);
  t.equal(hexOf(ef3.subarray(5, 8)), 'DF3120');
  const h1 = ef3.subarray(8, 40);
  t.equal(hexOf(ef3.subarray(40, 43)), 'DF3220');
  const h2 = ef3.subarray(43, 75);
  t.equal(hexOf(ef3.subarray(75, 80)), 'DF33820100');
  const sig = ef3.subarray(80);
  t.same(h1, createHash('sha256').update(ef1).digest(), 'DF31 = SHA-256 of EF 0001');
  t.same(h2, createHash('sha256').update(ef2).digest(), 'DF32 = SHA-256 of EF 0002');
  t.ok(rsaVerify('sha256', Buffer.concat([h1, h2]), new X509Certificate(testCerts().sign).publicKey, sig), 'DF33 verifies with the signing cert');
  // no keys in this AP
  t.equal(tx(c, `802A008033${SHA256_PREFIX}${'11'.repeat(32)}00`).sw, '6982');
});

t.test('long name gives a long-form FF20 length', async (t) => {
  const p = makeProfile();
  p.cardInfo.address = '北海道'.repeat(20); // 180 bytes UTF-8
  const c = card(p);
  tx(c, SELECT_CARDINFO);
  tx(c, sel('0011'));
  tx(c, verifyPin('5678'));
  tx(c, sel('0002'));
  const ef2 = readAll(c);
  t.equal(hexOf(ef2.subarray(0, 3)), 'FF2081');
  t.equal(ef2[3] + 4, ef2.length);
  const addrOffset = ef2.readUInt16BE(4 + 3 + 2);
  t.equal(hexOf(ef2.subarray(addrOffset, addrOffset + 4)), 'DF2381B4');
});

t.test('unknown INS / CLA and malformed APDUs', async (t) => {
  const c = card();
  tx(c, SELECT_JPKI);
  t.equal(tx(c, '00CA000000').sw, '6D00', 'GET DATA not supported');
  t.equal(tx(c, '00C0000000').sw, '6D00', 'GET RESPONSE not supported');
  t.equal(tx(c, '002A9E9A00').sw, '6D00', 'ISO PSO with CLA 00');
  t.equal(tx(c, '80B0000004').sw, '6D00', 'CLA 80 READ BINARY');
  t.equal(tx(c, 'FFCA000000').sw, '6E00', 'PC/SC pseudo-APDU CLA FF');
  t.equal(tx(c, '0CB0000004').sw, '6E00', 'secure messaging CLA');
  t.equal(tx(c, '').sw, '6700', 'empty');
  t.equal(tx(c, '00').sw, '6700', 'one byte');
  t.equal(tx(c, '00A404').sw, '6700', 'three bytes');
  t.equal(tx(c, '00A4040C0AD392F0').sw, '6700', 'Lc longer than the body');
  t.equal(tx(c, '00A4040C02D392F000').sw, '6700', 'Lc shorter than the body (2 extra bytes)');
  t.equal(tx(c, '00A4040C0000').sw, '6700', 'extended marker cut short');
  t.equal(tx(c, '00A4040C00000AD392F0002601000000').sw, '6700', 'extended Lc 10 with 9 bytes');
  t.equal(tx(c, '00A4040C00000AD392F000260100000001').sw, '9000', 'extended Lc accepted');
  // never throws for any byte string, and always answers with at least a SW
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
  for (let i = 0; i < 3000; i++) {
    const len = rnd() % 20;
    const b = Buffer.from(Array.from({ length: len }, rnd));
    if (i % 3 === 0 && len >= 2) { b[0] = 0; b[1] = [0xa4, 0xb0, 0x20, 0x24][i % 4]; }
    if (i % 7 === 0 && len >= 2) { b[0] = 0x80; b[1] = 0x2a; }
    const r = c.transmit(b);
    if (r.length < 2) t.fail(`no SW for ${hexOf(b)}`);
  }
  t.ok(true, 'fuzzed 3000 APDUs without a throw');
  t.equal(hexOf(c.transmit('nonsense' as unknown as Buffer)), '6700', 'non-buffer input');
});

t.test('card file: persistence, atomic writes, locked after reload', async (t) => {
  const f = makeCardFile(makeProfile({ cardId: 'T0002' }));
  t.teardown(f.cleanup);
  let c = VirtualCard.fromFile(f.path);
  c.powerOn();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('0000')).sw, '63C2');
  t.equal(readCardFile(f.path).state.authPinTries, 2, 'counter written at once');
  // reload: the counter survived
  c = VirtualCard.fromFile(f.path);
  c.powerOn();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, '00200080').sw, '63C2', 'counter survives reload');
  t.equal(tx(c, verifyPin('1234')).sw, '9000');
  t.equal(readCardFile(f.path).state.authPinTries, 3, 'reset written');
  t.equal(tx(c, '002401800439393939').sw, '9000', 'change PIN to 9999');
  t.equal(readCardFile(f.path).jpki.authPin, '9999');
  tx(c, sel('0018'));
  tx(c, verifyPin('0000'));
  tx(c, verifyPin('0000'));
  t.equal(tx(c, verifyPin('0000')).sw, '63C0');
  c = VirtualCard.fromFile(f.path);
  c.powerOn();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  t.equal(tx(c, verifyPin('9999')).sw, '6984', 'still locked after reload from file');
  t.equal(tx(c, '00200080').sw, '63C0');
  const text = readFileSync(f.path, 'utf8');
  t.ok(JSON.parse(text).jpki.authKeyPkcs8, 'file still a complete profile');
  // no temporary files left behind
  const { readdirSync } = await import('node:fs');
  t.same(readdirSync(f.dir), ['T0002.json']);
});

t.test('persistence failure answers 6581 and spends the try in memory', async (t) => {
  let fail = false;
  const c = new VirtualCard(makeProfile(), { persist: () => { if (fail) throw new Error('disk full'); } });
  c.powerOn();
  tx(c, SELECT_JPKI);
  tx(c, sel('0018'));
  fail = true;
  t.equal(tx(c, verifyPin('1234')).sw, '6581', 'no verification without a durable counter');
  t.equal(c.triesLeft('auth'), 2);
  fail = false;
  t.equal(tx(c, verifyPin('1234')).sw, '9000');
  fail = true;
  t.equal(tx(c, '002401800435353535').sw, '6581');
  t.equal(c.snapshot().jpki.authPin, '1234', 'PIN change rolled back');
});

t.test('bad profiles are refused', async (t) => {
  const p = makeProfile();
  p.jpki.authPin = '12345';
  t.throws(() => VirtualCard.fromProfile(p), /jpki.authPin/);
  const q = makeProfile();
  q.jpki.authCertDer = Buffer.from('300300').toString('base64');
  t.throws(() => VirtualCard.fromProfile(q), /30 82/);
  const r = makeProfile();
  r.jpki.authKeyPkcs8 = Buffer.from('nope').toString('base64');
  t.throws(() => VirtualCard.fromProfile(r), /PKCS#8/);
  void createPublicKey;
});
