import t from 'tap';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { startCentre, until, type KioskClient, type TestCentre } from '../helpers/centre.js';

/**
 * A kiosk that lost its line (or was restarted) after the document reached it: the
 * issuance stays open for the kiosk's late report (issue.late-outcome) during the
 * grace period, is recorded and told to the city like a timely outcome, only from
 * the kiosk that received it and only once; after the grace period it is recorded
 * failed, and a late "printed" is an alarm. The pending state is in the ledger: a
 * second centre instance on the same ledger takes the report.
 */

/** Log in, order one copy, take the whole document: the centre holds it delivered. */
async function deliver(c: TestCentre, k: KioskClient): Promise<string> {
  const { sessionId } = await k.login(c.kit, c.card);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  for (;;) {
    const m = await k.message();
    if (!m) throw new Error('closed before the document');
    if (m.type === 'error') throw new Error(`refused ${String(m.code)}`);
    if (m.type === 'issue.document') return m.issuanceId as string;
  }
}

/** The line drops (no close handshake) and the centre has seen it. */
async function drop(c: TestCentre, k: KioskClient, issuanceId: string): Promise<void> {
  k.ws.terminate();
  await until('the centre to see the kiosk leave', async () => c.logs.some((l) => l.issuanceId === issuanceId && l.reason === 'kiosk-disconnected'));
}

const late = (issuanceId: string, outcome: 'printed' | 'failed', copiesPrinted: number) => ({ type: 'issue.late-outcome', issuanceId, outcome, copiesPrinted, at: new Date().toISOString() });

let ledger: SqlLedger;
let a: TestCentre;
let b: TestCentre;
t.before(async () => {
  // One ledger (PGlite) shared by two centre instances, as several instances share one PostgreSQL.
  ledger = await SqlLedger.open({});
  a = await startCentre({ centre: { ledger, kioskReportGraceMs: 120_000 } });
  b = await startCentre({ kit: a.kit, centre: { ledger, kioskReportGraceMs: 120_000 } });
});
t.teardown(async () => {
  await a.close();
  await b.close();
  await ledger.close();
});

const notices = async () => (await ledger.db.query<{ issuance_id: string }>('SELECT issuance_id FROM ledger_city_notice')).rows.map((r) => r.issuance_id);

t.test('line lost after delivery: kept open, then the late "printed" is recorded, charged once, told to the city', async (t) => {
  const k = await a.kiosk();
  const id = await deliver(a, k);
  await drop(a, k, id);
  t.match(await ledger.get(id), { outcome: 'delivered', charged: 0 }, 'not recorded failed on disconnect: open (delivered, unreported)');

  const other = await a.kiosk('kiosk-K0002');
  other.send(late(id, 'printed', 1));
  t.match(await other.message(), { type: 'error', code: 'LATE_OUTCOME_WRONG_KIOSK', issuanceId: id }, 'another kiosk cannot report it');
  t.match(await ledger.get(id), { outcome: 'delivered' }, 'nothing recorded');
  t.match(a.logs.filter((l) => l.event === 'audit' && l.code === 'LATE_OUTCOME_WRONG_KIOSK').at(-1), { kioskId: 'K0002', issuanceId: id }, 'audited');
  other.send(late(id, 'printed', 2));
  t.match(await other.message(), { code: 'LATE_OUTCOME_WRONG_KIOSK' }, 'the kiosk identity is checked first');
  other.ws.close();

  // The kiosk comes back on the other centre instance: the pending state is in the ledger.
  const outcomesBefore = b.city.calls.filter((c) => c === '/v1/outcome').length;
  const back = await b.kiosk();
  back.send(late(id, 'printed', 2));
  t.match(await back.message(), { type: 'error', code: 'COPIES_OUT_OF_RANGE', issuanceId: id }, 'more copies than ordered: refused');
  back.send(late(id, 'printed', 0));
  t.match(await back.message(), { type: 'error', code: 'COPIES_OUT_OF_RANGE' }, '"printed" with no copy: refused');
  back.send(late(id, 'printed', 11));
  t.match(await back.message(), { type: 'error', code: 'MESSAGE_INVALID' }, 'beyond any order: refused by the schema');
  t.match(await ledger.get(id), { outcome: 'delivered' }, 'still open after the bad reports');

  back.send(late(id, 'printed', 1));
  const ack = await back.message();
  t.same(ack, { type: 'issue.late-recorded', issuanceId: id, outcome: 'printed', charged: 200 }, 'recorded and acknowledged with the charge');
  t.match(await ledger.get(id), { outcome: 'printed', copiesPrinted: 1, charged: 200 });
  await until('the city to be told', async () => b.city.calls.filter((c) => c === '/v1/outcome').length > outcomesBefore && !(await notices()).includes(id));
  t.pass('the city was told and confirmed (no notice left)');

  back.send(late(id, 'printed', 1));
  t.same(await back.message(), ack, 'a re-sent report gets the same ack');
  const onA = await a.kiosk();
  onA.send(late(id, 'printed', 1));
  t.same(await onA.message(), ack, 'on either instance');
  back.send(late(id, 'failed', 0));
  t.match(await back.message(), { type: 'error', code: 'LATE_OUTCOME_CONFLICT', issuanceId: id }, 'a different outcome for it: refused');
  const rows = (await ledger.db.query<{ charged: number }>('SELECT charged FROM ledger_record WHERE issuance_id = $1', [id])).rows;
  t.same(rows, [{ charged: 200 }], 'one record, charged once');
  t.ok((await ledger.verify()).ok, 'the chain verifies');
  back.ws.close();
  onA.ws.close();
});

