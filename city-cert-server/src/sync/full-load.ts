import type { Readable } from 'node:stream';
import { KonbiniError } from '@konbini/protocol';
import type { Db, Queryable } from '../replica/db.js';
import { markFullLoad, takeSyncLock } from '../replica/sync-state.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { availableParallelism } from 'node:os';
import { INSERT_SEALED_HOUSEHOLDS, INSERT_SEALED_RESIDENTS } from '../replica/sealed-fields.js';
import { enqueueFullLoadLinks } from '../outbox/schema.js';
import { COPY_BINARY_SQL, COPY_SQL, CopyChunk, fieldOfColumn, type ChunkFormat, type RowKind } from './load-rows.js';
import { DATE_OUT_OF_RANGE, storableDate } from './copy-binary.js';
import { inlineEncoder, workerEncoder, type ChunkEncoder } from './seal-workers.js';
import { MAX_REPORTED, SyncRefusal, type RowError } from './errors.js';
import { jsonLines, LineTooLong } from './jsonl.js';
import { cardLinkSchema, checker, householdSchema, isValidDate, residentSchema, sealSchema } from './schemas.js';
import { checkPngField } from './png.js';

/*
 * Full load (docs/SYNC-FORMAT.md, format konbini-city): the whole replica from one
 * JSON Lines file, streamed. Rows are checked one by one, sealed in chunks and
 * COPied inside ONE transaction; any bad row refuses the whole load and the
 * transaction rolls back, so issuance sees the old replica or the new one, never a
 * mix. A committed load queues its card links for the centre's card directory.
 */

export interface FullLoadCounts {
  households: number;
  residents: number;
  cardLinks: number;
  seals: number;
}

export interface FullLoadResult extends FullLoadCounts {
  cityCode: string;
  /** The core system's change sequence number the file was extracted at. */
  seq: number;
  dryRun: boolean;
  lines: number;
  /** Worker threads that sealed part of the load (0: all on the loading thread). */
  sealThreads: number;
}

export interface FullLoadProgress {
  lines: number;
  rows: number;
}

export interface FullLoadOptions {
  dryRun?: boolean;
  now?: Date;
  /** Called every `progressEvery` rows and at the end. */
  onProgress?: (p: FullLoadProgress) => void;
  progressEvery?: number;
  /** Rows per COPY (or INSERT) statement. */
  chunkRows?: number;
  /**
   * 'copy' (default): COPY FROM STDIN, on PGlite as COPY FROM '/dev/blob'.
   * 'insert': INSERT … SELECT FROM jsonb_to_recordset($1), the statements the fixtures load uses.
   */
  method?: 'copy' | 'insert';
  /** COPY's format: default the backend's (Queryable.copyFormat: binary on both; text kept to compare). */
  copyFormat?: 'text' | 'binary';
  /** Threads sealing rows besides the one reading the file (0: none); default 2 with 4 cores or more, else none. */
  sealThreads?: number;
  /** Rows into the file before those threads start (default 20,000; a small load is faster without them). */
  sealThreadsAfterRows?: number;
}

const cityCheck = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'format', 'version', 'city'],
  properties: {
    type: { const: 'header' },
    format: { const: 'konbini-city' },
    version: { const: 1 },
    seq: { type: 'integer', minimum: 0 },
    seed: { type: 'integer' },
    referenceDate: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
    createdAt: { type: 'string', maxLength: 40 },
    city: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'name', 'prefecture', 'mayorName', 'fees'],
      properties: {
        code: { type: 'string', pattern: '^[0-9]{6}$' },
        name: { type: 'string', minLength: 1, maxLength: 64 },
        prefecture: { type: 'string', minLength: 1, maxLength: 16 },
        mayorName: { type: 'string', minLength: 1, maxLength: 64 },
        fees: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        serviceHours: {
          type: 'object',
          additionalProperties: false,
          required: ['open', 'close', 'closedDays'],
          properties: {
            open: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]$' },
            close: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]$' },
            closedDays: { type: 'array', items: { type: 'string', pattern: '^[0-1][0-9]-[0-3][0-9]$' } },
          },
        },
      },
    },
  },
});
const endCheck = checker({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'counts'],
  properties: {
    type: { const: 'end' },
    counts: {
      type: 'object',
      additionalProperties: false,
      required: ['households', 'residents', 'cardLinks', 'seals'],
      properties: { households: { type: 'integer' }, residents: { type: 'integer' }, cardLinks: { type: 'integer' }, seals: { type: 'integer' } },
    },
  },
});

