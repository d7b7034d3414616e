import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRsaKey, issueCert } from '@konbini/dev-pki';
import { KonbiniError } from '@konbini/protocol';
import { CardAuthenticator } from '../../src/auth/card-authenticator.js';
import { CardValidator, certificateValidators, type CardTrust } from '../../src/auth/card-validator.js';
import { ChallengeStore } from '../../src/auth/challenge-store.js';
import { CrlSource } from '../../src/auth/crl-source.js';
import { parseCrl, type Crl } from '../../src/auth/crl.js';
import { cardKit, type CardKit } from './helpers.js';

const DAY = 86_400_000;
const ORIGIN = 'wss://centre.test:7444';
const T0 = new Date('2026-06-15T03:00:00Z');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KonbiniError ? err.code : `not-a-konbini-error: ${String(err)}`;
  }
  return undefined;
}

/** A centre-side authenticator with a clock the test moves and a CRL it swaps. */
function rig(kit: CardKit, opts: { crl?: Crl | null; requireCrl?: boolean } = {}) {
  let now = T0.getTime();
  let crl: Crl | undefined =
    opts.crl === null ? undefined : (opts.crl ?? parseCrl(kit.crl([], new Date(now - DAY), new Date(now + 7 * DAY)), kit.caCert));
  const trust: CardTrust = { roots: [kit.caCert], crl: () => crl, requireCrl: opts.requireCrl ?? true };
  const clock = () => new Date(now);
  const challenges = new ChallengeStore(() => now);
  const auth = new CardAuthenticator(new CardValidator(trust, clock), challenges, () => ORIGIN);
  return {
    auth,
    advance: (ms: number) => (now += ms),
    setCrl: (c: Crl | undefined) => (crl = c),
    /** Whole login: start, card signs, finish. */
    login(card: { b64: string }, signer: (nonce: Buffer) => string, kioskId = 'K0001') {
      const { challenge, card: started } = auth.start(kioskId, card.b64);
      return auth.finish(kioskId, challenge.sessionId, started, signer(challenge.nonce));
    },
  };
}

let kit: CardKit;
t.before(async () => {
  kit = await cardKit(T0);
});

t.test('the validators run in the documented order, one concern each, no code shared', async (t) => {
  const vs = certificateValidators({ roots: [kit.caCert] });
  t.same(
    vs.map((v) => v.name),
    ['schema', 'issuer', 'certificate-signature', 'validity', 'key-usage', 'revocation'],
  );
  const codes = vs.flatMap((v) => v.codes);
  t.equal(new Set(codes).size, codes.length, 'each code belongs to one validator');
});

t.test('a good card logs in and yields its serial', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const v = r.login(card, (n) => kit.sign(card, ORIGIN, 'K0001', n));
  t.equal(v.serial, card.serial);
});

t.test('schema: not a certificate', async (t) => {
  const r = rig(kit);
  t.equal(codeOf(() => r.auth.start('K0001', Buffer.from('hello').toString('base64'))), 'CARD_CERT_INVALID');
  t.equal(codeOf(() => r.auth.start('K0001', '%%%not base64%%%')), 'CARD_CERT_INVALID');
  const card = kit.card();
  t.equal(codeOf(() => r.auth.start('K0001', Buffer.concat([card.der, Buffer.from([0, 0])]).toString('base64'))), 'CARD_CERT_INVALID', 'trailing bytes');
});

t.test('expired', async (t) => {
  const r = rig(kit);
  const card = kit.card({ notBefore: new Date(T0.getTime() - 400 * DAY), notAfter: new Date(T0.getTime() - DAY) });
  t.equal(codeOf(() => r.auth.start('K0001', card.b64)), 'CARD_CERT_EXPIRED');
  // And a good card once the clock passes its notAfter.
  const good = kit.card({ notAfter: new Date(T0.getTime() + DAY) });
  r.advance(2 * DAY);
  r.setCrl(parseCrl(kit.crl([], new Date(T0.getTime() + DAY), new Date(T0.getTime() + 9 * DAY)), kit.caCert));
  t.equal(codeOf(() => r.auth.start('K0001', good.b64)), 'CARD_CERT_EXPIRED', 'expired by the clock');
});

t.test('not yet valid', async (t) => {
  const r = rig(kit);
  const card = kit.card({ notBefore: new Date(T0.getTime() + DAY) });
  t.equal(codeOf(() => r.auth.start('K0001', card.b64)), 'CARD_CERT_NOT_YET_VALID');
});

t.test('revoked', async (t) => {
  const card = kit.card();
  const r = rig(kit, { crl: parseCrl(kit.crl(['01ab', card.serial], new Date(T0.getTime() - DAY), new Date(T0.getTime() + DAY)), kit.caCert) });
  t.equal(codeOf(() => r.auth.start('K0001', card.b64)), 'CARD_CERT_REVOKED');
});

