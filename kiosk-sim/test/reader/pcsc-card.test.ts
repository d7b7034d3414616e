/**
 * The card as readers we do not control see it, through the real pcscd + vpcd:
 * - the "usual reading sequence" of independent JPKI middleware, in raw APDUs;
 * - three wrong PINs lock it, and it stays locked after reinsertion and after a
 *   restart (pcscd restarted, card loaded again from its file, new reader);
 * - bad input (issue 3): malformed APDUs, READ BINARY with no file selected, signing
 *   without the PIN or with the wrong key, a card that disconnects mid-APDU, a second
 *   card while one is in use. Each gets a status word or a clear kiosk error, never a
 *   hang.
 */
import t from 'tap';
import { X509Certificate, createHash, verify as rsaVerify } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { KonbiniError } from '@konbini/protocol';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { FrameDecoder, VpcdBridge, frame } from '../../src/card/vpcd-bridge.js';
import { CARD_ATR } from '../../src/card/card-files.js';
import type { PcscReader } from '../../src/reader/pcsc-reader.js';
import { JpkiClient } from '../../src/reader/jpki-client.js';
import { makeCardFile, makeProfile, testCerts } from '../card/make-profile.js';
import { openPcscReader, usePcscd, VPCD_READER } from '../helpers/pcscd.js';

const env = await usePcscd();
const SLOT0 = 35963;
const SLOT1 = 35964;

/** Sends raw bytes; resolves with { data, sw } (hex sw) or the KonbiniError. */
async function raw(r: PcscReader, hex: string): Promise<{ data: Buffer; sw: string }> {
  const resp = await r.transmit(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
  return { data: resp.subarray(0, resp.length - 2), sw: resp.subarray(resp.length - 2).toString('hex').toUpperCase() };
}

async function insert(r: PcscReader, card: VirtualCard, port = SLOT0): Promise<VpcdBridge> {
  const bridge = await VpcdBridge.connect(card, { port, confirmWithinMs: 8000 });
  await r.waitForCard(AbortSignal.timeout(5000));
  return bridge;
}

async function pull(r: PcscReader, bridge: VpcdBridge): Promise<void> {
  const gone = r.waitForRemoval(AbortSignal.timeout(5000));
  await bridge.close();
  await gone;
}

t.test('independent middleware reading sequence: length from the first 4 bytes, 256-byte chunks, SHA-256 DigestInfo', { skip: env.skip }, async (t) => {
  const r = await openPcscReader(VPCD_READER[0]);
  t.teardown(() => r.close());
  const bridge = await insert(r, VirtualCard.fromProfile(makeProfile({ cardId: 'T0MW' })));
  t.teardown(() => bridge.close());
  const steps: string[] = [];
  const ok = async (label: string, hex: string) => {
    const a = await raw(r, hex);
    steps.push(`${label} ${a.sw}`);
    return a;
  };
  await ok('select-ap', '00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01');
  await ok('select-000A', '00 A4 02 0C 02 00 0A');
  const head = await ok('read-head', '00 B0 00 00 04');
  t.equal(head.data.length, 4);
  t.same([...head.data.subarray(0, 2)], [0x30, 0x82], 'DER with the two-byte long form header');
  const total = head.data.readUInt16BE(2) + 4;
  const parts: Buffer[] = [];
  for (let off = 0; off < total; off += 256) {
    const n = Math.min(256, total - off);
    const le = n === 256 ? '00' : n.toString(16).padStart(2, '0');
    const c = await ok(`read@${off}`, `00 B0 ${(off >> 8).toString(16).padStart(2, '0')} ${(off & 0xff).toString(16).padStart(2, '0')} ${le}`);
    t.equal(c.data.length, n, `chunk at ${off}`);
    parts.push(c.data);
  }
  const der = Buffer.concat(parts);
  t.same(der, testCerts().auth, 'certificate read the middleware way equals the card\'s');
  await ok('select-0018', '00 A4 02 0C 02 00 18');
  t.equal((await raw(r, '00 20 00 80')).sw, '63C3', 'empty VERIFY: 3 tries, spends nothing');
  await ok('verify', '00 20 00 80 04 31 32 33 34');
  t.equal((await raw(r, '00 20 00 80')).sw, '63C3', 'empty VERIFY while verified still answers 63C3');
  await ok('select-0017', '00 A4 02 0C 02 00 17');
  const message = Buffer.from('login challenge from a relying party');
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(message).digest()]);
  const sig = await ok('sign', `80 2A 00 80 ${digestInfo.length.toString(16)} ${digestInfo.toString('hex')} 00`);
  t.equal(sig.data.length, 256);
  t.ok(rsaVerify('sha256', message, new X509Certificate(der).publicKey, sig.data), 'RSA-SHA256 signature verifies against the certificate public key');
  t.ok(steps.every((s) => s.endsWith(' 9000')), steps.join(', '));
});

