/**
 * Operator commands that need no reader: card create / status / unlock, and the
 * errors a kiosk operator sees (`error CODE: ja / en`). card insert / remove and
 * issue --reader pcsc run against pcscd in test/e2e/pcsc-issuance.test.ts.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cli, writeKioskConfig } from '../helpers/cli.js';

const FIXTURE_CARDS = join(ROOT, 'var/fixtures/cards');
const PKI = join(ROOT, 'var/pki');
const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'konbini-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const { config, cardsDir } = writeKioskConfig(dir, {
  tls: { key: join(PKI, manifest.certs['kiosk-K0001'].key), cert: join(PKI, manifest.certs['kiosk-K0001'].cert), ca: join(PKI, manifest.certs['kiosk-line-ca'].cert) },
  cards: [],
  fixturesCardsDir: FIXTURE_CARDS,
});
const fixture = JSON.parse(readFileSync(join(FIXTURE_CARDS, 'C0001.json'), 'utf8'));

t.test('card create copies a fixture card with fresh counters; refuses to overwrite', async (t) => {
  const a = await cli(['card', 'create', 'C0001', '--config', config]);
  t.equal(a.code, 0, a.err);
  t.match(a.out, /^created C0001 from C0001: scenario ok, city \d{6}, PIN \d{4}, counters reset$/m);
  const b = await cli(['card', 'create', 'D0001', '--from', 'C0001', '--pin', '4321', '--config', config]);
  t.equal(b.code, 0, b.err);
  const d = JSON.parse(readFileSync(join(cardsDir, 'D0001.json'), 'utf8'));
  t.equal(d.cardId, 'D0001');
  t.equal(d.jpki.authPin, '4321');
  t.equal(d.jpki.authCertDer, fixture.jpki.authCertDer, 'same certificate: the centre knows the card by it');
  const again = await cli(['card', 'create', 'C0001', '--config', config]);
  t.equal(again.code, 1);
  t.match(again.err, /^error CARD_EXISTS: 同じ番号のカードが既にあります。 \/ A card with this id already exists\.$/m);
  t.match((await cli(['card', 'create', 'C9999', '--config', config])).err, /^error CARD_UNKNOWN: /m, 'no such fixture card');
  t.match((await cli(['card', 'create', '../../etc/x', '--from', 'C0001', '--config', config])).err, /^error CARD_UNKNOWN: /m, 'ids are not paths');
  t.match((await cli(['card', 'create', 'D0002', '--from', 'C0001', '--pin', '12', '--config', config])).err, /^error PIN_FORMAT: /m);
  const list = await cli(['card', 'list', '--json', '--config', config]);
  t.same(JSON.parse(list.out).map((c: { cardId: string }) => c.cardId), ['C0001', 'D0001']);
});

t.test('card status shows tries per PIN and the lock; card unlock resets, as the city counter does', async (t) => {
  const fresh = await cli(['card', 'status', 'D0001', '--json', '--config', config]);
  t.equal(fresh.code, 0, fresh.err);
  const s0 = JSON.parse(fresh.out);
  t.same(s0.pins.map((p: { pin: string; triesLeft: number; locked: boolean }) => [p.pin, p.triesLeft, p.locked]), [['auth', 3, false], ['sign', 5, false], ['card-info', 3, false]]);
  t.equal(s0.locked, false);
  t.equal(s0.inserted, null);
  // Lock the card the way a resident does: wrong PINs through the card's own APDUs.
  const { VirtualCard } = await import('../../src/card/virtual-card.js');
  const card = VirtualCard.fromFile(join(cardsDir, 'D0001.json'));
  card.powerOn();
  card.transmit(Buffer.from('00A4040C0AD392F000260100000001', 'hex'));
  card.transmit(Buffer.from('00A4020C020018', 'hex'));
  for (let i = 0; i < 3; i++) card.transmit(Buffer.from('00200080043030303030'.slice(0, 18), 'hex'));
  t.equal(card.triesLeft('auth'), 0);
  const locked = await cli(['card', 'status', 'D0001', '--config', config]);
  t.match(locked.out, /^ {2}auth {6}0\/3 tries left {2}LOCKED/m);
  t.match(locked.out, /^ {2}sign {6}5\/5 tries left /m);
  const u1 = await cli(['card', 'unlock', 'D0001', '--pin', 'sign', '--config', config]);
  t.equal(u1.code, 0, u1.err);
  t.equal(JSON.parse((await cli(['card', 'status', 'D0001', '--json', '--config', config])).out).locked, true, 'unlocking the signing password leaves the PIN locked');
  const u2 = await cli(['card', 'unlock', 'D0001', '--config', config]);
  t.match(u2.out, /^unlocked D0001: auth 3\/3, sign 5\/5, card-info 3\/3$/m);
  const after = VirtualCard.fromFile(join(cardsDir, 'D0001.json'));
  after.powerOn();
  after.transmit(Buffer.from('00A4040C0AD392F000260100000001', 'hex'));
  after.transmit(Buffer.from('00A4020C020018', 'hex'));
  t.equal(after.transmit(Buffer.from('002000800434333231', 'hex')).toString('hex'), '9000', 'the card takes its PIN again');
  t.match((await cli(['card', 'unlock', 'D0001', '--pin', 'everything', '--config', config])), { code: 2 });
  t.match((await cli(['card', 'status', 'Z0000', '--config', config])).err, /^error CARD_UNKNOWN: このカードは見つかりません。 \/ This card is not known\.$/m);
});

t.test('remove with nothing inserted, bad reader option', async (t) => {
  const r = await cli(['card', 'remove', '--config', config]);
  t.equal(r.code, 1);
  t.match(r.err, /^error CARD_NOT_PRESENT: /m);
  const bad = await cli(['issue', '--card', 'C0001', '--pin', '1234', '--type', 'resident-record', '--tray', join(dir, 'tray'), '--reader', 'usb', '--config', config]);
  t.equal(bad.code, 2);
  t.match(bad.err, /reader must be "in-process", "pcsc" or "pcsc:<reader name>"/);
});