const CHECKS: Record<RowKind, ReturnType<typeof checker>> = {
  household: checker({ ...householdSchema, required: ['type', ...householdSchema.required], properties: { type: { const: 'household' }, ...householdSchema.properties } }),
  resident: checker({ ...residentSchema, required: ['type', ...residentSchema.required], properties: { type: { const: 'resident' }, ...residentSchema.properties } }),
  'card-link': checker({ ...cardLinkSchema, required: ['type', ...cardLinkSchema.required], properties: { type: { const: 'card-link' }, ...cardLinkSchema.properties } }),
  seal: checker({ ...sealSchema, required: ['type', ...sealSchema.required], properties: { type: { const: 'seal' }, ...sealSchema.properties } }),
};
const DATES: Record<RowKind, string[]> = {
  household: [],
  resident: ['birthDate', 'residentSince', 'addressSince', 'notifiedOn', 'removedOn'],
  'card-link': ['validFrom'],
  seal: ['registeredOn', 'abolishedOn'],
};

/** The jsonb_to_recordset INSERTs (method 'insert'): the same statements as the fixtures load. */
const INSERT: Record<RowKind, string> = {
  household: INSERT_SEALED_HOUSEHOLDS,
  resident: INSERT_SEALED_RESIDENTS,
  'card-link': `INSERT INTO card_links (serial, resident_id, valid_from)
    SELECT lower(serial), "residentId", "validFrom" FROM jsonb_to_recordset($1::jsonb) AS x(serial text, "residentId" text, "validFrom" date)`,
  seal: `INSERT INTO seal_registrations (resident_id, seal_number, image_png, status, registered_on, abolished_on)
    SELECT "residentId", "sealNumber", decode("imagePng", 'base64'), COALESCE(status, 'active'), "registeredOn", "abolishedOn"
    FROM jsonb_to_recordset($1::jsonb) AS x("residentId" text, "sealNumber" text, "imagePng" text, status text, "registeredOn" date, "abolishedOn" date)`,
};

interface FileHeader {
  city: { code: string; name: string; prefecture: string; mayorName: string; fees: Record<string, number>; serviceHours?: unknown };
  seq?: number;
  seed?: number;
  referenceDate?: string;
}

class DryRunRollback extends Error {
  constructor(readonly result: FullLoadResult) {
    super('dry run');
  }
}

/** Where in a chunk the database stopped: PostgreSQL names the COPY line (and column) in the error's context. */
interface ChunkPlace {
  kind: RowKind;
  /** File line of each row of the chunk, in order. */
  lines: number[];
}

/**
 * A database error in a chunk as a row error: the file line (and field) when the
 * error names the COPY line, else the chunk's range; the constraint and ids only.
 */
function dbRowError(err: unknown, place: ChunkPlace | null): SyncRefusal | null {
  const e = err as { code?: string; constraint?: string; where?: string };
  let line = 0;
  let field = '';
  let where = '';
  if (place?.lines.length) {
    const m = /COPY \w+, line (\d+)(?:, column (\w+))?/.exec(e.where ?? '');
    const at = m ? place.lines[Number(m[1]) - 1] : undefined;
    if (at !== undefined) {
      line = at;
      field = fieldOfColumn(place.kind, m![2]);
    } else {
      line = place.lines[0]!;
      where = ` in lines ${place.lines[0]}-${place.lines[place.lines.length - 1]}`;
    }
  }
  if (e.code === '23505') return new SyncRefusal('SYNC_INPUT_INVALID', [{ line, field, reason: `duplicate key (${e.constraint ?? 'unique'})${where}` }]);
  if (e.code === '23514') return new SyncRefusal('SYNC_INPUT_INVALID', [{ line, field, reason: `check ${e.constraint ?? ''} failed${where}` }]);
  // JSON the parser accepts but PostgreSQL cannot store (\u0000, a lone surrogate, a date out of range)
  if (e.code?.startsWith('22')) return new SyncRefusal('SYNC_INPUT_INVALID', [{ line, field, reason: `a value the database cannot store (SQLSTATE ${e.code})${where}` }]);
  if (e.code === '23503') return new SyncRefusal('SYNC_INPUT_INVALID', [{ line: 0, field: '', reason: `a row refers to a record not in the file (${e.constraint ?? 'foreign key'})` }]);
  return null;
}

