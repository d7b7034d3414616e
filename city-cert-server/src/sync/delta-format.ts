import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Household, Resident } from '../replica/dataset.js';
import { MAX_REPORTED, SyncRefusal, type RowError } from './errors.js';
import { canonicalJson, jsonLines, LineTooLong } from './jsonl.js';
import { checker, householdSchema, isValidDate, residentSchema } from './schemas.js';
import { checkPngField } from './png.js';

/*
 * 異動 delta batches as JSON Lines (docs/SYNC-FORMAT.md): a header, changes with
 * consecutive sequence numbers, an end record with the count. Parsing checks the
 * whole batch before anything touches the replica.
 */

export const CHANGE_KINDS = [
  'move-in', // 転入
  'birth', // 出生
  'move-out-planned', // 転出予定 (転出届, not yet moved)
  'move-out-cancelled', // 転出取消
  'move-out', // 転出 (removed from the record)
  'address-change', // 転居 (a household moves within the city)
  'death', // 死亡
  'name-change', // 氏名変更
  'household-change', // 世帯変更 (a person joins another or a new household)
  'seal-register', // 印鑑登録
  'seal-abolish', // 印鑑登録廃止
  'card-issue', // カード発行 (card link)
  'card-revoke', // カード失効
  'support-measure-set', // DV等支援措置 開始
  'support-measure-cleared', // DV等支援措置 終了
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

const date = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } as const;
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' } as const;
const serial = { type: 'string', pattern: '^[0-9a-fA-F]{1,64}$' } as const;
const name = { type: 'string', minLength: 1, maxLength: 64 } as const;

const base = { type: { const: 'change' }, seq: { type: 'integer', minimum: 1 }, kind: { type: 'string' }, notifiedOn: date } as const;
const change = (required: string[], properties: Record<string, object>) => ({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'kind', 'notifiedOn', ...required],
  properties: { ...base, ...properties },
});

const CHANGE_SCHEMAS: Record<ChangeKind, object> = {
  'move-in': change(['resident'], { resident: residentSchema, household: householdSchema }),
  birth: change(['resident'], { resident: residentSchema, household: householdSchema }),
  'move-out-planned': change(['residentId', 'effectiveOn'], { residentId: id, effectiveOn: date }),
  'move-out-cancelled': change(['residentId'], { residentId: id }),
  'move-out': change(['residentId', 'effectiveOn'], { residentId: id, effectiveOn: date }),
  'address-change': change(['householdId', 'address', 'effectiveOn'], { householdId: id, address: { type: 'string', minLength: 1, maxLength: 256 }, effectiveOn: date }),
  death: change(['residentId', 'effectiveOn'], { residentId: id, effectiveOn: date }),
  // at least one name field: checked after the schema (ajv strict mode refuses required-in-anyOf)
  'name-change': change(['residentId', 'effectiveOn'], { residentId: id, effectiveOn: date, familyName: name, givenName: name, familyNameKana: name, givenNameKana: name }),
  'household-change': change(['residentId', 'householdId', 'relationship', 'effectiveOn'], {
    residentId: id,
    householdId: id,
    relationship: { type: 'string', minLength: 1, maxLength: 32 },
    effectiveOn: date,
    household: householdSchema,
  }),
  'seal-register': change(['residentId', 'sealNumber', 'effectiveOn'], {
    residentId: id,
    sealNumber: { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$' },
    effectiveOn: date,
    imagePng: { type: 'string', maxLength: 350000, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
  }),
  'seal-abolish': change(['residentId', 'effectiveOn'], { residentId: id, effectiveOn: date }),
  'card-issue': change(['serial', 'residentId', 'validFrom'], { serial, residentId: id, validFrom: date }),
  'card-revoke': change(['serial', 'effectiveOn'], { serial, effectiveOn: date }),
  'support-measure-set': change(['residentId'], { residentId: id }),
  'support-measure-cleared': change(['residentId'], { residentId: id }),
};

const CHECKS = Object.fromEntries(Object.entries(CHANGE_SCHEMAS).map(([k, s]) => [k, checker(s)])) as Record<ChangeKind, ReturnType<typeof checker>>;

const checkHeader = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'format', 'version', 'cityCode', 'batchId'],
  properties: {
    type: { const: 'header' },
    format: { const: 'konbini-delta' },
    version: { const: 1 },
    cityCode: { type: 'string', pattern: '^[0-9]{6}$' },
    batchId: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
    createdAt: { type: 'string', maxLength: 40 },
  },
});
const checkEnd = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'count'],
  properties: { type: { const: 'end' }, count: { type: 'integer', minimum: 0 }, lastSeq: { type: 'integer', minimum: 0 } },
});

interface ChangeBase {
  seq: number;
  notifiedOn: string;
  /** Line in the file, for error reports. */
  line: number;
  /** SHA-256 of the change's canonical JSON: a re-sent change is recognised by it. */
  sha256: string;
}

export type Change = ChangeBase &
  (
    | { kind: 'move-in' | 'birth'; resident: Resident; household?: Household }
    | { kind: 'move-out-planned' | 'move-out' | 'death' | 'seal-abolish'; residentId: string; effectiveOn: string }
    | { kind: 'move-out-cancelled' | 'support-measure-set' | 'support-measure-cleared'; residentId: string }
    | { kind: 'address-change'; householdId: string; address: string; effectiveOn: string }
    | { kind: 'name-change'; residentId: string; effectiveOn: string; familyName?: string; givenName?: string; familyNameKana?: string; givenNameKana?: string }
    | { kind: 'household-change'; residentId: string; householdId: string; relationship: string; effectiveOn: string; household?: Household }
    | { kind: 'seal-register'; residentId: string; sealNumber: string; effectiveOn: string; imagePng?: string }
    | { kind: 'card-issue'; serial: string; residentId: string; validFrom: string }
    | { kind: 'card-revoke'; serial: string; effectiveOn: string }
  );

