import t, { type Test } from 'tap';
import type { Db } from '../../src/index.js';
import { taxRollover } from '../../src/sync/tax.js';
import { testDataset } from '../helpers/dataset.js';
import { backends } from '../replica/backends.js';
import { perBackend, refusal } from './helpers.js';

const { dataset } = testDataset(new Date());
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

function record(residentId: string, fiscalYear: number, totalIncome = 3_000_000) {
  return { type: 'tax', residentId, fiscalYear, assessmentAddress: '東雲県星見市緑町一丁目2番3号', taxed: true, income: [], totalIncome, deductions: [], totalDeductions: 0,
    dependents: { general: 0, specific: 0, elderly: 0, elderlyParentsLivingTogether: 0, under16: 0 }, taxableIncome: 0,
    municipal: { perCapita: 3500, incomeLevy: 0, total: 3500 }, prefectural: { perCapita: 1500, incomeLevy: 0, total: 1500 } };
}
function taxFile(fiscalYear: number, rows: object[], opts: { count?: number; cityCode?: string } = {}): string {
  return [
    JSON.stringify({ type: 'header', format: 'konbini-tax', version: 1, cityCode: opts.cityCode ?? '999997', fiscalYear }),
    ...rows.map((r) => JSON.stringify(r)),
    JSON.stringify({ type: 'end', count: opts.count ?? rows.length }),
  ].join('\n') + '\n';
}
const years = async (db: Db) =>
  (await db.query<{ y: number; n: string }>('SELECT fiscal_year AS y, count(*)::text AS n FROM tax_records GROUP BY fiscal_year ORDER BY 1')).map((r) => [Number(r.y), Number(r.n)]);

perBackend(list, dataset, taxTests);

async function taxTests(t: Test, db: Db): Promise<void> {
  t.test('roll-over loads the year and deletes years past retention, reporting them', async (t) => {
    t.match(await taxRollover(db, taxFile(2025, [record('R0001', 2025), record('R0002', 2025), record('R0010', 2025)])), { fiscalYear: 2025, loaded: 3, deleted: {} });
    const dry = await taxRollover(db, taxFile(2026, [record('R0001', 2026), record('R0010', 2026)]), { dryRun: true });
    t.match(dry, { dryRun: true, loaded: 2, deleted: { 2025: 3 } });
    t.same(await years(db), [[2025, 3]], 'dry run: nothing changed');
    t.match(await taxRollover(db, taxFile(2026, [record('R0001', 2026), record('R0010', 2026)]), { retain: 2 }), { deleted: {} }, 'retain 2 keeps 2025');
    t.same(await years(db), [[2025, 3], [2026, 2]]);
    t.match(await taxRollover(db, taxFile(2026, [record('R0001', 2026, 1), record('R0010', 2026), record('R0050', 2026)])), { replaced: 2, loaded: 3, deleted: { 2025: 3 } }, 'the privacy default keeps only the latest');
    t.same(await years(db), [[2026, 3]]);
  });

  t.test('bad tax files: each a clear error, nothing changed', async (t) => {
    const before = await years(db);
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2026)]))), { code: 'SYNC_INPUT_INVALID', line: 2, field: '/fiscalYear' }, 'a row of the wrong year');
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027)]), { expectYear: 2028 })), { code: 'SYNC_INPUT_INVALID', field: '/fiscalYear', reason: /2028 was expected/ }, 'a file for the wrong year');
    t.match(await refusal(taxRollover(db, taxFile(2024, [record('R0001', 2024)]))), { code: 'SYNC_INPUT_INVALID', reason: /past retention/ }, 'a year older than retention');
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027), record('R9999', 2027)]))), { code: 'SYNC_UNKNOWN_RECORD', reason: /R9999/ });
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027), record('R0001', 2027)]))), { code: 'SYNC_INPUT_INVALID', reason: /twice/ });
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027)], { count: 2 }))), { code: 'SYNC_TRUNCATED' });
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027)]).slice(0, -5))), { code: 'SYNC_TRUNCATED' });
    t.match(await refusal(taxRollover(db, taxFile(2027, [{ ...record('R0001', 2027), taxed: 'yes' }]))), { code: 'SYNC_INPUT_INVALID', line: 2, field: '/taxed' });
    t.match(await refusal(taxRollover(db, taxFile(2027, [record('R0001', 2027)], { cityCode: '123455' }))), { code: 'SYNC_CITY_MISMATCH' });
    t.same(await years(db), before);
  });
}
