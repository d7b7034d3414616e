import t from 'tap';
import { X509Certificate, createHash, verify as rsaVerify } from 'node:crypto';
import { KonbiniError } from '@konbini/protocol';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { InProcessReader } from '../../src/reader/in-process-reader.js';
import { JpkiClient } from '../../src/reader/jpki-client.js';
import { makeCardFile, makeProfile, testCerts } from '../card/make-profile.js';

function code(err: unknown): string | undefined {
  return err instanceof KonbiniError ? err.code : undefined;
}

t.test('login sequence over the in-process reader', async (t) => {
  const reader = new InProcessReader();
  t.teardown(() => reader.close());
  const card = VirtualCard.fromProfile(makeProfile());
  const waiting = reader.waitForCard();
  reader.insert(card);
  const presence = await waiting;
  t.equal(presence.atr.toString('hex').toUpperCase(), '3BDA13FF8131FB468012392F31C173C601C03B');
  const jpki = new JpkiClient(reader);
  await jpki.selectJpki();
  const der = await jpki.readAuthCertificate();
  t.same(der, testCerts().auth, 'certificate read in chunks equals the card file');
  const cert = new X509Certificate(der);
  t.same(await jpki.readAuthCaCertificate(), testCerts().ca);
  t.equal(await jpki.authPinTriesLeft(), 3);
  await t.rejects(jpki.verifyAuthPin('12a4'), { code: 'PIN_FORMAT' });
  await t.rejects(jpki.verifyAuthPin('12345'), { code: 'PIN_FORMAT' });
  t.equal(await jpki.authPinTriesLeft(), 3, 'format errors never reach the card');
  const wrong = await jpki.verifyAuthPin('0000').catch((e) => e);
  t.equal(code(wrong), 'PIN_WRONG');
  t.equal(wrong.detail.triesLeft, 2);
  await t.rejects(jpki.signWithAuthKey(createHash('sha256').update('x').digest()), { code: 'CARD_UNREADABLE', detail: { sw: '6982' } }, 'no signature without PIN');
  await jpki.verifyAuthPin('1234');
  t.equal(await jpki.authPinTriesLeft(), 3);
  const message = Buffer.concat([createHash('sha256').update('context').digest(), createHash('sha256').update('nonce').digest()]);
  const sig = await jpki.signWithAuthKey(createHash('sha256').update(message).digest());
  t.equal(sig.length, 256);
  t.ok(rsaVerify('sha256', message, cert.publicKey, sig), 'signature verifies with the certificate public key');
  await t.rejects(jpki.signWithAuthKey(Buffer.alloc(20)), RangeError);
});

t.test('PIN lock through the client, and the lock survives reload from file', async (t) => {
  const f = makeCardFile(makeProfile({ cardId: 'T0100' }));
  t.teardown(f.cleanup);
  const reader = new InProcessReader();
  t.teardown(() => reader.close());
  reader.insert(VirtualCard.fromFile(f.path));
  await reader.waitForCard();
  const jpki = new JpkiClient(reader);
  await jpki.selectJpki();
  const e1 = await jpki.verifyAuthPin('1111').catch((e) => e);
  t.match(e1, { code: 'PIN_WRONG', detail: { triesLeft: 2 } });
  const e2 = await jpki.verifyAuthPin('1111').catch((e) => e);
  t.match(e2, { code: 'PIN_WRONG', detail: { triesLeft: 1 } });
  const e3 = await jpki.verifyAuthPin('1111').catch((e) => e);
  t.match(e3, { code: 'PIN_LOCKED', detail: { triesLeft: 0 } }, 'the third wrong try locks');
  await t.rejects(jpki.verifyAuthPin('1234'), { code: 'PIN_LOCKED' }, 'the right PIN no longer helps');
  reader.remove();
  reader.insert(VirtualCard.fromFile(f.path));
  await reader.waitForCard();
  await jpki.selectJpki();
  t.equal(await jpki.authPinTriesLeft(), 0);
  await t.rejects(jpki.verifyAuthPin('1234'), { code: 'PIN_LOCKED' }, 'still locked after reload');
});

t.test('reader session rules', async (t) => {
  const reader = new InProcessReader();
  t.teardown(() => reader.close());
  const jpki = new JpkiClient(reader);
  await t.rejects(jpki.selectJpki(), { code: 'CARD_NOT_PRESENT' });
  const ac = new AbortController();
  const w = reader.waitForCard(ac.signal);
  ac.abort(new Error('kiosk went idle'));
  await t.rejects(w, /kiosk went idle/);
  t.equal(reader.listenerCount('inserted'), 0, 'aborted wait leaves no listener');

  const card = VirtualCard.fromProfile(makeProfile());
  reader.insert(card);
  t.throws(() => reader.insert(VirtualCard.fromProfile(makeProfile())), /already/);
  await reader.waitForCard();
  await jpki.selectJpki();
  await jpki.verifyAuthPin('1234');
  const removal = reader.waitForRemoval();
  let removedEvents = 0;
  reader.on('removed', () => removedEvents++);
  reader.remove();
  await removal;
  t.equal(removedEvents, 1);
  await t.rejects(jpki.readAuthCertificate(), { code: 'CARD_REMOVED' }, 'removed mid-session');
  reader.insert(card);
  await t.rejects(jpki.selectJpki(), { code: 'CARD_REMOVED' }, 'a card placed again does not continue the old session');
  await reader.waitForCard();
  await jpki.selectJpki();
  await t.rejects(jpki.signWithAuthKey(Buffer.alloc(32)), { code: 'CARD_UNREADABLE' }, 'the PIN was forgotten when power was lost');
  await reader.close();
  await t.rejects(reader.waitForCard(), { code: 'CARD_NOT_PRESENT' });
});

t.test('a card without the JPKI AP', async (t) => {
  // An in-process "card" that answers 6A82 to everything is not needed: the client only
  // sees SWs; select an AID the card lacks by talking raw.
  const reader = new InProcessReader();
  t.teardown(() => reader.close());
  reader.insert(VirtualCard.fromProfile(makeProfile()));
  await reader.waitForCard();
  const jpki = new JpkiClient(reader);
  const r = await jpki.send(Buffer.from('00A4040C07A0000000041010', 'hex'));
  t.equal(r.sw, 0x6a82);
  await t.rejects(jpki.readAuthCertificate(), { code: 'CARD_UNREADABLE', detail: { sw: '6A82' } }, 'EF select without AP');
});
