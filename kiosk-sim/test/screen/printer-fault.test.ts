import t from 'tap';
import { cardFor, filesUnder, startKioskEnv, type KioskEnv } from './harness.js';

let env: KioskEnv;
t.before(async () => {
  env = await startKioskEnv();
});
t.teardown(async () => {
  await env?.close();
});

const ok = cardFor('ok');

for (const [fault, code, text] of [
  ['jam', 'PRINTER_JAM', /紙詰まりのため印刷できませんでした。料金はかかりません/],
  ['out-of-paper', 'PRINTER_OUT_OF_PAPER', /用紙切れのため印刷できませんでした。料金はかかりません/],
] as const) {
  t.test(`${fault}: the resident is told, not charged, money back, document wiped`, async (t) => {
    const k = await env.open({ prefix: `printer-${fault}` });
    t.teardown(() => k.close());
    // The demo control arms the fault for the next job.
    await k.page.click(`#fault-buttons [data-fault="${fault}"]`);
    await k.page.waitForSelector(`#fault-buttons [data-fault="${fault}"][aria-pressed="true"]`);
    const fee = await k.toPay(ok.cardId, ok.jpki.authPin);
    await k.coins([500]);
    await k.tap('#kiosk [data-action="pay"]');
    await k.shows('remove-card');
    await k.remove();
    await k.shows('error');
    t.equal(await k.page.getAttribute('#kiosk .alert', 'data-code'), code);
    t.match(await k.page.textContent('#screen'), text);
    t.match(await k.page.textContent('#screen'), /500円をお返ししました/, `all coins back (fee was ${fee})`);
    await k.shot('error');
    await k.screen.kiosk.idle();
    t.same(k.screen.kiosk.results, [], 'no issuance recorded as printed');
    t.same(filesUnder(k.screen.trayDir), [], 'no paper');
    t.same(filesUnder(k.screen.spoolDir), [], 'spool file wiped');
    const held = k.screen.kiosk.lastPrintedDocument?.deref();
    t.ok(held && held.length > 0 && held.every((b) => b === 0), 'the document buffer is zeroed');
    await k.tap('#kiosk [data-action="done"]');
    await k.shows('start');
  });
}