t.test('a late report for an unknown issuance, or during a session holding a document', async (t) => {
  const k = await a.kiosk();
  k.send(late('11111111-2222-4333-8444-555555555555', 'printed', 1));
  t.match(await k.message(), { type: 'error', code: 'ISSUANCE_UNKNOWN', issuanceId: '11111111-2222-4333-8444-555555555555' });
  const id = await deliver(a, k);
  k.send(late(id, 'printed', 1));
  t.match(await k.message(), { type: 'error', code: 'MESSAGE_OUT_OF_ORDER', issuanceId: id }, 'in a session, the outcome goes as issue.outcome');
  t.match(await ledger.get(id), { outcome: 'delivered' });
  k.ws.close();
});

t.test('a late "failed": recorded failed, not charged, acknowledged', async (t) => {
  const k = await a.kiosk();
  const id = await deliver(a, k);
  await drop(a, k, id);
  const back = await a.kiosk();
  back.send({ ...late(id, 'failed', 0), failureCode: 'PRINTER_JAM' });
  t.same(await back.message(), { type: 'issue.late-recorded', issuanceId: id, outcome: 'failed', charged: 0 });
  t.match(await ledger.get(id), { outcome: 'failed', charged: 0 });
  back.ws.close();
});

t.test('the kiosk never comes back: recorded failed after the grace period, alarm; a "printed" after that: LATE_OUTCOME_EXPIRED, alarm, never charged', async (t) => {
  const own = await SqlLedger.open({});
  const c = await startCentre({ kit: a.kit, centre: { ledger: own, kioskReportGraceMs: 1000 } });
  t.teardown(async () => {
    await c.close();
    await own.close();
  });
  const k = await c.kiosk();
  const id = await deliver(c, k);
  await drop(c, k, id);
  t.match(await own.get(id), { outcome: 'delivered' }, 'open during the grace period');
  const rec = await until('the grace period to end', async () => {
    const r = await own.get(id);
    return r?.outcome === 'failed' ? r : undefined;
  });
  t.match(rec, { outcome: 'failed', charged: 0 }, 'recorded failed, not charged');
  t.match(c.logs.find((l) => l.issuanceId === id && l.reason === 'kiosk-report-grace-expired'), { event: 'outcome', outcome: 'failed' });
  t.match(await c.app.audit.list({ action: 'issuance-closed-unreported' }), [{ actor: 'kiosk:K0001', target: id }], 'the operator sees it');
  t.match(await own.unreported(), [{ issuanceId: id, kioskId: 'K0001', lateReportAt: null }]);
  await until('the city to be told', async () => !(await own.db.query<{ n: number }>('SELECT 1 FROM ledger_city_notice WHERE issuance_id = $1', [id])).rows.length);

  const back = await c.kiosk();
  back.send(late(id, 'printed', 1));
  t.match(await back.message(), { type: 'error', code: 'LATE_OUTCOME_EXPIRED', issuanceId: id });
  t.match(c.logs.filter((l) => l.event === 'audit' && l.code === 'LATE_OUTCOME_EXPIRED').at(-1), { kioskId: 'K0001', issuanceId: id });
  t.match(c.logs.find((l) => l.event === 'alarm' && l.issuanceId === id), { reason: 'late-report-after-grace' });
  t.match(await c.app.audit.list({ action: 'late-outcome' }), [{ actor: 'kiosk:K0001', target: id, outcome: 'refused', code: 'LATE_OUTCOME_EXPIRED' }], 'an alarm for the operator');
  t.match(await own.unreported(), [{ issuanceId: id, lateCopiesPrinted: 1 }], 'the late report is kept beside the record');
  back.send(late(id, 'printed', 1));
  t.match(await back.message(), { code: 'LATE_OUTCOME_EXPIRED' }, 'the same code again');
  back.send(late(id, 'failed', 0));
  t.same(await back.message(), { type: 'issue.late-recorded', issuanceId: id, outcome: 'failed', charged: 0 }, 'a late "failed" agrees with the record: acknowledged');
  t.match(await own.get(id), { outcome: 'failed', charged: 0 }, 'never charged');
  t.equal((await own.records()).filter((r) => r.issuanceId === id).length, 1, 'recorded once');
  back.ws.close();
});

t.test('a kiosk that closes its line cleanly holding a document: kept open the same way', async (t) => {
  const k = await a.kiosk();
  const id = await deliver(a, k);
  k.ws.close();
  await until('closed', async () => a.logs.some((l) => l.issuanceId === id && l.reason === 'kiosk-disconnected'));
  const back = await a.kiosk();
  back.send(late(id, 'printed', 1));
  t.match(await back.message(), { type: 'issue.late-recorded', outcome: 'printed', charged: 200 }, 'a clean close is no different from a dropped line');
  back.ws.close();
});
