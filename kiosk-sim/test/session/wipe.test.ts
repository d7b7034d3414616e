/**
 * DESIGN §4 step 12, §5 invariant 5 on every path out, not only after printing: the
 * kiosk's screen driven by its own state machine (no browser) against the real
 * centre and city in this process. After each session the test looks at every
 * buffer the document was ever copied into (test hook: IssuanceHooks.document →
 * DocumentBuffer.trackAllocations) and at every file under the kiosk's private
 * directory for the document's bytes (a copy the test kept as it came off the line).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { buildScreen, type ScreenServer } from '../../src/screen/server.js';
import type { DocumentBuffer } from '../../src/session/document-buffer.js';
import { cardFor, FIXTURES, startStack } from '../../../test/e2e/stack.js';
import { allFiles, filesHolding, reach, walk, watchedLine, type LineFault, type WatchedLine } from '../helpers/line.js';

const stack = await startStack();
t.teardown(() => stack.close());
const card = cardFor('ok');
const pin = card.jpki.authPin;

interface Kiosk {
  screen: ScreenServer;
  line: WatchedLine;
  docs: DocumentBuffer[];
  workDir: string;
  trayDir: string;
}

async function kiosk(t: Tap.Test, fault: LineFault | null = null, idleMs = 30_000): Promise<Kiosk> {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-wipe-'));
  const line = watchedLine(() => stack.connect(), fault);
  const docs: DocumentBuffer[] = [];
  const screen = buildScreen({
    kioskId: 'K0001',
    centreUrl: stack.centreUrl,
    centreOrigin: stack.centreOrigin,
    tls: stack.kioskTls(),
    cardsDir: join(FIXTURES, 'cards'),
    workDir: join(dir, 'kiosk'),
    trayDir: join(dir, 'tray'),
    idleMs,
    printMsPerCopy: 20,
    connect: line.connect,
    onDocument: (doc) => {
      doc.trackAllocations();
      docs.push(doc);
    },
  });
  screen.demoReader!.insert(VirtualCard.fromFile(stack.cardFile(card)));
  t.teardown(async () => {
    await screen.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { screen, line, docs, workDir: join(dir, 'kiosk'), trayDir: join(dir, 'tray') };
}

/** Every byte gone from the kiosk: buffers zeroed, nothing on its disk; paper only when printed. */
function wiped(t: Tap.Test, k: Kiosk, printed: boolean): void {
  t.equal(k.docs.length, 1, 'one document buffer was made');
  const doc = k.docs[0]!;
  const received = k.line.documents.get(doc.issuanceId);
  t.ok(received && received.length > 0, `document bytes reached the kiosk (${received?.length ?? 0})`);
  const held = doc.allocations();
  t.ok(held.length > 0, `the kiosk held them in ${held.length} buffer(s)`);
  t.ok(held.every((b) => b.every((x) => x === 0)), 'every buffer the document was ever copied into is zeroed');
  t.same(doc.heldBuffers(), [], 'and none is still referenced');
  t.same(filesHolding(k.workDir, received!), [], 'no file under the kiosk directory holds document bytes');
  t.same(allFiles(join(k.workDir, 'K0001', 'spool')), [], 'the spool is empty');
  const tray = allFiles(k.trayDir);
  if (printed) t.same(tray.map((f) => f.split('/').pop()), [`${doc.issuanceId}.pdf`], 'the paper: this issuance, once');
  else t.same(tray, [], 'no paper');
  const s = k.screen.kiosk.state;
  t.notOk(s.menu || s.choice || s.pay, 'nothing of the session left on the screen state');
}

let printedPdf: Buffer | null = null;

t.test('printed', async (t) => {
  const k = await kiosk(t);
  await walk(k.screen.kiosk, pin, 'paid');
  k.screen.demoReader!.remove();
  await reach(k.screen.kiosk, 'take');
  await k.screen.kiosk.idle();
  t.equal(k.screen.kiosk.results.length, 1);
  wiped(t, k, true);
  printedPdf = Buffer.from(k.line.documents.get(k.docs[0]!.issuanceId)!);
});

for (const [name, fault, code] of [
  ['a byte changed on the line', { kind: 'tamper' }, 'DOCUMENT_HASH_MISMATCH'],
  ['the line dies half-way through the document', { kind: 'drop' }, 'CITY_UNREACHABLE'],
] as const) {
  t.test(`${name}: ${code}, no payment asked, wiped`, async (t) => {
    const k = await kiosk(t, fault);
    await walk(k.screen.kiosk, pin, 'confirm');
    k.screen.kiosk.act({ action: 'confirm', seq: k.screen.kiosk.state.seq });
    await reach(k.screen.kiosk, 'error');
    t.equal(k.screen.kiosk.state.error?.code, code);
    await k.screen.kiosk.idle();
    t.same(k.screen.kiosk.results, [], 'nothing issued');
    wiped(t, k, false);
  });
}

t.test('another issuance\'s document, announced with the right id and hash: DOCUMENT_BINDING_MISMATCH, wiped', async (t) => {
  t.ok(printedPdf, 'the document printed before');
  const k = await kiosk(t, { kind: 'substitute', pdf: printedPdf! });
  await walk(k.screen.kiosk, pin, 'confirm');
  k.screen.kiosk.act({ action: 'confirm', seq: k.screen.kiosk.state.seq });
  await reach(k.screen.kiosk, 'error');
  t.equal(k.screen.kiosk.state.error?.code, 'DOCUMENT_BINDING_MISMATCH');
  await k.screen.kiosk.idle();
  t.same(k.screen.kiosk.results, []);
  wiped(t, k, false);
});

t.test('time-out at payment with coins in: back to start, coins back, wiped', async (t) => {
  const k = await kiosk(t, null, 1200);
  await walk(k.screen.kiosk, pin, 'pay');
  k.screen.kiosk.act({ action: 'coin', yen: 100 });
  await reach(k.screen.kiosk, 'start', 5000);
  t.equal(k.screen.kiosk.state.notice, 'timeout');
  t.equal(k.screen.kiosk.state.refunded, 100);
  await k.screen.kiosk.idle();
  wiped(t, k, false);
});

t.test('card left on the reader after paying, time-out: nothing prints, not even when it is taken later; wiped', async (t) => {
  const k = await kiosk(t, null, 1200);
  await walk(k.screen.kiosk, pin, 'paid');
  await reach(k.screen.kiosk, 'start', 5000);
  await k.screen.kiosk.idle();
  k.screen.demoReader!.remove();
  await new Promise((r) => setTimeout(r, 300));
  wiped(t, k, false);
});

t.test('card removed at payment: CARD_REMOVED, wiped', async (t) => {
  const k = await kiosk(t);
  await walk(k.screen.kiosk, pin, 'pay');
  k.screen.demoReader!.remove();
  await reach(k.screen.kiosk, 'error');
  t.equal(k.screen.kiosk.state.error?.code, 'CARD_REMOVED');
  await k.screen.kiosk.idle();
  wiped(t, k, false);
});

t.test('cancelled when told the document arrived: wiped', async (t) => {
  const k = await kiosk(t);
  await walk(k.screen.kiosk, pin, 'received');
  t.equal(k.screen.kiosk.act({ action: 'cancel', seq: k.screen.kiosk.state.seq }).ok, true);
  await reach(k.screen.kiosk, 'end-remove-card');
  await k.screen.kiosk.idle();
  wiped(t, k, false);
});
