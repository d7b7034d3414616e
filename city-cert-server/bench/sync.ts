/*
 * Sync benchmark (issue 5): full load of a generated city and one batch of deltas,
 * on a PostgreSQL server and on PGlite. Not a test: prints numbers.
 *
 *   node --import tsx --conditions=konbini-source city-cert-server/bench/sync.ts \
 *     [--residents 100000,1000000] [--deltas 10000] [--backends postgres,pglite] [--pg postgres://postgres@127.0.0.1:5432/postgres] [--with-dry-run]
 *     [--encryption on,off] [--issuance-reads 2000] [--method copy,insert] [--seal-threads 2] [--copy-format text,binary]
 *
 * --method: how the full load writes rows (COPY, the default, or the jsonb_to_recordset
 * INSERTs); --seal-threads: sealing worker threads (default: fullLoad's, 2 with 4 cores
 * or more, else none; 0 = seal on the main thread); --copy-format: COPY's text or binary
 * format (default: the backend's, binary on both). The load's line also gives this
 * process's CPU time (main thread and sealing threads), which a busy machine changes
 * less than the wall time.
 *
 * --encryption off replaces the AES-256-GCM field cipher by one that stores the
 * plaintext bytes in the same bytea columns through the same SQL: the difference is
 * the cost of sealing and opening (issue 5 item 7). Never a server option.
 * After the deltas, --issuance-reads N residents are read as issuance reads them
 * (resident by id, household and members, 住民票 model built) and timed per resident.
 *
 * Files and PGlite data directories go to var/bench/ (git-ignored); the PostgreSQL
 * database is created with a random name and dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cityOf, householdOfResident, migrate, openDb, openPgliteDb, replicaCounts, residentById, type Db } from '../src/index.js';
import { FieldCipher } from '../src/crypto/field-cipher.js';
import { residentRecordModel } from '../src/issuance/model.js';
import { applyDelta } from '../src/sync/delta.js';
import { parseDelta } from '../src/sync/delta-format.js';
import { fullLoad } from '../src/sync/full-load.js';
import { cityRows, deltaRows, writeJsonLines } from '../src/sync/generate.js';

const { values } = parseArgs({
  options: {
    residents: { type: 'string', default: '100000' },
    deltas: { type: 'string', default: '10000' },
    backends: { type: 'string', default: 'postgres,pglite' },
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: 'var/bench' },
    'with-dry-run': { type: 'boolean', default: false },
    encryption: { type: 'string', default: 'on' },
    'issuance-reads': { type: 'string', default: '2000' },
    method: { type: 'string', default: 'copy' },
    'seal-threads': { type: 'string' },
    'copy-format': { type: 'string' },
  },
});

/** Same envelope-free bytes through the same SQL: the baseline without AES-GCM. */
class PlaintextCipher extends FieldCipher {
  constructor() {
    super(Buffer.alloc(32));
  }
  override seal(_t: string, _c: string, _r: string, plain: Buffer): Buffer {
    return plain;
  }
  override open(_t: string, _c: string, _r: string, stored: Buffer): Buffer {
    return stored;
  }
}

/**
 * CPU time (ms) of the PostgreSQL server processes serving this database (same machine:
 * /proc), or null on PGlite (it runs inside this process, counted in its CPU).
 */
async function serverCpuMs(db: Db, backend: string): Promise<number | null> {
  if (backend !== 'postgres') return null;
  const pids = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
  let ticks = 0;
  for (const { pid } of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      /* ended meanwhile */
    }
  }
  return ticks * 10; // USER_HZ = 100
}

/** Issuance reads of `n` residents spread over the city: ms per resident. */
async function issuanceReads(db: Db, residents: number, n: number): Promise<{ perResidentMs: number; readMs: number; modelMs: number }> {
  const city = (await cityOf(db))!;
  let readMs = 0;
  let modelMs = 0;
  let done = 0;
  for (let i = 0; i < n; i++) {
    const id = `R${String(1 + Math.floor((i * 7919) % residents)).padStart(8, '0')}`;
    const t0 = performance.now();
    const holder = await residentById(db, id);
    if (!holder) continue;
    const view = (await householdOfResident(db, holder))!;
    const t1 = performance.now();
    residentRecordModel({
      city,
      issuanceId: '00000000-0000-4000-8000-0000000000aa',
      issuedAt: new Date(),
      copies: 1,
      holder,
      view,
      options: { scope: 'household', includeRelationship: true },
    } as Parameters<typeof residentRecordModel>[0]);
    readMs += t1 - t0;
    modelMs += performance.now() - t1;
    done++;
  }
  return { perResidentMs: (readMs + modelMs) / done, readMs: readMs / done, modelMs: modelMs / done };
}
const out = resolve(values.out!);
mkdirSync(out, { recursive: true });
const sizes = values.residents!.split(',').map(Number);
const nDeltas = Number(values.deltas);
const seed = 11;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: values.pg });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const ms = (t: number) => Math.round(performance.now() - t);
const rows: string[] = [];
const report = (line: string) => {
  rows.push(line);
  process.stdout.write(`${line}\n`);
};