t.test('locked after 3 wrong PINs, still locked after reinsertion and after a restart', { skip: env.skip }, async (t) => {
  const file = makeCardFile(makeProfile({ cardId: 'T0LOCK' }));
  t.teardown(file.cleanup);
  let r = await openPcscReader(VPCD_READER[0]);
  let bridge = await insert(r, VirtualCard.fromFile(file.path));
  let jpki = new JpkiClient(r);
  await jpki.selectJpki();
  await t.rejects(jpki.verifyAuthPin('0000'), { code: 'PIN_WRONG', detail: { triesLeft: 2 } });
  await t.rejects(jpki.verifyAuthPin('0000'), { code: 'PIN_WRONG', detail: { triesLeft: 1 } });
  await t.rejects(jpki.verifyAuthPin('0000'), { code: 'PIN_LOCKED' }, 'the third wrong PIN locks');
  await t.rejects(jpki.verifyAuthPin('1234'), { code: 'PIN_LOCKED' }, 'the right PIN no longer helps');

  // Reinsertion: pulled and put back (a new power-up; the chip is the file).
  await pull(r, bridge);
  bridge = await insert(r, VirtualCard.fromFile(file.path));
  await jpki.selectJpki();
  t.equal(await jpki.authPinTriesLeft(), 0, 'after reinsertion: 0 tries');
  await t.rejects(jpki.verifyAuthPin('1234'), { code: 'PIN_LOCKED' }, 'after reinsertion: locked');
  t.equal((await raw(r, '00 20 00 80 04 31 32 33 34')).sw, '6984', 'VERIFY on a blocked PIN: 6984');

  // Restart: the kiosk's reader, pcscd and the card process all start again.
  await bridge.close();
  await r.close();
  await env.restart();
  r = await openPcscReader(VPCD_READER[0]);
  t.teardown(() => r.close());
  bridge = await insert(r, VirtualCard.fromFile(file.path));
  t.teardown(() => bridge.close());
  jpki = new JpkiClient(r);
  await jpki.selectJpki();
  t.equal(await jpki.authPinTriesLeft(), 0, 'after a restart: 0 tries');
  await t.rejects(jpki.verifyAuthPin('1234'), { code: 'PIN_LOCKED' }, 'after a restart: locked');
  await t.rejects(jpki.signWithAuthKey(Buffer.alloc(32)), { code: 'CARD_UNREADABLE', detail: { sw: '6982' } }, 'and no signature');
});