/** Rows a chunk holds before it is sealed and sent (COPY or INSERT). */
const CHUNK_ROWS = 5000;
/** Sealing threads start once a load is this far: a small file is done before a thread would be ready. */
const THREADS_AFTER_ROWS = 20_000;
/** Chunks sealed or sent ahead of the database; bounds memory whatever the file size. */
const AHEAD = 4;
/**
 * Lines checked between two turns of the event loop (≈ 5 ms of work): the COPY of the
 * previous chunk only moves on (its CopyInResponse read, its bytes written as the
 * socket drains, the next COPY sent when it completes) while this thread lets the
 * loop run; otherwise the server waits idle for as long as the thread is busy.
 */
const YIELD_EVERY = 128;

/**
 * Sealing threads by default: 2 with 4 cores or more, none below. Since a resident is
 * two envelopes (replica/sealed-fields.ts), sealing is about a quarter of the main
 * thread's CPU, while the threads cost more than they take off it: each parses its
 * lines again and the chunks cross threads. Measured at 1,000,000 residents on 2
 * cores (BENCHMARKS.md, "Sync"): this process's CPU 52 s without threads, 78 s with
 * two, and the PostgreSQL server needs the second core; with cores to spare the
 * threads shorten the wall time.
 */
function defaultSealThreads(): number {
  return availableParallelism() >= 4 ? 2 : 0;
}

