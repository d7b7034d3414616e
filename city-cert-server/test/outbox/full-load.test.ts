import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { CentreNotifier } from '../../src/outbox/centre-notifier.js';
import { outboxStatus } from '../../src/outbox/schema.js';
import { fullLoad } from '../../src/sync/full-load.js';
import { cityRows } from '../../src/sync/generate.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { backends } from '../replica/backends.js';
import { perBackend, refusal } from '../sync/helpers.js';
import { lgwanPki, startCentre, until } from './helpers.js';

/*
 * A full load tells the centre's card directory (issue 5): after the load commits,
 * the cards it links reach the centre through the outbox, and the cards the replica
 * linked before but the file no longer holds are removed there; a dry run or a
 * refused load sends nothing. A real centre (its city API on port 0), the real
 * delivery loop, on each storage backend.
 */

t.setTimeout(240_000);
const dir = mkdtempSync(join(tmpdir(), 'city-outbox-load-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const now = new Date();
const { dataset } = testDataset(now);
const CITY = dataset.city.code;
const pki = lgwanPki(dir, CITY);

// the same city, reloaded from the core system's extract: other residents, other cards
const rows = [...cityRows({ residents: 60, seed: 5, cityCode: CITY })] as Record<string, unknown>[];
const file = `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
const loadedCards = rows.filter((r) => r.type === 'card-link').map((r) => String(r.serial));
const before = [SERIAL.takahashi, SERIAL.yoshida];

const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

perBackend(list, dataset, async (t, db) => {
  t.ok(loadedCards.length >= 10, `${loadedCards.length} cards in the file`);
  const centre = await startCentre(pki, dataset.city, before, 0, pki.centre);
  t.teardown(() => centre.app.close());
  const notifier = new CentreNotifier(db, { url: `https://127.0.0.1:${centre.port}`, centreCert: pki.centre.cert, tls: { ...pki.city, ca: pki.ca }, pollMs: 100, backoffMs: 50, maxBackoffMs: 200 }, pino({ level: 'silent' }));
  t.teardown(() => notifier.stop());

  // nothing queued by what does not commit
  await fullLoad(db, file, { dryRun: true });
  t.match(await refusal(fullLoad(db, file.replace(/"sex":"(male|female)"/, '"sex":"x"'))), { code: 'SYNC_INPUT_INVALID', field: '/sex' });
  t.equal((await outboxStatus(db)).pending, 0, 'a dry run and a refused load queue nothing');

  const r = await fullLoad(db, file);
  t.equal(r.cardLinks, loadedCards.length);
  const queued = await outboxStatus(db);
  t.equal(queued.pending, loadedCards.length + dataset.cardLinks.length, 'one add per card in the file, one remove per card linked before and gone');
  t.match(queued.head, { op: 'remove', seq: 0 }, 'removals first');

  const started = performance.now();
  notifier.start();
  t.equal((await until(() => outboxStatus(db), (s) => s.pending === 0, 60_000)).pending, 0, 'the outbox drains');
  t.comment(`${queued.pending} card link changes delivered in ${Math.round(performance.now() - started)} ms`);
  for (const serial of before) t.equal(await centre.refusal(serial), 'CARD_NOT_LINKED', 'a card the load dropped is no longer routed to the city');
  const states = new Set(await Promise.all(loadedCards.map((s) => centre.refusal(s))));
  t.same([...states], ['CARD_LINK_NOT_YET_VALID'], 'every card of the load is linked at the centre (valid from tomorrow, the centre’s rule)');

  // reloaded with one card replaced: its removal first, then the new card, then the cards kept (already at the centre)
  const [dropped, ...kept] = loadedCards;
  const NEW_CARD = 'c0ffee0000000001';
  const reload = file.replace('"seq":0', '"seq":7').replace(`"serial":"${dropped}"`, `"serial":"${NEW_CARD}"`);
  await fullLoad(db, reload);
  const rows = await db.query<{ seq: string; op: string; serial: string }>('SELECT seq::text AS seq, op, serial FROM centre_outbox ORDER BY id');
  t.same(rows.slice(0, 2).map((r) => [r.op, r.serial]), [['remove', dropped], ['add', NEW_CARD]], 'the dropped card first, then the new one');
  t.same(rows.slice(2).map((r) => r.op + r.serial).sort(), kept.map((s) => `add${s}`).sort(), 'then every card kept, again');
  t.ok(rows.every((r) => r.seq === '7'), 'at the load\'s sequence number');
  t.equal((await until(() => outboxStatus(db), (s) => s.pending === 0, 60_000)).pending, 0, 'a reload is delivered too');
  t.equal(await centre.refusal(dropped!), 'CARD_NOT_LINKED');
  t.same([...new Set(await Promise.all([NEW_CARD, ...kept].map((s) => centre.refusal(s))))], ['CARD_LINK_NOT_YET_VALID'], 'the new card and the kept ones linked');
});