t.test('bad input through PC/SC: status words, never a hang', { skip: env.skip }, async (t) => {
  const r = await openPcscReader(VPCD_READER[0]);
  t.teardown(() => r.close());
  const bridge = await insert(r, VirtualCard.fromProfile(makeProfile({ cardId: 'T0BAD' })));
  t.teardown(() => bridge.close());
  const certLen = testCerts().auth.length;

  await raw(r, '00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01');
  t.equal((await raw(r, '00 B0 00 00 04')).sw, '6986', 'READ BINARY with no file selected: 6986');
  t.equal((await raw(r, '00 B0 81 00 04')).sw, '6982', 'READ BINARY by SFI 1 (signing certificate) before the password: 6982');
  const sfi = await raw(r, '00 B0 8A 00 04');
  t.same([sfi.sw, sfi.data.subarray(0, 2).toString('hex')], ['9000', '3082'], 'READ BINARY by SFI 0A: the auth certificate');
  // Too short: a header of 3 bytes (pcsc-lite passes it through to the card, which says 6700).
  const short = await raw(r, '00 A4 04').catch((e: KonbiniError) => ({ sw: e.code, data: Buffer.alloc(0) }));
  t.ok(['6700', 'CARD_UNREADABLE'].includes(short.sw), `3-byte APDU: ${short.sw}`);
  t.equal((await raw(r, '00 A4 02 0C 05 00 0A')).sw, '6700', 'Lc 5 with 2 data bytes: 6700');
  t.equal((await raw(r, '00 A4 02 0C 01 00 0A')).sw, '6700', 'Lc 1 with 2 data bytes: 6700');
  t.equal((await raw(r, '00 A4 02 0C 02 00 0A')).sw, '9000');
  const tail = await raw(r, `00 B0 ${((certLen - 10) >> 8).toString(16).padStart(2, '0')} ${((certLen - 10) & 0xff).toString(16).padStart(2, '0')} FF`);
  t.same([tail.sw, tail.data.length], ['9000', 10], 'Le beyond the end of the file: the 10 bytes left, 9000');
  const ext = await raw(r, '00 B0 00 00 00 FF FF');
  t.same([ext.sw, ext.data.length], ['9000', certLen], 'extended Le 65535: the whole file in one response');
  const past = await raw(r, `00 B0 ${(certLen >> 8).toString(16).padStart(2, '0')} ${(certLen & 0xff).toString(16).padStart(2, '0')} 04`);
  t.equal(past.sw, '6B00', 'offset past the end: 6B00');
  t.equal((await raw(r, '00 CA 00 00 00')).sw, '6D00', 'unknown INS: 6D00');
  t.equal((await raw(r, 'A0 A4 00 00')).sw, '6E00', 'unknown CLA: 6E00');

  const di = '3031300d060960864801650304020105000420' + '11'.repeat(32);
  t.equal((await raw(r, '00 A4 02 0C 02 00 17')).sw, '9000');
  t.equal((await raw(r, `80 2A 00 80 33 ${di} 00`)).sw, '6982', 'signing without a verified PIN: 6982');
  t.equal((await raw(r, '00 A4 02 0C 02 00 18')).sw, '9000');
  t.equal((await raw(r, '00 20 00 80 04 31 32 33 34')).sw, '9000', 'auth PIN verified');
  t.equal((await raw(r, '00 A4 02 0C 02 00 1A')).sw, '9000');
  t.equal((await raw(r, `80 2A 00 80 33 ${di} 00`)).sw, '6982', 'signing key 001A selected with only the auth PIN verified: 6982');
  t.equal((await raw(r, '00 A4 02 0C 02 00 0A')).sw, '9000');
  t.equal((await raw(r, `80 2A 00 80 33 ${di} 00`)).sw, '6982', 'a certificate EF selected as the key: 6982');
  t.equal((await raw(r, '00 A4 02 0C 02 00 17')).sw, '9000');
  const good = await raw(r, `80 2A 00 80 33 ${di} 00`);
  t.same([good.sw, good.data.length], ['9000', 256], 'the right key after all that still signs');
  // The client side refuses nonsense before it reaches the card.
  const jpki = new JpkiClient(r);
  await t.rejects(jpki.readBinary(0, 0), RangeError);
  await t.rejects(jpki.verifyAuthPin('12'), { code: 'PIN_FORMAT' });
});

/**
 * A card that speaks vpcd by hand and, on the first APDU, disconnects: without a word
 * ('silent'), or after half an answer ('half': the length says 258 bytes, 3 come).
 */
