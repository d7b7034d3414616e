import { KonbiniError, type ErrorCode } from '@konbini/protocol';

/**
 * One problem with one row of a sync file. `field` is a JSON pointer into the row
 * ('' for the row itself); `reason` names the rule broken, never the value (a value
 * may be a name or an address, and the report goes to logs and terminals).
 */
export interface RowError {
  line: number;
  field: string;
  reason: string;
}

/** A refused load or batch, with the rows to blame (at most MAX_REPORTED). */
export class SyncRefusal extends KonbiniError {
  constructor(code: ErrorCode, readonly rows: RowError[], detail: Record<string, string | number | boolean | undefined> = {}) {
    super(code, { ...detail, rows: rows.length, firstLine: rows[0]?.line, firstField: rows[0]?.field, firstReason: rows[0]?.reason });
    this.name = 'SyncRefusal';
  }

  override toBody() {
    return { ...super.toBody(), rows: this.rows };
  }
}

export const MAX_REPORTED = 100;

/** Human-readable report for a terminal: one line per row error. */
export function formatRefusal(err: KonbiniError): string {
  const rows = err instanceof SyncRefusal ? err.rows : [];
  const body = err.toBody();
  const head = `error ${err.code}: ${body.messageJa} / ${body.message}`;
  const detail = Object.entries(err.detail ?? {})
    .filter(([k, v]) => v !== undefined && !['rows', 'firstLine', 'firstField', 'firstReason'].includes(k))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const lines = rows.map((r) => `  line ${r.line}: ${r.field || '(row)'}: ${r.reason}`);
  return [detail ? `${head} (${detail})` : head, ...lines].join('\n');
}
