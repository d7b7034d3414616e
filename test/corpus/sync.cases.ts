/**
 * Bad 異動 delta batches (konbini-delta v1, city-cert-server/docs/SYNC-FORMAT.md)
 * posted by the core 住基 system to POST /v1/sync/delta, with the status and code
 * of the refusal. After every refusal the runner checks nothing was applied: the
 * replica's sequence number is unchanged (a dry-run heartbeat reports it) and the
 * card whose resident the batch touches is still served.
 *
 * Cases run in order against one replica. `seqBefore` is the replica's sequence
 * when the case runs: the runner applies the valid batch `prepare` first when a
 * case needs history (a re-sent sequence number).
 */
import type { ErrorCode } from '@konbini/protocol';

export interface SyncContext {
  city: string;
  /** The replica's sequence number now. */
  seq: number;
  /** The resident behind the ok fixture card, their household, and that card's serial. */
  residentId: string;
  householdId: string;
  serial: string;
  /** A resident of the replica, without a seal registration, whose record no case changes. */
  otherResidentId: string;
}

export interface SyncCase {
  name: string;
  body: (ctx: SyncContext) => string | Buffer;
  contentType?: string;
  query?: string;
  status: number;
  code: ErrorCode;
  /** Valid rows to apply before the case (they advance the sequence). */
  prepare?: (ctx: SyncContext) => object[];
  todo?: string;
}

const header = (c: SyncContext, over: Record<string, unknown> = {}) => ({ type: 'header', format: 'konbini-delta', version: 1, cityCode: c.city, batchId: `corpus-${c.seq}`, ...over });
const end = (count: number, over: Record<string, unknown> = {}) => ({ type: 'end', count, ...over });
const lines = (...rows: (object | string)[]) => `${rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`;
/** A valid change that would matter: the ok card's resident moves out. */
export const moveOut = (c: SyncContext, seq = c.seq + 1) => ({ type: 'change', seq, kind: 'move-out', notifiedOn: '2026-11-20', residentId: c.residentId, effectiveOn: '2026-11-20' });
/** A full resident row for a move-in (fictional). */
const newResident = (id: string, householdId: string) => ({
  id,
  householdId,
  familyName: '試験',
  givenName: '花子',
  familyNameKana: 'シケン',
  givenNameKana: 'ハナコ',
  birthDate: '1990-01-01',
  sex: 'female',
  relationship: '妻',
  residentSince: '2026-11-20',
  addressSince: null,
  notifiedOn: '2026-11-20',
  previousAddress: '北浜県雪野市元町一丁目1番1号',
  honseki: null,
  kosekiHead: null,
  foreign: null,
  status: 'active',
  flags: [],
});
const batch = (c: SyncContext, ...changes: object[]) => lines(header(c), ...changes, end(changes.length));

