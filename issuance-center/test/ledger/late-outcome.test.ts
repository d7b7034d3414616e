import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { MemoryLedger, type Ledger } from '../../src/ledger/ledger.js';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { backends } from './helpers.js';

/**
 * A kiosk's late report in the ledger: decided with the chain held, so two centre
 * instances (two pools on one PostgreSQL) taking the same report, or one taking it
 * while another closes the issuance after its grace period, end with one record
 * and one answer. The in-memory ledger answers the same way.
 */

t.setTimeout(600_000);

async function delivered(l: Ledger, kioskId = 'K0001', copies = 2): Promise<string> {
  const id = randomUUID();
  await l.begin({ issuanceId: id, cityCode: '991015', kioskId, storeId: 'S0001', certType: 'resident-record', copies, cardSerialHmac: randomBytes(32).toString('hex'), requestedAt: new Date().toISOString() });
  await l.delivered(id, randomBytes(32).toString('hex'), 200 * copies);
  return id;
}

const code = (p: Promise<unknown>) => p.then(() => 'accepted', (e: { code?: string }) => e.code);

async function rules(t: Tap, l: Ledger) {
  const at = new Date();
  const id = await delivered(l);
  t.equal(await code(l.lateOutcome!({ issuanceId: id, kioskId: 'K0002', outcome: 'printed', copiesPrinted: 1, at })), 'LATE_OUTCOME_WRONG_KIOSK');
  t.equal(await code(l.lateOutcome!({ issuanceId: id, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 3, at })), 'COPIES_OUT_OF_RANGE');
  t.equal(await code(l.lateOutcome!({ issuanceId: randomUUID(), kioskId: 'K0001', outcome: 'printed', copiesPrinted: 1, at })), 'ISSUANCE_UNKNOWN');
  const first = await l.lateOutcome!({ issuanceId: id, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 1, at });
  t.match(first, { status: 'recorded', record: { outcome: 'printed', copiesPrinted: 1, charged: 200 } }, 'one of two copies printed: charged for one');
  t.match(await l.lateOutcome!({ issuanceId: id, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 1, at }), { status: 'repeated', record: { charged: 200 } });
  t.equal(await code(l.lateOutcome!({ issuanceId: id, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 2, at })), 'LATE_OUTCOME_CONFLICT');

  const requested = randomUUID();
  await l.begin({ issuanceId: requested, cityCode: '991015', kioskId: 'K0001', storeId: 'S0001', certType: 'resident-record', copies: 1, cardSerialHmac: 'ab'.repeat(32), requestedAt: at.toISOString() });
  t.equal(await code(l.lateOutcome!({ issuanceId: requested, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 1, at })), 'MESSAGE_OUT_OF_ORDER', 'never delivered: nothing to report on');

  const gone = await delivered(l);
  await l.kioskLeft!(gone, new Date(at.getTime() - 5_000));
  const stillOpen = await delivered(l);
  await l.kioskLeft!(stillOpen, at);
  const closed = await l.closeUnreported!(2_000, at);
  t.same(closed.map((r) => r.issuanceId), [gone], 'only the one past its grace period');
  t.match(closed[0], { outcome: 'failed', charged: 0 });
  t.match(await l.lateOutcome!({ issuanceId: gone, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 2, at }), { status: 'expired', record: { outcome: 'failed', charged: 0 } });
  t.match(await l.lateOutcome!({ issuanceId: gone, kioskId: 'K0001', outcome: 'failed', copiesPrinted: 0, at }), { status: 'repeated' });
  t.match(await l.lateOutcome!({ issuanceId: stillOpen, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 2, at }), { status: 'recorded', record: { charged: 400 } });
  t.same(await l.closeUnreported!(0, new Date(at.getTime() + 60_000)), [], 'a reported one is not closed later');
}

t.test('the rules, in memory', async (t) => {
  await rules(t, new MemoryLedger());
});

t.test('the rules and two instances at once', async (t) => {
  await backends(t, async (t, cfg, name) => {
    const a = await SqlLedger.open(cfg);
    t.teardown(() => a.close());
    const b = name === 'postgres' ? await SqlLedger.open(cfg) : a;
    if (b !== a) t.teardown(() => b.close());
    await rules(t, a);

    // The same late report at two instances at once: one record, one charge, the same answer.
    for (let i = 0; i < 5; i++) {
      const id = await delivered(a);
      await a.kioskLeft(id, new Date());
      const r = { issuanceId: id, kioskId: 'K0001', outcome: 'printed' as const, copiesPrinted: 2, at: new Date() };
      const both = await Promise.all([a.lateOutcome(r), b.lateOutcome(r)]);
      t.same(both.map((x) => x.status).sort(), ['recorded', 'repeated']);
      t.same(both[0].record, both[1].record);
    }
    // A late report racing the grace sweep on another instance: one of them wins, and the answers agree.
    for (let i = 0; i < 5; i++) {
      const id = await delivered(a);
      await a.kioskLeft(id, new Date(Date.now() - 10_000));
      const [late, closed] = await Promise.all([
        b.lateOutcome({ issuanceId: id, kioskId: 'K0001', outcome: 'printed', copiesPrinted: 2, at: new Date() }),
        a.closeUnreported(1_000),
      ]);
      const rec = await a.get(id);
      if (late.status === 'recorded') {
        t.match(rec, { outcome: 'printed', charged: 400 }, 'the report first: charged');
        t.notOk(closed.some((c) => c.issuanceId === id), 'and not closed as well');
      } else {
        t.equal(late.status, 'expired', 'the sweep first: the report is too late');
        t.match(rec, { outcome: 'failed', charged: 0 });
      }
    }
    const v = await a.verify();
    t.ok(v.ok, 'one intact chain');
    const ids = (await a.records()).map((r) => r.issuanceId);
    t.equal(new Set(ids).size, ids.length, 'each issuance recorded once');
  });
});

interface Tap {
  equal(a: unknown, b: unknown, m?: string): void;
  same(a: unknown, b: unknown, m?: string): void;
  match(a: unknown, b: unknown, m?: string): void;
}
