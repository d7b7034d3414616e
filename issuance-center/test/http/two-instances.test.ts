import t from 'tap';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { pgDatabase } from '../ledger/helpers.js';
import { cardKit } from '../auth/helpers.js';
import { startCentre, type TestCentre } from '../helpers/centre.js';

t.setTimeout(300_000);

/** One resident's whole issuance through a centre: login, request, document, printed. */
async function issueThrough(c: TestCentre, kioskName: string, kioskId: string) {
  const k = await c.kiosk(kioskName);
  const { sessionId, answer } = await k.login(c.kit, c.card, kioskId);
  if (answer?.type !== 'session.menu') throw new Error(`login: ${JSON.stringify(answer)}`);
  k.send({ type: 'issue.request', sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  const accepted = await k.message();
  const doc = await k.message();
  if (doc?.type !== 'issue.document') throw new Error(`issue: ${JSON.stringify(doc)}`);
  k.send({ type: 'issue.outcome', sessionId, issuanceId: accepted!.issuanceId, outcome: 'printed', copiesPrinted: 1 });
  const recorded = await k.message();
  k.ws.close();
  return recorded;
}

t.test('two centre instances on one PostgreSQL server write one evidence chain', async (t) => {
  const pg = await pgDatabase(t);
  if (!pg.url) return t.skip(pg.why);
  const kit = await cardKit(new Date());
  // Each instance opens the ledger itself from its configuration (ledgerDb), as `serve` does.
  const a = await startCentre({ kit, centre: { ledgerDb: { url: pg.url } } });
  t.teardown(() => a.close());
  const b = await startCentre({ kit, centre: { ledgerDb: { url: pg.url } } });
  t.teardown(() => b.close());
  // Both directories know both cards.
  await a.app.directory.linkCard({ serial: b.card.serial, cityCode: '991015', validFrom: '2000-01-01' });
  await b.app.directory.linkCard({ serial: a.card.serial, cityCode: '991015', validFrom: '2000-01-01' });
  const runs = await Promise.all([
    ...[1, 2, 3].map(() => issueThrough(a, 'kiosk-K0001', 'K0001')),
    ...[1, 2, 3].map(() => issueThrough(b, 'kiosk-K0002', 'K0002')),
  ]);
  t.same(runs.map((r) => r?.type), Array(6).fill('issue.recorded'), 'six issuances printed, three through each instance');
  const ledger = await SqlLedger.open({ url: pg.url });
  t.teardown(() => ledger.close());
  const report = await ledger.verify();
  t.ok(report.ok, JSON.stringify(report.problems));
  t.equal(report.records, 6);
  const recs = await ledger.records();
  t.same(recs.map((r) => r.seq), [1, 2, 3, 4, 5, 6], 'one chain, no gaps');
  t.same(new Set(recs.map((r) => r.kioskId)), new Set(['K0001', 'K0002']), 'from both instances');
  t.equal(await ledger.pendingCount(), 0);
});
