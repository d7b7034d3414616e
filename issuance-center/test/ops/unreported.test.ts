import t, { type Test } from 'tap';
import { cli, backends } from '../ledger/helpers.js';
import { CITY_CODE, startCentre, until, type KioskClient, type TestCentre } from '../helpers/centre.js';
import type { DbConfig } from '../../src/ledger/db.js';
import { operatorRecord, OpsClient } from './helpers.js';

/**
 * The operator's list of issuances closed unreported: a kiosk left holding a
 * delivered document and never reported within the grace period, so the centre
 * recorded it failed, not charged. Shown in the console, as JSON for tools and by
 * the CLI, newest first and paged; a late "printed" report after the closing marks
 * the one needing action (a sheet went out uncharged). Ids only, nothing personal.
 * On a real centre (buildApp) with its ledger in PGlite, on the PostgreSQL server,
 * and in memory.
 */

t.setTimeout(300_000);

/** Log in, order one copy, take the whole document, then lose the line: delivered, unreported. */
async function deliverAndLeave(c: TestCentre): Promise<string> {
  const k: KioskClient = await c.kiosk();
  const { sessionId } = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  let id: string | undefined;
  while (!id) {
    const m = await k.message();
    if (!m) throw new Error('closed before the document');
    if (m.type === 'error') throw new Error(`refused ${String(m.code)}`);
    if (m.type === 'issue.document') id = m.issuanceId as string;
  }
  k.ws.terminate();
  await until('the centre to see the kiosk leave', async () => c.logs.some((l) => l.issuanceId === id && l.reason === 'kiosk-disconnected'));
  return id;
}

const closedUnreported = (c: TestCentre, id: string) => until(`${id} closed after the grace period`, async () => (await c.app.ledger.get(id))?.outcome === 'failed');

const FIELDS = ['cityCode', 'closedAt', 'issuanceId', 'kioskId', 'lateCopiesPrinted', 'lateReportAt', 'needsAction'];

