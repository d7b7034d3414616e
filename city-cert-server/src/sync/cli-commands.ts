import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KonbiniError } from '@konbini/protocol';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../replica/db.js';
import { pkcs11KeyWrapper, type KeyWrapper } from '../crypto/key-wrapper.js';
import { HSM_MANIFEST, signerConfigFromHsmDir, type HsmManifest } from '../sign/hsm-store.js';
import { migrate } from '../replica/migrations.js';
import { replicaState } from '../replica/queries.js';
import { replicaCounts, syncState } from '../replica/sync-state.js';
import { applyDelta } from './delta.js';
import { parseDelta } from './delta-format.js';
import { formatRefusal } from './errors.js';
import { fullLoad } from './full-load.js';
import { cityRows, deltaRows, writeJsonLines } from './generate.js';
import { taxRollover } from './tax.js';
import { outboxStatus } from '../outbox/schema.js';

/*
 * Staff commands (`city-cert sync|status|generate`). Output for people on stderr,
 * one JSON result on stdout for scripts. Exit 0 done, 1 refused (the report says
 * which lines and fields), 2 usage.
 */

export class CommandUsageError extends Error {}

export const SYNC_USAGE = `       city-cert sync delta <file> --db <pglite dir | postgres://...> [--dry-run]
       city-cert sync full <file> --db <pglite dir | postgres://...> [--dry-run] [--seal-threads <0-8>]
       city-cert tax rollover <file> --db <...> [--retain <years, default 1>] [--year <fiscal year expected>] [--dry-run]
       city-cert status --db <pglite dir | postgres://...> [--json]
       (sync, tax and status also take --hsm <dir> [--city <code>] [--pin-env VAR]: the city's token,
        whose key wraps the replica's data key; without it, the development wrapper)
       city-cert generate --residents <N> --out <file> [--seed <n>] [--city <code>]
       city-cert generate --deltas <N> --residents <N of the city> --out <file> [--from-seq <n>] [--seed <n>]`;

function dbSpec(v: string | undefined): string {
  if (!v) throw new CommandUsageError('--db <pglite dir | postgres://...> is required');
  return /^postgres(ql)?:\/\//.test(v) ? v : resolve(v);
}

/** --hsm/--city/--pin-env: whose token wraps the replica's data key (absent: the development wrapper). */
const KEY_OPTIONS = { hsm: { type: 'string' }, city: { type: 'string' }, 'pin-env': { type: 'string', default: 'KONBINI_HSM_PIN' } } as const;

function keyWrapperOf(values: { hsm?: string; city?: string; 'pin-env'?: string }): KeyWrapper | undefined {
  if (!values.hsm) return undefined;
  let city = values.city;
  if (!city) {
    let manifest: HsmManifest | null = null;
    try {
      manifest = JSON.parse(readFileSync(join(resolve(values.hsm), HSM_MANIFEST), 'utf8')) as HsmManifest;
    } catch {
      // signerConfigFromHsmDir below reports the missing manifest with its code
    }
    const codes = Object.keys(manifest?.tokens ?? {});
    if (manifest && codes.length !== 1) throw new CommandUsageError(`--hsm holds ${codes.length} tokens: give --city <code>`);
    city = codes[0] ?? '';
  }
  return pkcs11KeyWrapper(signerConfigFromHsmDir(values.hsm, city, { pinEnv: values['pin-env'] }));
}

