import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlLedger } from '../../src/ledger/sql-ledger.js';
import { tokyoMonth } from '../../src/ledger/settlement.js';
import { cli, issue, pgDatabase } from './helpers.js';

// Each CLI run starts tsx and opens the database: slow on a loaded machine.
t.setTimeout(600_000);

const at = (iso: string) => new Date(iso);

/** A known month: every number below is worked out by hand from this list. */
async function seed(ledger: SqlLedger) {
  const c1 = '991015';
  const c2 = '993034';
  // 991015, May (Asia/Tokyo)
  await issue(ledger, { cityCode: c1, certType: 'resident-record', copies: 1, fee: 200, at: at('2026-04-30T15:00:00Z') }); // 5/1 00:00 JST
  await issue(ledger, { cityCode: c1, certType: 'resident-record', copies: 2, fee: 400, at: at('2026-05-10T03:00:00Z') });
  await issue(ledger, { cityCode: c1, certType: 'resident-record', copies: 3, fee: 600, printed: 2, at: at('2026-05-11T03:00:00Z') }); // jam after 2
  await issue(ledger, { cityCode: c1, certType: 'resident-record', printed: 'undelivered', at: at('2026-05-12T03:00:00Z') });
  await issue(ledger, { cityCode: c1, certType: 'seal', copies: 1, fee: 300, at: at('2026-05-13T03:00:00Z') });
  await issue(ledger, { cityCode: c1, certType: 'seal', copies: 1, fee: 300, printed: 'failed', at: at('2026-05-14T03:00:00Z') });
  // 6/1 00:00 JST: June, not May
  await issue(ledger, { cityCode: c1, certType: 'resident-record', copies: 1, fee: 200, at: at('2026-05-31T15:00:00Z') });
  // 4/30 23:59 JST: April
  await issue(ledger, { cityCode: c1, certType: 'resident-record', copies: 1, fee: 200, at: at('2026-04-30T14:59:00Z') });
  // 993034, May
  await issue(ledger, { cityCode: c2, certType: 'tax-income', copies: 2, fee: 600, at: at('2026-05-20T03:00:00Z') });
}

t.test('tokyoMonth is the Asia/Tokyo calendar month', async (t) => {
  t.same(tokyoMonth('2026-12'), { from: at('2026-11-30T15:00:00Z'), to: at('2026-12-31T15:00:00Z') });
  t.throws(() => tokyoMonth('2026-13'));
});

t.test('settlement totals against a known set of issuances', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ic-settle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'ledger');
  const ledger = await SqlLedger.open({ dataDir });
  await seed(ledger);
  const s = await ledger.settlement('2026-05', { perCopy: 115, byType: { seal: 130 } });
  t.same(s.cities.map((c) => c.cityCode), ['991015', '993034']);
  t.same(s.cities[0]!.lines, [
    { certType: 'resident-record', issuances: 3, copies: 5, fees: 1000, commissionPerCopy: 115, commission: 575, netToCity: 425, failed: 1 },
    { certType: 'seal', issuances: 1, copies: 1, fees: 300, commissionPerCopy: 130, commission: 130, netToCity: 170, failed: 1 },
  ]);
  t.same(s.cities[0]!.totals, { issuances: 4, copies: 6, fees: 1300, commission: 705, netToCity: 595, failed: 2 });
  t.same(s.cities[1]!.lines, [{ certType: 'tax-income', issuances: 1, copies: 2, fees: 600, commissionPerCopy: 115, commission: 230, netToCity: 370, failed: 0 }]);
  t.same(s.totals, { issuances: 5, copies: 8, fees: 1900, commission: 935, netToCity: 965, failed: 2 });
  t.equal(s.from, '2026-04-30T15:00:00.000Z');
  await ledger.close();

  const csv = await cli(['settle', '--month', '2026-05', '--commission', '100', '--db', dataDir]);
  t.equal(csv.code, 0, csv.err);
  t.equal(
    csv.out,
    [
      'month,city_code,cert_type,issuances,copies,fees_yen,commission_per_copy_yen,commission_yen,net_to_city_yen,failed',
      '2026-05,991015,resident-record,3,5,1000,100,500,500,1',
      '2026-05,991015,seal,1,1,300,100,100,200,1',
      '2026-05,991015,total,4,6,1300,,600,700,2',
      '2026-05,993034,tax-income,1,2,600,100,200,400,0',
      '2026-05,993034,total,1,2,600,,200,400,0',
      '2026-05,ALL,total,5,8,1900,,800,1100,2',
      '',
    ].join('\n'),
  );
  const json = await cli(['settle', '--month', '2026-06', '--format', 'json', '--commission', '100', '--db', dataDir]);
  t.equal(json.code, 0, json.err);
  const june = JSON.parse(json.out);
  t.match(june, { month: '2026-06', totals: { issuances: 1, copies: 1, fees: 200, commission: 100, netToCity: 100 } }, 'the 6/1 00:00 JST issuance is June');
  const bad = await cli(['settle', '--month', '2026-5', '--db', dataDir]);
  t.equal(bad.code, 2, 'a malformed month is a usage error');
});

t.test('the same settlement from the PostgreSQL server', async (t) => {
  const pg = await pgDatabase(t);
  if (!pg.url) return t.skip(pg.why);
  const ledger = await SqlLedger.open({ url: pg.url });
  t.teardown(() => ledger.close());
  await seed(ledger);
  const s = await ledger.settlement('2026-05', { perCopy: 115, byType: { seal: 130 } });
  t.same(s.totals, { issuances: 5, copies: 8, fees: 1900, commission: 935, netToCity: 965, failed: 2 });
  const out = await cli(['settle', '--month', '2026-04', '--format', 'json', '--commission', '0', '--db', pg.url]);
  t.match(JSON.parse(out.out), { totals: { copies: 1, fees: 200 } }, 'April: the 23:59 JST one');
});