async function flakyCard(port: number, mode: 'silent' | 'half'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    for (const p of decoder.push(chunk)) {
      if (p.length === 1 && p[0] === 0x04) socket.write(frame(CARD_ATR));
      else if (p.length === 1 && p[0]! <= 0x02) { /* power: no reply */ } else {
        if (mode === 'half') socket.write(Buffer.from([0x01, 0x02, 0x90, 0x00, 0x00]));
        socket.destroy();
      }
    }
  });
  return socket;
}

for (const mode of ['silent', 'half'] as const) {
  t.test(`a card that disconnects mid-APDU (${mode}): a kiosk error, no hang; the next card reads`, { skip: env.skip }, async (t) => {
    const r = await openPcscReader(VPCD_READER[0]);
    t.teardown(() => r.close());
    const socket = await flakyCard(SLOT0, mode);
    t.teardown(() => socket.destroy());
    await r.waitForCard(AbortSignal.timeout(5000));
    const started = Date.now();
    const err = await new JpkiClient(r).selectJpki().then(() => null, (e: unknown) => e);
    t.ok(err instanceof KonbiniError, `a kiosk error: ${(err as KonbiniError).code}`);
    // The kiosk cannot tell a card that died mid-answer from one that was pulled:
    // either way the session ends with a clear code (vpcd even passes half an answer
    // up as a response, "90 00 00", which the kiosk sees as a bad status word).
    t.ok(['CARD_REMOVED', 'CARD_UNREADABLE'].includes((err as KonbiniError).code));
    t.ok(Date.now() - started < 5000, `reported in ${Date.now() - started} ms`);
    await t.rejects(new JpkiClient(r).selectJpki(), KonbiniError, 'the broken card stays refused, no hang');
    // vpcd keeps the dead card's slot until the reader handle goes: the kiosk reopens its reader.
    await r.close();
    const r2 = await openPcscReader(VPCD_READER[0]);
    t.teardown(() => r2.close());
    const bridge = await insert(r2, VirtualCard.fromProfile(makeProfile({ cardId: 'T0NEXT' })));
    t.teardown(() => bridge.close());
    await new JpkiClient(r2).selectJpki();
    t.pass(`next card reads normally (${Date.now() - started} ms after the failure)`);
  });
}

t.test('a second card while one is in use', { skip: env.skip }, async (t) => {
  const r = await openPcscReader(VPCD_READER[0]);
  t.teardown(() => r.close());
  const first = VirtualCard.fromProfile(makeProfile({ cardId: 'T0FIRST' }));
  const bridge = await insert(r, first);
  t.teardown(() => bridge.close());
  const jpki = new JpkiClient(r);
  await jpki.selectJpki();
  await jpki.verifyAuthPin('1234');

  // Into the same slot: vpcd serves one card per slot; the second is refused, not queued.
  const second = VirtualCard.fromProfile(makeProfile({ cardId: 'T0SECOND' }));
  const started = Date.now();
  await t.rejects(VpcdBridge.connect(second, { port: SLOT0, confirmWithinMs: 1500 }), { code: 'READER_SLOT_BUSY' }, 'same slot: READER_SLOT_BUSY');
  t.ok(Date.now() - started < 4000, 'refused promptly');

  // Into the other slot: the kiosk's reader is bound to its own slot and ignores it.
  const other = await VpcdBridge.connect(second, { port: SLOT1, confirmWithinMs: 8000 });
  t.teardown(() => other.close());
  await new Promise((res) => setTimeout(res, 900));
  t.equal(r.name, VPCD_READER[0]);
  const sig = await jpki.signWithAuthKey(createHash('sha256').update('still the first card').digest());
  t.ok(rsaVerify('sha256', Buffer.from('still the first card'), new X509Certificate(testCerts().auth).publicKey, sig), 'the session goes on with the first card: its verified PIN still signs (a switched card would answer 6982)');
  await other.close();
});