export interface DeltaBatch {
  cityCode: string;
  batchId: string;
  changes: Change[];
}

const DATE_FIELDS = ['notifiedOn', 'effectiveOn', 'validFrom'];

/**
 * Reads and checks a whole batch. Any problem refuses the batch: SYNC_TRUNCATED
 * (cut off: no end record, a half last line, or fewer changes than announced),
 * SYNC_INPUT_INVALID (rows that are not valid JSON or not a valid change, each
 * reported by line, field and reason), SYNC_GAP (sequence numbers inside the
 * batch not consecutive).
 */
export async function parseDelta(input: Readable | string | Buffer): Promise<DeltaBatch> {
  const errors: RowError[] = [];
  const fail = (e: RowError[]) => {
    if (errors.length < MAX_REPORTED) errors.push(...e.slice(0, MAX_REPORTED - errors.length));
  };
  let header: { cityCode: string; batchId: string } | null = null;
  let end: { count: number; lastSeq?: number; line: number } | null = null;
  const changes: Change[] = [];
  const state = { terminated: true };
  let lastLine = 0;
  try {
    for await (const { line, text } of jsonLines(input, state)) {
      lastLine = line;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch {
        fail([{ line, field: '', reason: 'not valid JSON' }]);
        continue;
      }
      const type = (row as { type?: unknown } | null)?.type;
      if (end) {
        fail([{ line, field: '', reason: 'row after the end record' }]);
      } else if (!header) {
        const e = checkHeader(line, row);
        if (e.length) fail(line === 1 || type === 'header' ? e : [{ line, field: '/type', reason: 'the first row must be the header' }]);
        else header = row as typeof header;
        if (!header) break; // without a header nothing else can be read sensibly
      } else if (type === 'end') {
        const e = checkEnd(line, row);
        if (e.length) fail(e);
        else end = { ...(row as { count: number; lastSeq?: number }), line };
      } else if (type === 'change') {
        const kind = (row as { kind?: unknown }).kind;
        if (typeof kind !== 'string' || !(CHANGE_KINDS as readonly string[]).includes(kind)) {
          fail([{ line, field: '/kind', reason: `must be one of ${CHANGE_KINDS.join(', ')}` }]);
          continue;
        }
        const e = CHECKS[kind as ChangeKind](line, row);
        const r = row as Record<string, unknown>;
        if (kind === 'name-change' && !e.length && !['familyName', 'givenName', 'familyNameKana', 'givenNameKana'].some((f) => f in r)) {
          e.push({ line, field: '', reason: 'a name change changes at least one name field' });
        }
        for (const f of DATE_FIELDS) if (typeof r[f] === 'string' && !isValidDate(r[f] as string)) e.push({ line, field: `/${f}`, reason: 'not a calendar date' });
        if (kind === 'seal-register' && !e.length) {
          const png = checkPngField(line, '/imagePng', r.imagePng);
          if (png) e.push(png);
        }
        if (e.length) {
          fail(e);
          continue;
        }
        const { type: _t, ...rest } = r;
        changes.push({ ...(rest as unknown as Change), line, sha256: createHash('sha256').update(canonicalJson(row)).digest('hex') });
      } else {
        fail([{ line, field: '/type', reason: 'must be header, change or end' }]);
      }
    }
  } catch (err) {
    if (err instanceof LineTooLong) fail([{ line: err.line, field: '', reason: 'line too long' }]);
    else if (err instanceof TypeError) fail([{ line: lastLine + 1, field: '', reason: 'not valid UTF-8' }]);
    else throw err;
  }
  if (!header) {
    throw errors.length ? new SyncRefusal('SYNC_INPUT_INVALID', errors) : new SyncRefusal('SYNC_TRUNCATED', [{ line: 0, field: '', reason: 'empty file' }]);
  }
  if (!state.terminated || !end) {
    const reason = !state.terminated ? 'the last line is cut off (no newline)' : 'no end record';
    throw new SyncRefusal('SYNC_TRUNCATED', [{ line: lastLine, field: '', reason }, ...errors].slice(0, MAX_REPORTED));
  }
  if (errors.length) throw new SyncRefusal('SYNC_INPUT_INVALID', errors);
  if (end.count !== changes.length) {
    throw new SyncRefusal('SYNC_TRUNCATED', [{ line: end.line, field: '/count', reason: `announces ${end.count} changes, the file holds ${changes.length}` }]);
  }
  for (let i = 1; i < changes.length; i++) {
    if (changes[i]!.seq !== changes[i - 1]!.seq + 1) {
      throw new SyncRefusal('SYNC_GAP', [{ line: changes[i]!.line, field: '/seq', reason: `expected ${changes[i - 1]!.seq + 1}, found ${changes[i]!.seq}` }], {
        expected: changes[i - 1]!.seq + 1,
        found: changes[i]!.seq,
      });
    }
  }
  if (end.lastSeq !== undefined && changes.length && end.lastSeq !== changes[changes.length - 1]!.seq) {
    throw new SyncRefusal('SYNC_TRUNCATED', [{ line: end.line, field: '/lastSeq', reason: 'does not match the last change' }]);
  }
  return { cityCode: header!.cityCode, batchId: header!.batchId, changes };
}
