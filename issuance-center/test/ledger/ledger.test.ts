import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { backends, cli, issue } from './helpers.js';

// Each CLI run starts tsx and opens the database: slow on a loaded machine.
t.setTimeout(600_000);


t.test('one final, chained record per issuance, idempotent by issuance id', async (t) => {
  await backends(t, async (t, cfg) => {
    const ledger = await SqlLedger.open(cfg);
    t.teardown(() => ledger.close());
    const id = randomUUID();
    const hmac = randomBytes(32).toString('hex');
    await ledger.begin({ issuanceId: id, cityCode: '991015', kioskId: 'K0001', storeId: 'S0001', certType: 'seal', copies: 2, cardSerialHmac: hmac, requestedAt: '2026-06-01T01:00:00.000Z' });
    t.equal((await ledger.get(id))?.outcome, 'requested', 'in flight');
    await t.rejects(
      ledger.begin({ issuanceId: id, cityCode: '991015', kioskId: 'K0001', storeId: 'S0001', certType: 'seal', copies: 2, cardSerialHmac: hmac, requestedAt: '2026-06-01T01:00:00.000Z' }),
      { code: 'INTERNAL' },
      'an issuance id is used once',
    );
    await ledger.delivered(id, 'ab'.repeat(32), 600, new Date('2026-06-01T01:00:05.000Z'));
    const rec = await ledger.outcome(id, 'printed', 1, new Date('2026-06-01T01:01:00.000Z'));
    t.match(rec, {
      seq: 1,
      issuanceId: id,
      cityCode: '991015',
      kioskId: 'K0001',
      storeId: 'S0001',
      certType: 'seal',
      copies: 2,
      copiesPrinted: 1,
      fee: 600,
      charged: 300,
      documentSha256: 'ab'.repeat(32),
      cardSerialHmac: hmac,
      outcome: 'printed',
      requestedAt: '2026-06-01T01:00:00.000Z',
      deliveredAt: '2026-06-01T01:00:05.000Z',
      outcomeAt: '2026-06-01T01:01:00.000Z',
      prevHash: '0'.repeat(64),
    });
    t.match(rec.hash, /^[0-9a-f]{64}$/);
    const again = await ledger.outcome(id, 'printed', 2, new Date('2026-06-01T02:00:00.000Z'));
    t.same(again, rec, 'a repeated outcome returns the first record unchanged: never charged twice');
    t.same((await ledger.head()).seq, 1, 'and appends nothing');
    const failed = await issue(ledger, { printed: 'undelivered' });
    const f = (await ledger.get(failed))!;
    t.match(f, { outcome: 'failed', copiesPrinted: 0, charged: 0, documentSha256: null });
    await t.rejects(ledger.outcome(randomUUID(), 'printed', 1, new Date()), { code: 'ISSUANCE_UNKNOWN' });
    t.same((await ledger.verify()).ok, true);
    const cols = (await ledger.db.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger_record' ORDER BY ordinal_position`)).rows.map((r) => r.column_name);
    t.same(
      cols,
      ['seq', 'issuance_id', 'city_code', 'kiosk_id', 'store_id', 'cert_type', 'copies', 'copies_printed', 'fee', 'charged', 'document_sha256', 'card_serial_hmac', 'outcome', 'requested_at', 'delivered_at', 'outcome_at', 'recorded_at', 'prev_hash', 'hash'],
      'ids, amounts, hashes and times only: no personal data, no card serial',
    );
  });
});

t.test('ledger verify finds an edited record and a deleted one (API and CLI)', async (t) => {
  await backends(t, async (t, cfg, name) => {
    let ledger = await SqlLedger.open(cfg);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await issue(ledger, { copies: 1 + (i % 3) }));
    t.same(await ledger.verify(), { ok: true, records: 5, head: await ledger.head(), problems: [] });
    const db = cfg.url ? ['--db', cfg.url] : ['--db', cfg.dataDir!];
    // PGlite: one process at a time on a data directory.
    if (name === 'pglite') await ledger.close();
    const clean = await cli(['ledger', 'verify', ...db]);
    t.equal(clean.code, 0, clean.err);
    t.match(clean.out, /^ok records=5 head=5:[0-9a-f]{64} pending=0$/m);
    if (name === 'pglite') ledger = await SqlLedger.open(cfg);

    // An edited record: someone lowers a fee.
    await ledger.db.query('UPDATE ledger_record SET charged = 0 WHERE seq = 2');
    let report = await ledger.verify();
    t.same(report.problems, [{ seq: 2, issuanceId: ids[1], problem: 'hash-mismatch' }], 'the edited record');
    // Edited, and its hash recomputed to match: the next record's link gives it away.
    const { recordHash } = await import('../../src/ledger/chain.js');
    const [edited] = (await ledger.records()).filter((r) => r.seq === 2);
    await ledger.db.query('UPDATE ledger_record SET hash = $1 WHERE seq = 2', [recordHash(edited!)]);
    report = await ledger.verify();
    t.same(report.problems, [{ seq: 3, issuanceId: ids[2], problem: 'prev-hash-mismatch' }], 'rehashed edit: the chain breaks at the next record');
    if (name === 'pglite') await ledger.close();
    const editedCli = await cli(['ledger', 'verify', ...db]);
    t.equal(editedCli.code, 1);
    t.match(editedCli.out, new RegExp(`^prev-hash-mismatch seq=3 issuance=${ids[2]}$`, 'm'));
    t.match(editedCli.out, /^FAILED records=5 problems=1/m);
    if (name === 'pglite') ledger = await SqlLedger.open(cfg);

    // Deleted records: one from the middle, and the last one.
    await ledger.db.query('DELETE FROM ledger_record WHERE seq IN (2, 3)');
    await ledger.db.query('DELETE FROM ledger_record WHERE seq = 5');
    report = await ledger.verify();
    t.same(
      report.problems.map((p) => `${p.problem}@${p.seq}`),
      ['missing@2', 'missing@3', 'missing@5'],
      'the gap in the middle and the missing last record',
    );
    await ledger.close();
    const deletedCli = await cli(['ledger', 'verify', ...db]);
    t.equal(deletedCli.code, 1);
    t.match(deletedCli.out, /^missing seq=2$/m);
    t.match(deletedCli.out, /^missing seq=5$/m);
  });
});
