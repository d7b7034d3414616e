/**
 * A whole issuance through the real pcscd + vpcd (our own pcscd, under the machine-wide
 * lock of kiosk-sim/test/helpers/pcscd.ts) against the centre and city in this process:
 * the kiosk code is the same runIssuance as with the in-process reader, only the reader
 * differs. Card removal mid-session through pcscd, and the operator CLI end to end:
 * card insert / status / remove, issue --reader pcsc.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { VpcdBridge } from '../../kiosk-sim/src/card/vpcd-bridge.js';
import { TrayPrinter } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance } from '../../kiosk-sim/src/session/issuance.js';
import { openPcscReader, usePcscd, VPCD_READER } from '../../kiosk-sim/test/helpers/pcscd.js';
import { filesUnder, resident, type ResidentOptions } from '../../kiosk-sim/test/helpers/resident.js';
import { cli, cliSpawn, writeKioskConfig } from '../../kiosk-sim/test/helpers/cli.js';
import { PKI, cardFor, startStack } from './stack.js';

const env = await usePcscd();
const stack = env.skip ? null : await startStack();
t.teardown(() => stack?.close());

let n = 0;
async function attempt(o: Omit<ResidentOptions, 'pins'> & { pins?: string[] }) {
  const s = stack!;
  const card = cardFor('ok');
  const file = s.cardFile(card);
  const reader = await openPcscReader(VPCD_READER[0]);
  const bridge = await VpcdBridge.connect(VirtualCard.fromFile(file), { port: 35963, confirmWithinMs: 8000 });
  const centre = await s.connect();
  const work = join(s.tmp, `pcsc-work-${++n}`);
  const tray = join(s.tmp, `pcsc-tray-${n}`);
  const r = resident(() => bridge.close(), { pins: o.pins ?? [card.jpki.authPin], ...o });
  const started = Date.now();
  try {
    const result = await runIssuance({ kioskId: 'K0001', centreOrigin: s.centreOrigin }, reader, centre, new TrayPrinter(join(work, 'spool'), tray), r.ui);
    return { result, ms: Date.now() - started, work, tray, file, ...r };
  } catch (err) {
    return { error: err as { code?: string }, ms: Date.now() - started, work, tray, file, ...r };
  } finally {
    centre.close();
    await bridge.close();
    await reader.close();
  }
}

t.test('a 住民票 issued through pcscd + vpcd', { skip: env.skip }, async (t) => {
  const a = await attempt({});
  t.error(a.error);
  t.same(a.steps.slice(-5), ['paid', 'remove-card', 'printing', 'wiped', 'printed'], 'printed only after the card left the reader');
  t.equal(filesUnder(a.tray).length, 1, 'one sheet in the tray');
  t.same(filesUnder(a.work), [], 'nothing left in the spool');
  t.comment(`whole issuance through PC/SC: ${a.ms} ms`);
});

t.test('card pulled while the PIN is typed, through pcscd: CARD_REMOVED, nothing printed', { skip: env.skip }, async (t) => {
  const a = await attempt({ pullAt: 'pin', typingForever: true });
  t.equal(a.error?.code, 'CARD_REMOVED');
  t.ok(a.ms < 10_000, `ended without the PIN (${a.ms} ms)`);
  t.same(filesUnder(a.tray), []);
});

t.test('card pulled before the document arrived, through pcscd: aborted and wiped', { skip: env.skip }, async (t) => {
  const a = await attempt({ pullAt: 'receiving' });
  t.equal(a.error?.code, 'CARD_REMOVED');
  t.notOk(a.steps.includes('printing'));
  t.same(filesUnder(a.tray), []);
  t.same(filesUnder(a.work), []);
});

t.test('operator CLI: card insert / status / remove and issue --reader pcsc', { skip: env.skip }, async (t) => {
  const s = stack!;
  const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8'));
  const card = cardFor('ok');
  const { config } = writeKioskConfig(join(s.tmp, 'cli'), {
    centreUrl: s.centreUrl,
    centreOrigin: s.centreOrigin,
    tls: { key: join(PKI, manifest.certs['kiosk-K0001'].key), cert: join(PKI, manifest.certs['kiosk-K0001'].cert), ca: join(PKI, manifest.certs['kiosk-line-ca'].cert) },
    cards: [{ cardId: card.cardId, from: s.cardFile(card) }, { cardId: 'C9998', from: s.cardFile(card) }],
    reader: 'pcsc:Virtual PCD 00 00',
  });
  const tray = join(s.tmp, 'cli-tray');

  // 1. The operator inserts the card; the kiosk (reader from the config) takes it.
  const insert = cliSpawn(['card', 'insert', card.cardId, '--slot', '0', '--config', config]);
  t.teardown(() => insert.stop());
  await insert.waitFor(/^inserted \S+ into Virtual PCD 00 00 \(slot 0, pid \d+\)/m);
  const st = JSON.parse((await cli(['card', 'status', card.cardId, '--json', '--config', config])).out);
  t.same(st.inserted, { slot: 0, pid: insert.child.pid }, 'status shows where the card is');
  t.match((await cli(['card', 'insert', card.cardId, '--slot', '1', '--config', config])).err, /^error CARD_IN_USE: /m, 'the same card cannot go into a second slot');
  t.match((await cli(['card', 'insert', 'C9998', '--slot', '0', '--config', config])).err, /^error READER_SLOT_BUSY: /m, 'a second card into the busy slot');
  t.match((await cli(['card', 'unlock', card.cardId, '--config', config])).err, /^error CARD_IN_USE: /m, 'no unlock while inserted');

  const issue = cliSpawn(['issue', '--pin', card.jpki.authPin, '--type', 'resident-record', '--tray', tray, '--wait', '20', '--config', config]);
  t.teardown(() => issue.stop());
  await issue.waitFor(/^step remove-card$/m, 60_000);
  t.same(filesUnder(tray), [], 'nothing printed while the card is on the reader');
  const rm = await cli(['card', 'remove', card.cardId, '--config', config]);
  t.equal(rm.code, 0, rm.err);
  t.match(rm.out, /^removed \S+ from slot 0$/m);
  t.equal(await issue.exited, 0, issue.output());
  t.match(issue.output(), /^printed issuance=[0-9a-f-]{36} type=resident-record copies=1 charged=\d+$/m);
  t.equal(await insert.exited, 0, insert.output());
  t.match(insert.output(), /^removed \S+ from slot 0$/m);
  t.equal(filesUnder(tray).length, 1);

  // 2. The CLI plays the card too: issue --reader pcsc --card puts it into vpcd itself.
  const self = await cli(['issue', '--reader', 'pcsc', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'resident-record', '--tray', tray, '--config', config], 90_000);
  t.equal(self.code, 0, self.out + self.err);
  t.equal(filesUnder(tray).length, 2);

  // 3. No card arrives: a clear error after --wait.
  const none = await cli(['issue', '--pin', '1234', '--type', 'resident-record', '--tray', tray, '--wait', '2', '--config', config]);
  t.equal(none.code, 1);
  t.match(none.err, /^error CARD_NOT_PRESENT: /m);
  t.equal((await cli(['card', 'status', card.cardId, '--json', '--config', config])).code, 0);
});