t.test('revoked between session.start and session.auth: the second pass catches it', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const started = r.auth.start('K0001', card.b64);
  r.setCrl(parseCrl(kit.crl([card.serial], new Date(T0.getTime()), new Date(T0.getTime() + DAY)), kit.caCert));
  const sig = kit.sign(card, ORIGIN, 'K0001', started.challenge.nonce);
  t.equal(codeOf(() => r.auth.finish('K0001', started.challenge.sessionId, started.card, sig)), 'CARD_CERT_REVOKED', 'the parsed card from session.start is checked again');
});

t.test('expired between session.start and session.auth (the clock moved on)', async (t) => {
  const r = rig(kit);
  const card = kit.card({ notAfter: new Date(T0.getTime() + 60_000) });
  const started = r.auth.start('K0001', card.b64);
  r.advance(61_000);
  const sig = kit.sign(card, ORIGIN, 'K0001', started.challenge.nonce);
  t.equal(codeOf(() => r.auth.finish('K0001', started.challenge.sessionId, started.card, sig)), 'CARD_CERT_EXPIRED');
});

t.test('wrong CA: the JPKI signing CA, and a rogue CA with the very same name', async (t) => {
  const r = rig(kit);
  const signCa = kit.pki.issuer('jpki-sign-ca');
  t.equal(codeOf(() => r.auth.start('K0001', kit.card({ ca: signCa }).b64)), 'CARD_CERT_UNTRUSTED', 'signing CA');
  const rogueKey = await generateRsaKey();
  const rogue = issueCert({
    subject: kit.authCa.cert.subject.attributes.map((a) => ({ shortName: a.shortName, type: a.type, value: String(a.value) })),
    publicKey: rogueKey.publicKey,
    selfKey: rogueKey.privateKey,
    notBefore: new Date(T0.getTime() - 365 * DAY),
    notAfter: new Date(T0.getTime() + 365 * DAY),
    isCa: true,
    keyUsage: { keyCertSign: true, cRLSign: true },
  });
  const rogueCard = kit.card({ ca: { cert: rogue.cert, key: rogueKey.privateKey } });
  t.equal(codeOf(() => r.auth.start('K0001', rogueCard.b64)), 'CARD_CERT_UNTRUSTED', 'same subject name, other key');
});

t.test('tampered certificate: one byte of the subject changed', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const der = Buffer.from(card.der);
  // The subject CN is opaque upper-case hex: flip one of its characters.
  const cnAt = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]), der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03])) + 1);
  t.ok(cnAt > 0, 'found the subject CN');
  const at = cnAt + 5 + 2 + 3;
  der[at] = der[at] === 0x41 ? 0x42 : 0x41;
  t.equal(codeOf(() => r.auth.start('K0001', der.toString('base64'))), 'CARD_CERT_TAMPERED');
  const sig = Buffer.from(card.der);
  sig[sig.length - 10] ^= 0x01;
  t.equal(codeOf(() => r.auth.start('K0001', sig.toString('base64'))), 'CARD_CERT_TAMPERED', 'signature bit flipped');
});

t.test('key usage wider or other than digitalSignature', async (t) => {
  const r = rig(kit);
  t.equal(codeOf(() => r.auth.start('K0001', kit.card({ keyUsage: { digitalSignature: true, nonRepudiation: true } }).b64)), 'CARD_CERT_KEY_USAGE', 'signing-certificate usage');
  t.equal(codeOf(() => r.auth.start('K0001', kit.card({ keyUsage: { keyEncipherment: true } }).b64)), 'CARD_CERT_KEY_USAGE', 'encipherment only');
  t.equal(codeOf(() => r.auth.start('K0001', kit.card({ keyUsage: { digitalSignature: true, keyCertSign: true } }).b64)), 'CARD_CERT_KEY_USAGE', 'a CA key');
});

t.test('wrong nonce: the card signed another nonce, or the kiosk names a challenge never issued', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  t.equal(codeOf(() => r.login(card, () => kit.sign(card, ORIGIN, 'K0001', randomBytes(32)))), 'SIGNATURE_INVALID', 'signature over another nonce');
  r.auth.start('K0001', card.b64);
  t.equal(
    codeOf(() => r.auth.finish('K0001', '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f', card.b64, kit.sign(card, ORIGIN, 'K0001', randomBytes(32)))),
    'CHALLENGE_UNKNOWN',
    'unknown challenge',
  );
});

t.test('replayed nonce', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const { challenge } = r.auth.start('K0001', card.b64);
  const sig = kit.sign(card, ORIGIN, 'K0001', challenge.nonce);
  t.equal(r.auth.finish('K0001', challenge.sessionId, card.b64, sig).serial, card.serial, 'first use passes');
  t.equal(codeOf(() => r.auth.finish('K0001', challenge.sessionId, card.b64, sig)), 'CHALLENGE_REPLAYED', 'the same answer again');
});

t.test('expired nonce', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const { challenge } = r.auth.start('K0001', card.b64);
  r.advance(5 * 60 * 1000 + 1);
  t.equal(codeOf(() => r.auth.finish('K0001', challenge.sessionId, card.b64, kit.sign(card, ORIGIN, 'K0001', challenge.nonce))), 'CHALLENGE_EXPIRED');
});