async function scenario(t: Test, ledgerDb: DbConfig | undefined, backend: string) {
  const alice = await operatorRecord('alice');
  const c = await startCentre({
    centre: { ...(ledgerDb ? { ledgerDb } : {}), kioskReportGraceMs: 1000, console: { listen: { host: '127.0.0.1', port: 0 }, operators: [alice] } },
  });
  let closed = false;
  const close = async () => {
    if (!closed) await c.close();
    closed = true;
  };
  t.teardown(close);
  const url = c.app.operatorConsole!.url();

  const first = await deliverAndLeave(c);
  await closedUnreported(c, first);
  const second = await deliverAndLeave(c);
  await closedUnreported(c, second);

  // One printed the ordinary way: never on the list.
  const k = await c.kiosk();
  const { sessionId } = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  const accepted = await k.message();
  t.equal((await k.message())?.type, 'issue.document');
  k.send({ type: 'issue.outcome', sessionId, issuanceId: accepted!.issuanceId, outcome: 'printed', copiesPrinted: 1 });
  t.equal((await k.message())?.type, 'issue.recorded');
  k.ws.close();

  const anon = new OpsClient(url);
  const refused = await anon.call('GET', '/api/unreported');
  t.equal(refused.status, 401, 'without a session: refused');
  t.equal(refused.body.code, 'UNAUTHENTICATED');
  t.notOk(JSON.stringify(refused.body).includes(first), 'and no issuance id in the refusal');

  const op = new OpsClient(url);
  t.equal((await op.login(alice, new Date())).status, 200);
  const list = await op.call('GET', '/api/unreported');
  t.equal(list.status, 200);
  t.match(list.body, { total: 2, needingAction: 0, limit: 50, offset: 0 }, 'two closed unreported, none needing action yet');
  t.same(list.body.items.map((x: { issuanceId: string }) => x.issuanceId), [second, first], 'newest first; the printed issuance is not listed');
  t.match(list.body.items[1], { issuanceId: first, kioskId: 'K0001', cityCode: CITY_CODE, lateReportAt: null, lateCopiesPrinted: null, needsAction: false });
  t.ok(Date.parse(list.body.items[1].closedAt) >= Date.parse(list.body.items[0].closedAt) - 60_000 && !Number.isNaN(Date.parse(list.body.items[1].closedAt)), 'with the time it was closed');

  // Paged: a count over all, one page at a time.
  const page1 = await op.call('GET', '/api/unreported?limit=1');
  t.match(page1.body, { total: 2, limit: 1, offset: 0, items: [{ issuanceId: second }] });
  t.equal(page1.body.items.length, 1);
  const page2 = await op.call('GET', '/api/unreported?limit=1&offset=1');
  t.match(page2.body, { total: 2, offset: 1, items: [{ issuanceId: first }] });
  t.same((await op.call('GET', '/api/unreported?offset=5')).body.items, [], 'past the end: an empty page');
  for (const bad of ['limit=0', 'limit=501', 'limit=abc', 'offset=-1']) {
    const r = await op.call('GET', `/api/unreported?${bad}`);
    t.equal(r.body.code, 'MESSAGE_INVALID', `${bad}: refused`);
  }

  // The kiosk comes back after the grace period saying it printed: refused, an alarm, and on the list as needing action.
  const back = await c.kiosk();
  back.send({ type: 'issue.late-outcome', issuanceId: first, outcome: 'printed', copiesPrinted: 1, at: new Date().toISOString() });
  t.match(await back.message(), { type: 'error', code: 'LATE_OUTCOME_EXPIRED', issuanceId: first });
  back.ws.close();
  const after = await op.call('GET', '/api/unreported');
  t.match(after.body, { total: 2, needingAction: 1 }, 'one needs action');
  const late = after.body.items.find((x: { issuanceId: string }) => x.issuanceId === first);
  t.match(late, { lateCopiesPrinted: 1, needsAction: true }, 'the late "printed" report, with the copies the kiosk says it printed');
  t.ok(!Number.isNaN(Date.parse(late.lateReportAt)), 'and when it came');
  t.match(after.body.items.find((x: { issuanceId: string }) => x.issuanceId === second), { lateReportAt: null, needsAction: false });
  t.match(await c.app.ledger.get(first), { outcome: 'failed', charged: 0 }, 'still not charged: the operator decides');

  // Ids only: nothing personal, nor anything that could lead back to the card or the document.
  for (const item of after.body.items) t.same(Object.keys(item).sort(), FIELDS, 'only ids, times and counts');
  const text = JSON.stringify(after.body);
  const rec = (await c.app.ledger.get(first))!;
  t.notOk(text.includes(c.card.serial), 'no card serial');
  t.notOk(text.includes(rec.cardSerialHmac), 'no card HMAC');
  t.notOk(rec.documentSha256 && text.includes(rec.documentSha256), 'no document hash');
  t.notMatch(text, /星見|東雲|[\u3040-\u30ff\u4e00-\u9fff]/, 'no name or address (no Japanese text at all)');

  const page = await (await fetch(url)).text();
  t.match(page, /未報告で終了した発行/, 'the console page has the list, Japanese first');
  t.match(page, /closed unreported/);
  t.match(await (await fetch(new URL('/console.js', url))).text(), /\/api\/unreported/, 'and fills it from the API');

  const audit = (await op.call('GET', '/api/audit?limit=500')).body.events as { actor: string; action: string; outcome: string; code?: string }[];
  t.ok(audit.some((e) => e.actor === 'anonymous' && e.action === 'unreported-view' && e.outcome === 'refused' && e.code === 'UNAUTHENTICATED'), 'the refused look is audited');

  if (!ledgerDb) return;
  // The CLI reads the same ledger (a PGlite directory only once the centre has stopped).
  await close();
  const db = 'url' in ledgerDb ? ledgerDb.url! : ledgerDb.dataDir!;
  const out = await cli(['ledger', 'unreported', '--db', db]);
  t.equal(out.code, 0, out.err);
  const lines = out.out.trim().split('\n');
  t.equal(lines.length, 3, `${backend}: two lines and the summary`);
  t.match(lines[0], new RegExp(`^closed=\\S+Z issuance=${second} kiosk=K0001 city=${CITY_CODE} late-report=none$`));
  t.match(lines[1], new RegExp(`^closed=\\S+Z issuance=${first} kiosk=K0001 city=${CITY_CODE} late-report=\\S+Z copies-printed=1 ACTION$`));
  t.equal(lines[2], 'unreported=2 needing-action=1 shown=2 offset=0');
  const json = await cli(['ledger', 'unreported', '--db', db, '--json', '--limit', '1', '--offset', '1']);
  t.equal(json.code, 0, json.err);
  t.match(JSON.parse(json.out), { total: 2, needingAction: 1, limit: 1, offset: 1, items: [{ issuanceId: first, needsAction: true, lateCopiesPrinted: 1 }] });
  t.equal((await cli(['ledger', 'unreported', '--db', db, '--limit', '0'])).code, 2, 'a bad limit: usage');
}

await backends(t, (t, cfg, name) => scenario(t, cfg, name));
t.test('in memory (a console without a ledger database)', (t) => scenario(t, undefined, 'memory'));