async function withDb<T>(spec: string, keyWrapper: KeyWrapper | undefined, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb(spec, { keyWrapper });
  try {
    try {
      // also unlocks the data key: a replica whose key the given wrapper cannot unwrap is refused here
      await migrate(db);
    } catch (err) {
      if (err instanceof KonbiniError) refused(err);
      throw err;
    }
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** A progress line on stderr: redrawn in place on a terminal, a line every few seconds otherwise. */
function progress(total: number | null): { update: (bytes: number, rows: number) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  const started = performance.now();
  let lastPrint = performance.now();
  const line = (bytes: number, rows: number) => {
    const s = (performance.now() - started) / 1000;
    const pct = total ? Math.min(100, (bytes / total) * 100) : null;
    const width = 30;
    const bar = pct === null ? '' : `[${'#'.repeat(Math.round((pct / 100) * width)).padEnd(width, '.')}] ${pct.toFixed(0).padStart(3)}% `;
    return `${bar}${rows.toLocaleString('en')} rows ${s.toFixed(1)} s (${Math.round(rows / Math.max(s, 0.001)).toLocaleString('en')} rows/s)`;
  };
  let last = { bytes: 0, rows: 0 };
  return {
    update(bytes, rows) {
      last = { bytes, rows };
      const now = performance.now();
      if (tty) process.stderr.write(`\r${line(bytes, rows)}`);
      else if (now - lastPrint > 2000) {
        lastPrint = now;
        process.stderr.write(`${line(bytes, rows)}\n`);
      }
    },
    done() {
      process.stderr.write(`${tty ? '\r' : ''}${line(total ?? last.bytes, last.rows)}\n`);
    },
  };
}

function refused(err: unknown): never {
  if (err instanceof KonbiniError) {
    process.stderr.write(`${formatRefusal(err)}\nnothing was changed.\n`);
    process.exit(1);
  }
  throw err;
}

export async function syncCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { db: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, 'seal-threads': { type: 'string' }, ...KEY_OPTIONS },
    strict: true,
  });
  const [what, file] = positionals;
  if ((what !== 'delta' && what !== 'full') || !file || positionals.length !== 2) throw new CommandUsageError('usage: sync delta|full <file> --db <...> [--dry-run]');
  // Sealing worker threads of a full load (default: 2 with 4 cores or more, else none: BENCHMARKS.md, "Sync").
  const sealThreads = values['seal-threads'] === undefined ? undefined : Number(values['seal-threads']);
  if (sealThreads !== undefined && (what !== 'full' || !/^\d$/.test(values['seal-threads']!) || sealThreads > 8)) {
    throw new CommandUsageError('--seal-threads <0-8> is for sync full only');
  }
  const spec = dbSpec(values.db);
  const dryRun = values['dry-run'];
  await withDb(spec, keyWrapperOf(values), async (db) => {
    try {
      if (what === 'delta') {
        const result = await applyDelta(db, await parseDelta(createReadStream(file)), { dryRun });
        process.stderr.write(
          `${dryRun ? 'dry run: would apply' : 'applied'} ${result.applied} change(s), ${result.alreadyApplied} already applied; sequence ${result.lastSeq}\n`,
        );
        process.stdout.write(`${JSON.stringify(result)}\n`);
      } else {
        const total = (await stat(file)).size;
        const bar = progress(total);
        let bytes = 0;
        // counts bytes as the loader pulls them (a 'data' listener would race the loader for the chunks)
        async function* counted() {
          for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
            bytes += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        }
        const result = await fullLoad(db, counted(), { dryRun, sealThreads, onProgress: (p) => bar.update(bytes, p.rows) });
        bar.done();
        process.stderr.write(
          `${dryRun ? 'dry run: would load' : 'loaded'} city ${result.cityCode}: ${result.households} households, ${result.residents} residents, ${result.cardLinks} card links, ${result.seals} seals; sequence ${result.seq}\n`,
        );
        process.stdout.write(`${JSON.stringify(result)}\n`);
      }
    } catch (err) {
      refused(err);
    }
  });
}

