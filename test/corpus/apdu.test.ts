import { createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import type { CardProfile } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { FrameDecoder, VpcdBridge } from '../../kiosk-sim/src/card/vpcd-bridge.js';
import { apduCases, POWER_CYCLE, SELECT_JPKI, VPCD_CASES } from './apdu.cases.js';
import { fixtureCard, hex } from './helpers.js';

/*
 * The APDU corpus against the virtual card (in memory: the fixture card files are
 * never touched). For each case: the status word, no response data with a refusal,
 * the PIN counter exactly as expected (a malformed command never spends or gives a
 * try), the PIN itself unchanged, and the card still readable afterwards.
 */

const base = fixtureCard('ok');
const PIN = base.jpki.authPin;

function profile(kind: 'ok' | 'locked' = 'ok'): CardProfile {
  const p = structuredClone(base);
  if (kind === 'locked') p.state.authPinTries = 0;
  return p;
}

const swOf = (r: Buffer) => r.subarray(r.length - 2).toString('hex').toUpperCase();
const cases = apduCases(PIN);

t.test(`${cases.length} APDU cases`, async (t) => {
  for (const c of cases) {
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const persisted: CardProfile[] = [];
      const card = new VirtualCard(profile(c.card), { persist: (p) => void persisted.push(p) });
      card.powerOn();
      for (const b of c.before ?? []) {
        if (b === POWER_CYCLE) {
          card.powerOff();
          card.powerOn();
        } else card.transmit(hex(b));
      }
      const r = c.notBytes !== undefined ? card.transmit(c.notBytes as Buffer) : card.transmit(hex(c.apdu));
      t.equal(swOf(r), c.sw, `SW ${c.sw}`);
      if (!c.sw.startsWith('90')) t.equal(r.length, 2, 'a refusal carries no data');

      const tries = c.triesAfter ?? 3;
      t.equal(card.triesLeft('auth'), tries, `PIN tries ${tries}`);
      if (persisted.length) t.equal(persisted.at(-1)!.state.authPinTries, tries, 'the persisted counter agrees');

      // the card is still the card: readable, and (unless blocked) the PIN unchanged
      card.powerOff();
      card.powerOn();
      t.equal(swOf(card.transmit(hex(SELECT_JPKI))), '9000', 'JPKI AP selectable');
      t.equal(swOf(card.transmit(hex('00A4020C02000A'))), '9000');
      const head = card.transmit(hex('00B0000004'));
      t.equal(head.subarray(0, 2).toString('hex'), '3082', 'certificate header readable');
      if (tries > 0) {
        card.transmit(hex('00A4020C020018'));
        t.equal(swOf(card.transmit(hex(`0020008004${Buffer.from(PIN).toString('hex')}`))), '9000', 'the PIN is unchanged');
      }
    });
  }
});

t.test(`${VPCD_CASES.length} vpcd transport cases`, async (t) => {
  for (const c of VPCD_CASES) {
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const card = VirtualCard.fromProfile(profile());
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const accepted = new Promise<Socket>((r) => server.once('connection', r));
      const bridge = await VpcdBridge.connect(card, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
      const vpcd = await accepted;
      try {
        const decoder = new FrameDecoder();
        const got: Buffer[] = [];
        vpcd.on('data', (d: Buffer) => got.push(...decoder.push(d)));
        for (const w of c.writes) {
          vpcd.write(hex(w));
          await new Promise((r) => setTimeout(r, 5));
        }
        const deadline = Date.now() + 2000;
        while (got.length < c.answers.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50)); // and nothing more
        t.same(
          got.map((g) => (g.equals(card.atr) ? 'ATR' : g.toString('hex').toUpperCase())),
          c.answers,
          `answers: ${c.answers.join(', ')}`,
        );
      } finally {
        await bridge.close();
        vpcd.destroy();
        await new Promise((r) => server.close(r));
      }
    });
  }

  await t.test('vpcd drops the connection in the middle of a frame: the card is removed cleanly, powered off', async (t) => {
    const card = VirtualCard.fromProfile(profile());
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const bridge = await VpcdBridge.connect(card, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    const vpcd = await accepted;
    const closed = new Promise((r) => bridge.once('close', r));
    vpcd.write(hex('0001 01 000F 00A404'));
    await new Promise((r) => setTimeout(r, 20));
    t.ok(card.isPowered, 'powered on by vpcd');
    vpcd.destroy();
    await closed;
    t.notOk(card.isPowered, 'powered off when vpcd went away');
    await new Promise((r) => server.close(r));
  });
});
