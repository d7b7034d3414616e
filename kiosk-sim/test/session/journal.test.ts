import t from 'tap';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutcomeJournal } from '../../src/session/journal.js';
import { TrayPrinter } from '../../src/printer/printer.js';

/**
 * The kiosk's journal of outcomes the centre has not acknowledged: one file per
 * issuance, named by its id, ids and counts only; what a restart finds in it, and
 * how an entry left at "printing" (kill -9 at the printer) is settled by the
 * printer. (Its round trip to a real centre is in test/e2e/faults*.test.ts.)
 */

const dir = mkdtempSync(join(tmpdir(), 'konbini-journal-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('entries: named by the issuance id, private, ids and counts only, replaced whole, removed', async (t) => {
  const j = new OutcomeJournal(join(dir, 'a', 'journal'), 'K0001');
  const id = randomUUID();
  await j.record({ issuanceId: id, state: 'printing', copies: 2, copiesPrinted: 0 });
  t.same(readdirSync(j.dir), [`${id}.json`], 'one file, named by the issuance id only');
  t.equal(statSync(join(j.dir, `${id}.json`)).mode & 0o777, 0o600, 'readable by the kiosk only');
  t.equal(statSync(j.dir).mode & 0o777, 0o700);
  const raw = JSON.parse(readFileSync(join(j.dir, `${id}.json`), 'utf8'));
  t.same(Object.keys(raw).sort(), ['at', 'copies', 'copiesPrinted', 'issuanceId', 'kioskId', 'state'], 'nothing but ids, counts, state and time');
  await j.record({ issuanceId: id, state: 'printed', copies: 2, copiesPrinted: 2 });
  t.match(await j.pending(), [{ issuanceId: id, kioskId: 'K0001', state: 'printed', copiesPrinted: 2 }], 'replaced, not appended');
  await j.remove(id);
  t.same(await j.pending(), []);
  await j.remove(id);
  t.pass('removing twice is fine (an ack re-sent)');
  await t.rejects(j.record({ issuanceId: '../x', state: 'printing', copies: 1, copiesPrinted: 0 }), { code: 'INTERNAL' }, 'no name but an issuance id');
});

t.test('what a restart finds: half-written, foreign and broken files are no entries', async (t) => {
  const j = new OutcomeJournal(join(dir, 'b', 'journal'), 'K0001');
  const ok = randomUUID();
  await j.record({ issuanceId: ok, state: 'received', copies: 1, copiesPrinted: 0 });
  const half = randomUUID();
  writeFileSync(join(j.dir, `${half}.json.tmp`), '{"issuanceId":"');
  const other = randomUUID();
  writeFileSync(join(j.dir, `${other}.json`), JSON.stringify({ issuanceId: other, kioskId: 'K0002', state: 'printed', copies: 1, copiesPrinted: 1, at: new Date().toISOString() }));
  const broken = randomUUID();
  writeFileSync(join(j.dir, `${broken}.json`), JSON.stringify({ issuanceId: broken, kioskId: 'K0001', state: 'printed', copies: 1, copiesPrinted: 5, at: new Date().toISOString() }));
  const renamed = randomUUID();
  writeFileSync(join(j.dir, `${renamed}.json`), JSON.stringify({ issuanceId: randomUUID(), kioskId: 'K0001', state: 'printed', copies: 1, copiesPrinted: 1, at: new Date().toISOString() }));
  t.same((await j.pending()).map((e) => e.issuanceId), [ok], 'only the whole entry of this kiosk whose name is its own id');
  t.same(await new OutcomeJournal(join(dir, 'nowhere'), 'K0001').pending(), [], 'no journal yet: nothing pending');
});

t.test('the tray printer settles an interrupted job by its issuance id: sheet in the tray, or not; the spool is wiped', async (t) => {
  const spool = join(dir, 'c', 'spool');
  const tray = join(dir, 'c', 'tray');
  const printer = new TrayPrinter(spool, tray);
  const pdf = Buffer.from('%PDF-1.7 document bytes\n%%EOF\n');

  const out = randomUUID();
  await printer.print(out, pdf, 2);
  mkdirSync(spool, { recursive: true });
  writeFileSync(join(spool, `${out}.job`), pdf); // killed after the sheet came out, before the spool was wiped
  t.equal(await printer.recover(out, 2), 2, 'the sheet is in the tray: printed, all copies');
  t.notOk(existsSync(join(spool, `${out}.job`)), 'the spool copy is gone');

  const notOut = randomUUID();
  writeFileSync(join(spool, `${notOut}.job`), pdf);
  mkdirSync(tray, { recursive: true });
  writeFileSync(join(tray, `${notOut}.pdf.partial`), pdf.subarray(0, 10));
  t.equal(await printer.recover(notOut, 1), 0, 'killed mid-job: nothing whole came out');
  t.notOk(existsSync(join(spool, `${notOut}.job`)), 'spool wiped');
  t.notOk(existsSync(join(tray, `${notOut}.pdf.partial`)), 'the partial job never leaves the printer');
  t.same(readdirSync(tray), [`${out}.pdf`], "another issuance's sheet is never taken for this one");
});