export async function statusCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { db: { type: 'string' }, json: { type: 'boolean', default: false }, ...KEY_OPTIONS }, strict: true });
  await withDb(dbSpec(values.db), keyWrapperOf(values), async (db) => {
    const [state, sync, counts, outbox] = await Promise.all([replicaState(db), syncState(db), replicaCounts(db), outboxStatus(db)]);
    const ageS = sync.lastSyncAt ? Math.round((Date.now() - Date.parse(sync.lastSyncAt)) / 1000) : null;
    // card link changes the centre's card directory has not taken yet (outbox/)
    const centreOutbox = { ...outbox, oldestAgeS: outbox.oldestAt ? Math.round((Date.now() - Date.parse(outbox.oldestAt)) / 1000) : null };
    const status = { cityCode: state?.cityCode ?? null, lastSeq: sync.lastSeq, lastSyncAt: sync.lastSyncAt, ageS, lastBatchId: sync.lastBatchId, fullLoadAt: sync.fullLoadAt, counts, centreOutbox };
    const h = outbox.head;
    if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
    else {
      process.stdout.write(
        [
          `city:           ${status.cityCode ?? '(empty replica)'}`,
          `sequence:       ${status.lastSeq}`,
          `last sync:      ${status.lastSyncAt ?? 'never'}${ageS === null ? '' : ` (${ageS} s ago)`}`,
          `last batch:     ${status.lastBatchId ?? '-'}`,
          `full load:      ${status.fullLoadAt ?? 'never'}`,
          `households:     ${counts.households}`,
          `residents:      ${counts.residents} (${counts.activeResidents} active)`,
          `card links:     ${counts.cardLinks}`,
          `seals:          ${counts.activeSeals} active`,
          `交付記録:       ${counts.issuanceRecords}`,
          `centre outbox:  ${outbox.pending} pending${outbox.pending ? ` (oldest ${centreOutbox.oldestAgeS} s ago)` : ''}`,
          ...(h ? [`  head:         #${h.id} seq ${h.seq} ${h.op}, ${h.attempts} attempts${h.lastError ? `, last error ${h.lastError}` : ''}, next ${h.nextAttemptAt}`] : []),
          '',
        ].join('\n'),
      );
    }
  });
}

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      residents: { type: 'string' },
      deltas: { type: 'string' },
      'from-seq': { type: 'string', default: '1' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      city: { type: 'string', default: '999997' },
    },
    strict: true,
  });
  const residents = Number(values.residents);
  if (!values.out || !Number.isInteger(residents) || residents < 1) throw new CommandUsageError('--residents <N ≥ 1> and --out <file> are required');
  const seed = Number(values.seed);
  const opts = { residents, seed, cityCode: values.city };
  const started = performance.now();
  let lines: number;
  if (values.deltas !== undefined) {
    const n = Number(values.deltas);
    const from = Number(values['from-seq']);
    if (!Number.isInteger(n) || n < 0 || !Number.isInteger(from) || from < 1) throw new CommandUsageError('--deltas <N ≥ 0> [--from-seq <n ≥ 1>]');
    lines = await writeJsonLines(values.out, deltaRows(opts, n, from));
  } else {
    lines = await writeJsonLines(values.out, cityRows(opts));
  }
  process.stderr.write(`wrote ${lines} lines to ${values.out} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

export async function taxCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { db: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, retain: { type: 'string', default: '1' }, year: { type: 'string' }, ...KEY_OPTIONS },
    strict: true,
  });
  const [what, file] = positionals;
  if (what !== 'rollover' || !file || positionals.length !== 2) throw new CommandUsageError('usage: tax rollover <file> --db <...> [--retain N] [--year Y] [--dry-run]');
  const retain = Number(values.retain);
  if (!Number.isInteger(retain) || retain < 1) throw new CommandUsageError('--retain is a whole number of years ≥ 1');
  const expectYear = values.year === undefined ? undefined : Number(values.year);
  await withDb(dbSpec(values.db), keyWrapperOf(values), async (db) => {
    try {
      const r = await taxRollover(db, createReadStream(file), { retain, dryRun: values['dry-run'], ...(expectYear !== undefined ? { expectYear } : {}) });
      const deleted = Object.entries(r.deleted).map(([y, n]) => `${n} of ${y}`).join(', ') || 'none';
      process.stderr.write(`${r.dryRun ? 'dry run: would load' : 'loaded'} ${r.loaded} tax records of ${r.fiscalYear} (replacing ${r.replaced}); deleted past retention (${r.retain} year(s)): ${deleted}\n`);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (err) {
      refused(err);
    }
  });
}