export async function fullLoad(db: Db, input: Readable | string | Buffer | AsyncIterable<Buffer>, options: FullLoadOptions = {}): Promise<FullLoadResult> {
  const chunkRows = options.chunkRows ?? CHUNK_ROWS;
  const every = options.progressEvery ?? 10_000;
  const threads = options.sealThreads ?? defaultSealThreads();
  const threadsAfter = options.sealThreadsAfterRows ?? THREADS_AFTER_ROWS;
  try {
    return await db.transaction(
      async (tx: Queryable) => {
        await takeSyncLock(tx);
        const cipher = cipherOf(tx);
        const method = options.method ?? (tx.copyFrom ? 'copy' : 'insert');
        if (method === 'copy' && !tx.copyFrom) throw new Error('this database cannot COPY');
        const binary = (options.copyFormat ?? tx.copyFormat ?? 'text') === 'binary';
        const format: ChunkFormat = method === 'copy' ? (binary ? 'copy-binary' : 'copy') : 'json';
        const copySql = binary ? COPY_BINARY_SQL : COPY_SQL;
        let encoder: ChunkEncoder = inlineEncoder(cipher);
        const errors: RowError[] = [];
        const fail = (e: RowError[]) => {
          if (errors.length < MAX_REPORTED) errors.push(...e.slice(0, MAX_REPORTED - errors.length));
        };
        let errorCount = 0;
        const counts: FullLoadCounts = { households: 0, residents: 0, cardLinks: 0, seals: 0 };
        // on this thread, COPY rows are sealed and encoded as they are checked (`chunk`); the sealing threads take the lines
        type Pending = { texts: string[]; rows: Record<string, unknown>[]; lines: number[]; chunk: CopyChunk | null };
        const pending: Record<RowKind, Pending> = {
          household: { texts: [], rows: [], lines: [], chunk: null },
          resident: { texts: [], rows: [], lines: [], chunk: null },
          'card-link': { texts: [], rows: [], lines: [], chunk: null },
          seal: { texts: [], rows: [], lines: [], chunk: null },
        };
        /*
         * A pipeline: the main thread checks lines; full chunks are sealed (here or in
         * the sealing threads) and written in file order, one statement at a time on
         * the transaction, while the next lines are checked. The first database error
         * stops the load; it is reported with the file line it names.
         */
        let dbError: unknown = null;
        let lastWrite: Promise<void> = Promise.resolve();
        const ahead: Promise<void>[] = [];
        const write = async (place: ChunkPlace, encoded: Promise<string | Buffer>) => {
          let data: string | Buffer;
          try {
            data = await encoded;
          } catch (err) {
            dbError ??= err;
            return;
          }
          if (dbError) return;
          try {
            if (method === 'copy') await tx.copyFrom!(copySql[place.kind], typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
            else await tx.query(INSERT[place.kind], [data]);
          } catch (err) {
            dbError ??= dbRowError(err, place) ?? err;
          }
        };
        const flush = async (kind: RowKind) => {
          const p = pending[kind];
          if (!p.texts.length) return;
          const { texts, rows, lines, chunk } = p;
          p.texts = [];
          p.rows = [];
          p.lines = [];
          p.chunk = null;
          if (errorCount) return; // the load is refused anyway: only keep checking rows
          // built here row by row, unless sealing threads started in the middle of it: then they take all its lines
          const encoded = chunk && chunk.rows === texts.length ? Promise.resolve(chunk.finish()) : encoder.encode(kind, format, texts, rows);
          encoded.catch(() => undefined); // awaited in write(), in order
          lastWrite = lastWrite.then(() => write({ kind, lines }, encoded));
          ahead.push(lastWrite);
          while (ahead.length > AHEAD) await ahead.shift();
          if (dbError) throw dbError;
        };
        let header = null as FileHeader | null;
        let end: { counts: FullLoadCounts; line: number } | null = null;
        const state = { terminated: true };
        let lines = 0;
        let rowsSeen = 0;
        let sinceYield = 0;
        try {
          try {
            for await (const { line, text } of jsonLines(input, state)) {
              lines = line;
              if (++sinceYield === YIELD_EVERY) {
                sinceYield = 0;
                await new Promise<void>((resolve) => setImmediate(resolve));
              }
              let row: Record<string, unknown>;
              try {
                row = JSON.parse(text) as Record<string, unknown>;
                if (!row || typeof row !== 'object' || Array.isArray(row)) throw new Error('not an object');
              } catch {
                errorCount++;
                fail([{ line, field: '', reason: 'not a JSON object' }]);
                continue;
              }
              if (end) {
                errorCount++;
                fail([{ line, field: '', reason: 'row after the end record' }]);
                continue;
              }
              if (!header) {
                const e = cityCheck(line, row);
                if (e.length) {
                  fail(row.type === 'header' ? e : [{ line, field: '/type', reason: 'the first row must be the header' }]);
                  throw new SyncRefusal('SYNC_INPUT_INVALID', errors);
                }
                header = row as unknown as FileHeader;
                const { city } = header!;
                // the card links the centre holds for this city now (outbox below)
                await tx.exec(`CREATE TEMP TABLE full_load_old_links ON COMMIT DROP AS SELECT serial FROM card_links WHERE revoked_on IS NULL;
                  ANALYZE full_load_old_links;`);
                await tx.exec('DELETE FROM seal_registrations; DELETE FROM card_links; DELETE FROM residents; DELETE FROM households; DELETE FROM fees; DELETE FROM city;');
                await tx.query('INSERT INTO city (code, name, prefecture, mayor_name, service_hours) VALUES ($1, $2, $3, $4, $5)', [
                  city.code, city.name, city.prefecture, city.mayorName, city.serviceHours ? JSON.stringify(city.serviceHours) : null,
                ]);
                await tx.query('INSERT INTO fees (cert_type, fee) SELECT key, value::integer FROM jsonb_each_text($1::jsonb)', [JSON.stringify(city.fees)]);
                continue;
              }
              const type = row.type;
              if (type === 'end') {
                const e = endCheck(line, row);
                if (e.length) {
                  errorCount++;
                  fail(e);
                } else end = { counts: (row as unknown as { counts: FullLoadCounts }).counts, line };
                continue;
              }
              if (type !== 'household' && type !== 'resident' && type !== 'card-link' && type !== 'seal') {
                errorCount++;
                fail([{ line, field: '/type', reason: 'must be household, resident, card-link, seal or end' }]);
                continue;
              }
              const kind = type as RowKind;
              const e = CHECKS[kind](line, row);
              for (const f of DATES[kind]) {
                const v = row[f];
                if (typeof v !== 'string') continue;
                if (!isValidDate(v)) e.push({ line, field: `/${f}`, reason: 'not a calendar date' });
                // binary COPY sends day numbers, so the server's date input no longer refuses what it cannot store: refused here, as it reported it
                else if (!storableDate(v)) e.push({ line, field: `/${f}`, reason: `a value the database cannot store (SQLSTATE ${DATE_OUT_OF_RANGE}: there is no year 0)` });
              }
              if (kind === 'seal' && !e.length) {
                const png = checkPngField(line, '/imagePng', row.imagePng);
                if (png) e.push(png);
              }
              if (e.length) {
                errorCount++;
                fail(e);
                continue;
              }
              counts[kind === 'card-link' ? 'cardLinks' : kind === 'seal' ? 'seals' : kind === 'household' ? 'households' : 'residents']++;
              rowsSeen++;
              // rows of a load already refused are only checked, never sealed
              if (!errorCount) {
                const p = pending[kind];
                p.texts.push(text);
                if (encoder.threads === 0) {
                  if (format === 'json') p.rows.push(row);
                  else (p.chunk ??= new CopyChunk(cipher, kind, format)).add(row);
                }
                p.lines.push(line);
                if (p.texts.length >= chunkRows) {
                  if (rowsSeen >= threadsAfter && threads > 0 && encoder.threads === 0) encoder = workerEncoder(cipher, threads);
                  await flush(kind);
                }
              }
              if (options.onProgress && rowsSeen % every === 0) options.onProgress({ lines, rows: rowsSeen });
            }
          } catch (err) {
            if (err instanceof LineTooLong) throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line: err.line, field: '', reason: 'line too long' }, ...errors]);
            if (err instanceof TypeError && /encoded data/i.test(err.message)) throw new SyncRefusal('SYNC_INPUT_INVALID', [{ line: lines + 1, field: '', reason: 'not valid UTF-8' }, ...errors]);
            throw err;
          }
          for (const k of Object.keys(pending) as RowKind[]) await flush(k);
          await lastWrite;
          if (dbError) throw dbError;
        } finally {
          // nothing may still be writing on the transaction when it ends
          await lastWrite.catch(() => undefined);
          await encoder.close();
        }
        options.onProgress?.({ lines, rows: rowsSeen });
        const h = header as FileHeader | null;
        if (!h) throw new SyncRefusal('SYNC_TRUNCATED', [{ line: 0, field: '', reason: 'empty file' }]);
        if (!state.terminated || !end) {
          throw new SyncRefusal('SYNC_TRUNCATED', [{ line: lines, field: '', reason: !state.terminated ? 'the last line is cut off (no newline)' : 'no end record' }, ...errors].slice(0, MAX_REPORTED));
        }
        if (errorCount) throw new SyncRefusal('SYNC_INPUT_INVALID', errors, { badRows: errorCount });
        for (const k of Object.keys(counts) as (keyof FullLoadCounts)[]) {
          if (end.counts[k] !== counts[k]) {
            throw new SyncRefusal('SYNC_TRUNCATED', [{ line: end.line, field: `/counts/${k}`, reason: `announces ${end.counts[k]}, the file holds ${counts[k]}` }]);
          }
        }
        // every household's head must be one of its residents
        const orphans = await tx.query<{ id: string }>(
          `SELECT h.id FROM households h LEFT JOIN residents r ON r.id = h.head_id AND r.household_id = h.id WHERE r.id IS NULL LIMIT 5`,
        );
        if (orphans.length) {
          throw new SyncRefusal('SYNC_INPUT_INVALID', orphans.map((o) => ({ line: 0, field: '/headId', reason: `household ${o.id}: head is not a resident of the household` })));
        }
        await tx.query(
          `INSERT INTO replica_state (id, dataset_version, dataset_seed, city_code, reference_date, loaded_at)
           VALUES (1, 1, $1, $2, $3, now())
           ON CONFLICT (id) DO UPDATE SET dataset_version = 1, dataset_seed = EXCLUDED.dataset_seed,
             city_code = EXCLUDED.city_code, reference_date = EXCLUDED.reference_date, loaded_at = EXCLUDED.loaded_at`,
          [h.seed ?? 0, h.city.code, h.referenceDate ?? null],
        );
        const seq = h.seq ?? 0;
        await markFullLoad(tx, seq, options.now ?? new Date());
        // the centre's card directory follows the replica (outbox/): same transaction, nothing lost
        await enqueueFullLoadLinks(tx, seq);
        const result: FullLoadResult = { cityCode: h.city.code, seq, dryRun: !!options.dryRun, lines, sealThreads: encoder.threads, ...counts };
        await tx.exec('SET CONSTRAINTS ALL IMMEDIATE'); // foreign keys checked here, before commit or dry-run rollback
        if (options.dryRun) throw new DryRunRollback(result);
        return result;
      },
      { isolation: 'read-committed' },
    );
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result;
    if (err instanceof KonbiniError) throw err;
    throw dbRowError(err, null) ?? err;
  }
}
