import type { Readable } from 'node:stream';
import { KonbiniError } from '@konbini/protocol';
import type { Db, Queryable } from '../replica/db.js';
import { takeSyncLock } from '../replica/sync-state.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { sealTaxRecord } from '../replica/sealed-fields.js';
import { MAX_REPORTED, SyncRefusal, type RowError } from './errors.js';
import { jsonLines, LineTooLong } from './jsonl.js';
import { checker } from './schemas.js';

/*
 * 年度更新 (tax roll-over), format konbini-tax (docs/SYNC-FORMAT.md): one fiscal
 * year's tax records replace that year, and years past the retention are deleted,
 * in one transaction. The privacy assessment keeps only the latest year (retain 1).
 */

export interface TaxRolloverResult {
  fiscalYear: number;
  loaded: number;
  /** Rows of the same year replaced by this file. */
  replaced: number;
  /** Rows deleted per fiscal year past retention. */
  deleted: Record<string, number>;
  retain: number;
  dryRun: boolean;
}

const headerCheck = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'format', 'version', 'cityCode', 'fiscalYear'],
  properties: {
    type: { const: 'header' },
    format: { const: 'konbini-tax' },
    version: { const: 1 },
    cityCode: { type: 'string', pattern: '^[0-9]{6}$' },
    fiscalYear: { type: 'integer', minimum: 1989, maximum: 2200 },
  },
});
// the record's inner structure belongs to the tax-income certificate (protocol TaxRecord): the core fields are checked here
const rowCheck = checker({
  type: 'object',
  required: ['type', 'residentId', 'fiscalYear', 'taxed', 'totalIncome'],
  properties: {
    type: { const: 'tax' },
    residentId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' },
    fiscalYear: { type: 'integer' },
    taxed: { type: 'boolean' },
    totalIncome: { type: 'integer' },
  },
});
const endCheck = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'count'],
  properties: { type: { const: 'end' }, count: { type: 'integer', minimum: 0 } },
});

class DryRunRollback extends Error {
  constructor(readonly result: TaxRolloverResult) {
    super('dry run');
  }
}