export const SYNC_CASES: SyncCase[] = [
  // --- truncated
  { name: 'an empty body', body: () => '', status: 400, code: 'SYNC_TRUNCATED' },
  { name: 'a header and nothing else', body: (c) => lines(header(c)), status: 400, code: 'SYNC_TRUNCATED' },
  { name: 'no end record', body: (c) => lines(header(c), moveOut(c)), status: 400, code: 'SYNC_TRUNCATED' },
  { name: 'the last line cut off (no newline)', body: (c) => batch(c, moveOut(c)).replace(/\n$/, '').slice(0, -3), status: 400, code: 'SYNC_TRUNCATED' },
  { name: 'the end record announces 2 changes, the file holds 1', body: (c) => lines(header(c), moveOut(c), end(2)), status: 400, code: 'SYNC_TRUNCATED' },
  { name: 'lastSeq in the end record does not match', body: (c) => lines(header(c), moveOut(c), end(1, { lastSeq: c.seq + 5 })), status: 400, code: 'SYNC_TRUNCATED' },
  // --- invalid rows
  { name: 'a line that is not JSON', body: (c) => lines(header(c), '{"type":"change","seq":', end(0)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'the first row is not the header', body: (c) => lines(moveOut(c), header(c), end(1)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a full-load header (konbini-city) on a delta', body: (c) => lines(header(c, { format: 'konbini-city' }), moveOut(c), end(1)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'format version 2', body: (c) => lines(header(c, { version: 2 }), moveOut(c), end(1)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'an unknown kind of change', body: (c) => batch(c, { ...moveOut(c), kind: 'emigrate' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: '30 February', body: (c) => batch(c, { ...moveOut(c), effectiveOn: '2026-02-30' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a date in another format', body: (c) => batch(c, { ...moveOut(c), notifiedOn: '令和8年11月20日' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a field the kind does not have', body: (c) => batch(c, { ...moveOut(c), address: '東雲県星見市' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'seq 0', body: (c) => batch(c, moveOut(c, 0)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'seq as a string', body: (c) => batch(c, { ...moveOut(c), seq: String(c.seq + 1) }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a name change that changes no name', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'name-change', notifiedOn: '2026-11-20', residentId: c.residentId, effectiveOn: '2026-11-20' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a seal image that is not base64', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'seal-register', notifiedOn: '2026-11-20', residentId: c.otherResidentId, sealNumber: 'S-1', effectiveOn: '2026-11-20', imagePng: '<svg/>' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a row after the end record', body: (c) => lines(header(c), moveOut(c), end(1), moveOut(c, c.seq + 2)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a valid change, then one bad row: none of it applies', body: (c) => lines(header(c), moveOut(c), { type: 'change', seq: c.seq + 2, kind: 'death' }, end(2)), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'bytes that are not UTF-8', body: (c) => Buffer.concat([Buffer.from(`${JSON.stringify(header(c))}\n{"type":"change","x":"`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}\n{"type":"end","count":0}\n')]), status: 400, code: 'SYNC_INPUT_INVALID' },
  { name: 'a line over 512 KiB', body: (c) => lines(header(c), { ...moveOut(c), pad: 'x'.repeat(600 * 1024) }, end(1)), status: 400, code: 'SYNC_INPUT_INVALID' },
  // --- the wrong transport shape
  { name: 'content type application/octet-stream', body: (c) => batch(c, moveOut(c)), contentType: 'application/octet-stream', status: 400, code: 'MESSAGE_INVALID' },
  { name: 'content type application/json (one JSON object, not JSON Lines)', body: (c) => JSON.stringify(header(c)), contentType: 'application/json', status: 400, code: 'MESSAGE_INVALID' },
  { name: 'content type text/plain (a valid batch, but not as JSON Lines)', body: (c) => batch(c, moveOut(c)), contentType: 'text/plain', status: 400, code: 'MESSAGE_INVALID' },
  { name: 'dryRun=maybe', body: (c) => batch(c, moveOut(c)), query: '?dryRun=maybe', status: 400, code: 'MESSAGE_INVALID' },
  // --- against the replica
  { name: 'a batch for another city', body: (c) => lines(header(c, { cityCode: c.city === '993034' ? '991015' : '993034' }), moveOut(c), end(1)), status: 400, code: 'SYNC_CITY_MISMATCH' },
  { name: 'a gap inside the batch (n+1, n+3)', body: (c) => batch(c, moveOut(c), { ...moveOut(c, c.seq + 3), residentId: c.otherResidentId }), status: 409, code: 'SYNC_GAP' },
  { name: 'the first change skips one (replica at n, batch starts at n+2)', body: (c) => batch(c, moveOut(c, c.seq + 2)), status: 409, code: 'SYNC_GAP' },
  { name: 'moving out a resident the replica does not hold', body: (c) => batch(c, { ...moveOut(c), residentId: 'R999999' }), status: 422, code: 'SYNC_UNKNOWN_RECORD' },
  { name: 'revoking a card the replica does not hold', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'card-revoke', notifiedOn: '2026-11-20', serial: 'deadbeef', effectiveOn: '2026-11-20' }), status: 422, code: 'SYNC_UNKNOWN_RECORD' },
  { name: 'linking a card that is already linked', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'card-issue', notifiedOn: '2026-11-20', serial: c.serial, residentId: c.otherResidentId, validFrom: '2026-11-21' }), status: 422, code: 'SYNC_RECORD_CONFLICT' },
  { name: 'a move-out, then a death of the same (now removed) resident', body: (c) => batch(c, moveOut(c), { type: 'change', seq: c.seq + 2, kind: 'death', notifiedOn: '2026-11-21', residentId: c.residentId, effectiveOn: '2026-11-21' }), status: 422, code: 'SYNC_RECORD_CONFLICT' },
  { name: 'a sequence number beyond 2^53 (not exact in JSON)', body: (c) => batch(c, moveOut(c, 2 ** 53 + 2)), status: 409, code: 'SYNC_GAP' },
  { name: 'a move-in into a household that exists nowhere', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'move-in', notifiedOn: '2026-11-20', resident: newResident('R900001', 'H999999') }), status: 422, code: 'SYNC_UNKNOWN_RECORD' },
  { name: 'a move-in of an id the replica already holds', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'move-in', notifiedOn: '2026-11-20', resident: newResident(c.otherResidentId, c.householdId) }), status: 422, code: 'SYNC_RECORD_CONFLICT' },
  { name: 'a move-in whose resident is not active', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'move-in', notifiedOn: '2026-11-20', resident: { ...newResident('R900002', c.householdId), status: 'deceased' } }), status: 422, code: 'SYNC_RECORD_CONFLICT' },
  { name: 'an address change to an empty address', body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'address-change', notifiedOn: '2026-11-20', householdId: c.householdId, address: '', effectiveOn: '2026-11-20' }), status: 400, code: 'SYNC_INPUT_INVALID' },
  {
    name: 'a seal registration whose 印影 is base64 but not a PNG',
    body: (c) => batch(c, { type: 'change', seq: c.seq + 1, kind: 'seal-register', notifiedOn: '2026-11-20', residentId: c.otherResidentId, sealNumber: 'S-CORPUS-1', effectiveOn: '2026-11-20', imagePng: Buffer.from('GIF89a this is not a PNG').toString('base64') }),
    status: 400,
    code: 'SYNC_INPUT_INVALID',
  },
  {
    name: 'a sequence number already applied, re-sent with other content',
    prepare: (c) => [{ type: 'change', seq: c.seq + 1, kind: 'support-measure-set', notifiedOn: '2026-11-20', residentId: c.otherResidentId }],
    // after prepare the replica is at n; re-send n as a move-out of the card's resident
    body: (c) => batch(c, moveOut(c, c.seq)),
    status: 409,
    code: 'SYNC_SEQUENCE_CONFLICT',
  },
];