for (const n of sizes) {
  const cityFile = `${out}/city-${n}.jsonl`;
  const deltaFile = `${out}/deltas-${n}-${nDeltas}.jsonl`;
  let t = performance.now();
  await writeJsonLines(cityFile, cityRows({ residents: n, seed }));
  report(`generate ${n} residents: ${ms(t)} ms, ${(statSync(cityFile).size / 1e6).toFixed(1)} MB`);
  t = performance.now();
  await writeJsonLines(deltaFile, deltaRows({ residents: n, seed }, nDeltas, 1));
  report(`generate ${nDeltas} deltas: ${ms(t)} ms`);

  const copyFormats = (values['copy-format']?.split(',') ?? [undefined]) as ('text' | 'binary' | undefined)[];
  for (const backend of values.backends!.split(',')) for (const encryption of values.encryption!.split(',')) for (const method of values.method!.split(',') as ('copy' | 'insert')[]) for (const copyFormat of copyFormats) {
    const sealThreads = values['seal-threads'] === undefined ? undefined : Number(values['seal-threads']);
    const label = `${backend} encryption=${encryption} method=${method}${copyFormat ? ` copy-format=${copyFormat}` : ''}${sealThreads === undefined ? '' : ` seal-threads=${sealThreads}`}`;
    let db: Db;
    let cleanup: () => Promise<void>;
    let t0 = performance.now();
    if (backend === 'postgres') {
      const name = `konbini_bench_${randomBytes(4).toString('hex')}`;
      await admin(`CREATE DATABASE ${name}`);
      db = await openDb(values.pg!.replace(/\/[^/]*$/, `/${name}`));
      cleanup = async () => {
        await db.close();
        await admin(`DROP DATABASE ${name} WITH (FORCE)`);
      };
    } else {
      const dir = `${out}/pglite-${n}`;
      rmSync(dir, { recursive: true, force: true });
      db = await openPgliteDb({ dataDir: dir });
      cleanup = async () => {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      };
    }
    if (encryption === 'off') db.keys!.cipher = new PlaintextCipher();
    else if (encryption !== 'on') throw new Error('--encryption on|off');
    await migrate(db);
    report(`${label}: open + migrate + unlock ${ms(t0)} ms`);
    try {
      if (values['with-dry-run']) {
        t0 = performance.now();
        await fullLoad(db, createReadStream(cityFile, { highWaterMark: 1 << 20 }), { dryRun: true });
        report(`${label}: full load ${n} residents --dry-run: ${ms(t0)} ms`);
      }
      const cpu0 = process.cpuUsage();
      const server0 = await serverCpuMs(db, backend);
      t0 = performance.now();
      const r = await fullLoad(db, createReadStream(cityFile, { highWaterMark: 1 << 20 }), { method, sealThreads, copyFormat });
      const loadMs = ms(t0);
      const cpu = process.cpuUsage(cpu0);
      const server1 = await serverCpuMs(db, backend);
      const serverCpu = server0 === null || server1 === null ? '' : `, PostgreSQL server CPU ${server1 - server0} ms`;
      report(`${label}: full load ${n} residents (${r.households} households, ${r.cardLinks} card links, ${r.seals} seals): ${loadMs} ms (${Math.round((r.residents / loadMs) * 1000)} residents/s), this process's CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms${serverCpu}`);
      t0 = performance.now();
      const batch = await parseDelta(createReadStream(deltaFile));
      const parseMs = ms(t0);
      // an issuance-like read (one snapshot transaction: card link, resident, household) every 50 ms while the batch applies
      const latencies: number[] = [];
      let applying = true;
      const probe = (async () => {
        while (applying) {
          const s0 = performance.now();
          await db.transaction(async (tx) => {
            const link = await tx.query<{ resident_id: string }>('SELECT resident_id FROM card_links WHERE serial = $1 AND revoked_on IS NULL', ['5e0000000001']);
            const rid = link[0]?.resident_id ?? 'R00000001';
            const res = await tx.query<{ household_id: string }>('SELECT household_id FROM residents WHERE id = $1', [rid]);
            await tx.query('SELECT id FROM residents WHERE household_id = $1', [res[0]?.household_id ?? '']);
          });
          latencies.push(performance.now() - s0);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      t0 = performance.now();
      const d = await applyDelta(db, batch);
      const applyMs = ms(t0);
      applying = false;
      await probe;
      latencies.sort((a, b) => a - b);
      report(`${label}: ${d.applied} deltas: parse ${parseMs} ms, apply ${applyMs} ms (one transaction)`);
      report(`${label}: issuance-like reads during the apply: ${latencies.length}, median ${Math.round(latencies[latencies.length >> 1] ?? 0)} ms, max ${Math.round(latencies[latencies.length - 1] ?? 0)} ms`);
      t0 = performance.now();
      const again = await applyDelta(db, batch);
      report(`${label}: same batch re-sent: ${ms(t0)} ms (${again.alreadyApplied} recognised, ${again.applied} applied)`);
      const nReads = Number(values['issuance-reads']);
      if (nReads > 0) {
        const r = await issuanceReads(db, n, nReads);
        report(`${label}: issuance read + 住民票 model per resident (${nReads}): ${r.perResidentMs.toFixed(3)} ms (read ${r.readMs.toFixed(3)} ms, model ${r.modelMs.toFixed(3)} ms)`);
      }
      const c = await replicaCounts(db);
      report(`${label}: after: ${c.residents} residents, ${c.households} households`);
    } finally {
      await cleanup();
    }
  }
}
process.stdout.write(`\n${rows.join('\n')}\n`);