export async function taxRollover(
  db: Db,
  input: Readable | string | Buffer | AsyncIterable<Buffer>,
  options: { retain?: number; expectYear?: number; dryRun?: boolean } = {},
): Promise<TaxRolloverResult> {
  const retain = options.retain ?? 1;
  if (!Number.isInteger(retain) || retain < 1) throw new RangeError('retain must be at least 1');
  // the whole file is checked before the transaction: a tax roll is small (one row per taxpayer)
  const errors: RowError[] = [];
  const fail = (e: RowError[]) => {
    if (errors.length < MAX_REPORTED) errors.push(...e.slice(0, MAX_REPORTED - errors.length));
  };
  let header: { cityCode: string; fiscalYear: number } | null = null;
  let end: { count: number; line: number } | null = null;
  const rows: string[] = [];
  const state = { terminated: true };
  let lines = 0;
  try {
    for await (const { line, text } of jsonLines(input, state)) {
      lines = line;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(text) as Record<string, unknown>;
        if (!row || typeof row !== 'object' || Array.isArray(row)) throw new Error();
      } catch {
        fail([{ line, field: '', reason: 'not a JSON object' }]);
        continue;
      }
      if (!header) {
        const e = headerCheck(line, row);
        if (e.length) throw new SyncRefusal('SYNC_INPUT_INVALID', e);
        header = row as unknown as { cityCode: string; fiscalYear: number };
        if (options.expectYear !== undefined && header.fiscalYear !== options.expectYear) {
          throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line, field: '/fiscalYear', reason: `the file is for fiscal year ${header.fiscalYear}, ${options.expectYear} was expected` }]);
        }
        continue;
      }
      if (end) {
        fail([{ line, field: '', reason: 'row after the end record' }]);
        continue;
      }
      if (row.type === 'end') {
        const e = endCheck(line, row);
        if (e.length) fail(e);
        else end = { count: row.count as number, line };
        continue;
      }
      const e = rowCheck(line, row);
      if (!e.length && row.fiscalYear !== header.fiscalYear) e.push({ line, field: '/fiscalYear', reason: `a row of another fiscal year than the file's ${header.fiscalYear}` });
      if (e.length) fail(e);
      else rows.push(text);
    }
  } catch (err) {
    if (err instanceof LineTooLong) throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line: err.line, field: '', reason: 'line too long' }]);
    throw err;
  }
  if (!header) throw new SyncRefusal(errors.length ? 'SYNC_INPUT_INVALID' : 'SYNC_TRUNCATED', errors.length ? errors : [{ line: 0, field: '', reason: 'empty file' }]);
  if (!state.terminated || !end) throw new SyncRefusal('SYNC_TRUNCATED', [{ line: lines, field: '', reason: !state.terminated ? 'the last line is cut off (no newline)' : 'no end record' }]);
  if (errors.length) throw new SyncRefusal('SYNC_INPUT_INVALID', errors);
  if (end.count !== rows.length) throw new SyncRefusal('SYNC_TRUNCATED', [{ line: end.line, field: '/count', reason: `announces ${end.count} rows, the file holds ${rows.length}` }]);
  const year = header.fiscalYear;
  const cityCode = header.cityCode;

  try {
    return await db.transaction(
      async (tx: Queryable) => {
        await takeSyncLock(tx);
        const city = await tx.query<{ code: string }>('SELECT code FROM city');
        if (city[0]?.code !== cityCode) throw new SyncRefusal('SYNC_CITY_MISMATCH', [{ line: 1, field: '/cityCode', reason: `this replica is city ${city[0]?.code ?? '(empty)'}` }]);
        const newest = await tx.query<{ y: number | null }>('SELECT max(fiscal_year) AS y FROM tax_records');
        const newestYear = newest[0]?.y === null || newest[0]?.y === undefined ? null : Number(newest[0].y);
        if (newestYear !== null && year <= newestYear - retain) {
          throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line: 1, field: '/fiscalYear', reason: `fiscal year ${year} is past retention (the replica holds ${newestYear}, keeps ${retain})` }]);
        }
        const replaced = await tx.query('DELETE FROM tax_records WHERE fiscal_year = $1 RETURNING resident_id', [year]);
        // the record is sealed (tax amounts are personal); resident and year stay in clear for the roll-over's SQL
        const cipher = cipherOf(tx);
        for (let i = 0; i < rows.length; i += 5000) {
          const sealed = rows.slice(i, i + 5000).map((text) => {
            const { type: _t, ...record } = JSON.parse(text) as { type: string; residentId: string; fiscalYear: number };
            return { residentId: record.residentId, fiscalYear: record.fiscalYear, record: sealTaxRecord(cipher, record.residentId, record.fiscalYear, record) };
          });
          await tx.query(
            `INSERT INTO tax_records (resident_id, fiscal_year, record)
             SELECT "residentId", "fiscalYear", decode(record, 'base64')
             FROM jsonb_to_recordset($1::jsonb) AS x("residentId" text, "fiscalYear" integer, record text)`,
            [JSON.stringify(sealed)],
          );
        }
        const unknown = await tx.query<{ resident_id: string }>(
          `SELECT t.resident_id FROM tax_records t LEFT JOIN residents r ON r.id = t.resident_id WHERE t.fiscal_year = $1 AND r.id IS NULL LIMIT 5`,
          [year],
        );
        if (unknown.length) {
          throw new SyncRefusal('SYNC_UNKNOWN_RECORD', unknown.map((u) => ({ line: 0, field: '/residentId', reason: `no such resident: ${u.resident_id}` })));
        }
        const keepFrom = Math.max(year, newestYear ?? year) - retain + 1;
        const gone = await tx.query<{ fiscal_year: number; n: string }>(
          `WITH d AS (DELETE FROM tax_records WHERE fiscal_year < $1 RETURNING fiscal_year)
           SELECT fiscal_year, count(*)::text AS n FROM d GROUP BY fiscal_year ORDER BY fiscal_year`,
          [keepFrom],
        );
        const result: TaxRolloverResult = {
          fiscalYear: year,
          loaded: rows.length,
          replaced: replaced.length,
          deleted: Object.fromEntries(gone.map((g) => [String(g.fiscal_year), Number(g.n)])),
          retain,
          dryRun: !!options.dryRun,
        };
        await tx.exec('SET CONSTRAINTS ALL IMMEDIATE');
        if (options.dryRun) throw new DryRunRollback(result);
        return result;
      },
      { isolation: 'read-committed' },
    );
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result;
    if (err instanceof KonbiniError) throw err;
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505') throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line: 0, field: '/residentId', reason: 'a taxpayer appears twice in the file' }]);
    throw err;
  }
}