t.test("another kiosk's nonce", async (t) => {
  const r = rig(kit);
  const card = kit.card();
  const { challenge } = r.auth.start('K0001', card.b64);
  t.equal(codeOf(() => r.auth.finish('K0002', challenge.sessionId, card.b64, kit.sign(card, ORIGIN, 'K0002', challenge.nonce))), 'CHALLENGE_WRONG_KIOSK');
  t.equal(r.auth.finish('K0001', challenge.sessionId, card.b64, kit.sign(card, ORIGIN, 'K0001', challenge.nonce)).serial, card.serial, 'not burnt for its own kiosk');
});

t.test('bad signature: garbage, another key, another context', async (t) => {
  const r = rig(kit);
  const card = kit.card();
  t.equal(codeOf(() => r.login(card, () => randomBytes(256).toString('base64'))), 'SIGNATURE_INVALID', 'random bytes');
  const other = await generateRsaKey();
  t.equal(codeOf(() => r.login(card, (n) => kit.sign({ ...card, key: other.privateKey }, ORIGIN, 'K0001', n))), 'SIGNATURE_INVALID', 'another key');
  t.equal(codeOf(() => r.login(card, (n) => kit.sign(card, 'wss://evil.test', 'K0001', n))), 'SIGNATURE_INVALID', 'another centre origin');
});

t.test('stale CRL: past its nextUpdate, refused with its own code; none loaded: CRL_UNAVAILABLE', async (t) => {
  const card = kit.card();
  const r = rig(kit, { crl: parseCrl(kit.crl([], new Date(T0.getTime() - 10 * DAY), new Date(T0.getTime() - 1000)), kit.caCert) });
  t.equal(codeOf(() => r.auth.start('K0001', card.b64)), 'CRL_STALE');
  const none = rig(kit, { crl: null, requireCrl: true });
  t.equal(codeOf(() => none.auth.start('K0001', card.b64)), 'CRL_UNAVAILABLE');
  const dev = rig(kit, { crl: null, requireCrl: false });
  t.equal(codeOf(() => dev.auth.start('K0001', card.b64)), undefined, 'dev mode without a CRL');
});

t.test('the first failure wins: an expired card from a wrong CA is UNTRUSTED', async (t) => {
  const r = rig(kit);
  const card = kit.card({ ca: kit.pki.issuer('jpki-sign-ca'), notAfter: new Date(T0.getTime() - DAY), notBefore: new Date(T0.getTime() - 9 * DAY) });
  t.equal(codeOf(() => r.auth.start('K0001', card.b64)), 'CARD_CERT_UNTRUSTED');
});

t.test('CRL source: from a file, refreshed; a forged list is refused and the good one kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ic-crl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.crl');
  const now = Date.now();
  writeFileSync(file, kit.crl([], new Date(now - DAY), new Date(now + DAY)));
  const src = new CrlSource({ location: file, ca: kit.caCert, refreshMs: 0 });
  await src.start();
  t.equal(src.current()?.revoked.size, 0);
  writeFileSync(file, kit.crl(['0a0b'], new Date(now), new Date(now + DAY)));
  await src.refresh();
  t.ok(src.current()?.revoked.has('0a0b'), 'the refreshed list is in force');
  // Signed by another key: refused, the previous list stays.
  const rogue = await generateRsaKey();
  const { makeCrl } = await import('@konbini/dev-pki');
  writeFileSync(file, makeCrl({ cert: kit.authCa.cert, key: rogue.privateKey }, [], new Date(now + 1000), new Date(now + DAY)));
  await t.rejects(src.refresh(), { code: 'CRL_UNAVAILABLE' });
  t.ok(src.current()?.revoked.has('0a0b'), 'kept the verified list');
  // An older list never replaces a newer one.
  writeFileSync(file, kit.crl([], new Date(now - 2 * DAY), new Date(now + DAY)));
  await src.refresh();
  t.ok(src.current()?.revoked.has('0a0b'), 'no rollback to an older list');
});

t.test('CRL source: from a URL, on a schedule', async (t) => {
  const now = Date.now();
  let body = kit.crl([], new Date(now - DAY), new Date(now + DAY));
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth.crl`;
  const src = new CrlSource({ location: url, ca: kit.caCert, refreshMs: 50 });
  t.teardown(() => src.stop());
  await src.start();
  t.equal(src.current()?.revoked.size, 0);
  body = kit.crl(['0c0d'], new Date(now + 1000), new Date(now + DAY));
  const until = Date.now() + 3000;
  while (!src.current()?.revoked.has('0c0d') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.ok(src.current()?.revoked.has('0c0d'), 'a revocation published at the URL is picked up without a restart');
  t.ok(hits >= 2, `fetched ${hits} times`);
  const missing = new CrlSource({ location: `${url.replace(/\/auth.crl$/, '')}:1/x`, ca: kit.caCert, refreshMs: 0 });
  await t.rejects(missing.refresh(), { code: 'CRL_UNAVAILABLE' });
});
