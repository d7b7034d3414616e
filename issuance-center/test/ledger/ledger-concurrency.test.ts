import t from 'tap';
import { randomUUID } from 'node:crypto';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { backends, issue } from './helpers.js';

t.setTimeout(600_000);

t.test('concurrent appends keep one chain; on PostgreSQL from two centre instances', async (t) => {
  await backends(t, async (t, cfg, name) => {
    const a = await SqlLedger.open(cfg);
    t.teardown(() => a.close());
    // Two instances: two connection pools to one server, as two centre processes have.
    const b = name === 'postgres' ? await SqlLedger.open(cfg) : a;
    if (b !== a) t.teardown(() => b.close());
    const n = 40;
    await Promise.all(Array.from({ length: n }, (_, i) => issue(i % 2 ? a : b, { kioskId: i % 2 ? 'K0001' : 'K0002' })));
    const report = await a.verify();
    t.equal(report.records, n);
    t.ok(report.ok, JSON.stringify(report.problems.slice(0, 3)));
    t.same((await a.records()).map((r) => r.seq), Array.from({ length: n }, (_, i) => i + 1), 'seq 1..n without gaps');
    // The same outcome reported to both instances at once: one record.
    const id = randomUUID();
    await a.begin({ issuanceId: id, cityCode: '991015', kioskId: 'K0001', storeId: 'S0001', certType: 'resident-record', copies: 1, cardSerialHmac: 'cd'.repeat(32), requestedAt: new Date().toISOString() });
    await a.delivered(id, 'ef'.repeat(32), 300);
    const [r1, r2] = await Promise.all([a.outcome(id, 'printed', 1, new Date()), b.outcome(id, 'printed', 1, new Date())]);
    t.same(r1, r2, 'both instances return the one record');
    t.equal((await a.verify()).records, n + 1);
  });
});
