import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { cardLinkBySerial, migrate, replicaCounts, residentById, syncState, type Db } from '../../src/index.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { SyncRefusal } from '../../src/sync/errors.js';
import { fullLoad } from '../../src/sync/full-load.js';
import { cityRows, deltaRows, writeJsonLines } from '../../src/sync/generate.js';
import { backends, type Backend } from '../replica/backends.js';
import { perBackend, refusal } from './helpers.js';

const run = promisify(execFile);
const cli = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli.ts');
// Two backends, each with a 10,000-resident walk through the staff CLI (a Node start per
// command): ≈ 3 min alone on 2 cores, more beside other test files; tap's 180 s was too close.
t.setTimeout(900_000);
const work = mkdtempSync(join(tmpdir(), 'city-cert-sync-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const CITY = { residents: 300, seed: 7 };
const cityText = [...cityRows(CITY)].map((r) => JSON.stringify(r)).join('\n') + '\n';
const cityLines = cityText.split('\n');
const cityFile = join(work, 'city.jsonl');
writeFileSync(cityFile, cityText);
const deltaFile = join(work, 'delta.jsonl');
await writeJsonLines(deltaFile, deltaRows(CITY, 500, 1));

/** The file with line `n` (1-based) replaced. */
function withLine(n: number, row: string): string {
  const l = [...cityLines];
  l[n - 1] = row;
  return l.join('\n');
}
const lineOf = (re: RegExp) => cityLines.findIndex((l) => re.test(l)) + 1;


const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

perBackend(list, null, loadTests);

async function loadTests(t: Test, db: Db, backend: Backend): Promise<void> {
  t.test('a generated city loads streamed, with progress; a dry run changes nothing', async (t) => {
    const seen: number[] = [];
    const dry = await fullLoad(db, cityText, { dryRun: true, progressEvery: 100, onProgress: (p) => seen.push(p.rows) });
    t.match(dry, { dryRun: true, residents: 300, cityCode: '999997' });
    t.ok(seen.length >= 3, 'progress reported');
    t.equal((await replicaCounts(db)).residents, 0, 'dry run: nothing loaded');
    const r = await fullLoad(db, cityText);
    t.match(r, { dryRun: false, residents: 300, seq: 0 });
    t.match(await replicaCounts(db), { residents: 300, households: r.households, cardLinks: r.cardLinks, activeSeals: r.seals });
    const first = JSON.parse(cityLines[2]!) as { id: string; familyName: string };
    t.equal((await residentById(db, first.id))?.familyName, first.familyName);
    t.equal((await syncState(db)).lastSeq, 0);
  });

  t.test('generated deltas apply on the generated city; then a bad load leaves it intact', async (t) => {
    const started = performance.now();
    const r = await applyDelta(db, await parseDelta(readFileSync(deltaFile)));
    t.comment(`${backend.name}: 500 deltas in ${Math.round(performance.now() - started)} ms`);
    t.match(r, { applied: 500, lastSeq: 500 });
    t.equal(Object.keys(r.byKind).length, 15, 'every kind occurs');
    const before = await replicaCounts(db);

    const cases: [string, string, { code: string; line?: number; field?: string; reason?: string | RegExp }][] = [
      ['malformed row', withLine(5, '{"type":"resident",'), { code: 'SYNC_INPUT_INVALID', line: 5, reason: 'not a JSON object' }],
      ['bad field', withLine(3, cityLines[2]!.replace(/"birthDate":"[^"]+"/, '"birthDate":"1999-13-01"')), { code: 'SYNC_INPUT_INVALID', line: 3, field: '/birthDate' }],
      ['missing field', withLine(3, cityLines[2]!.replace(/"sex":"[a-z]+",/, '')), { code: 'SYNC_INPUT_INVALID', line: 3, field: '/sex', reason: 'required' }],
      ['truncated mid-line', cityText.slice(0, Math.floor(cityText.length / 2)), { code: 'SYNC_TRUNCATED', reason: /cut off/ }],
      ['truncated at a line end', cityLines.slice(0, 100).join('\n') + '\n', { code: 'SYNC_TRUNCATED', reason: 'no end record' }],
      ['count mismatch', withLine(lineOf(/"type":"card-link"/), ''), { code: 'SYNC_TRUNCATED', field: '/counts/cardLinks' }],
      ['duplicate resident', withLine(lineOf(/"type":"card-link"/), cityLines[2]!).replace(/"cardLinks":(\d+)/, (_m, n: string) => `"cardLinks":${Number(n) - 1}`).replace(/"residents":300/, '"residents":301'), { code: 'SYNC_INPUT_INVALID', reason: /duplicate key/ }],
      ['card for an unknown resident', withLine(lineOf(/"type":"card-link"/), JSON.stringify({ type: 'card-link', serial: 'abc', residentId: 'R99999999', validFrom: '2020-01-01' })), { code: 'SYNC_INPUT_INVALID', reason: /not in the file/ }],
      ['no header', cityLines.slice(1).join('\n'), { code: 'SYNC_INPUT_INVALID', line: 1, field: '/type' }],
    ];
    for (const [name, text, expected] of cases) {
      t.match(await refusal(fullLoad(db, text)), expected, name);
    }
    const twoBad = withLine(3, '{').split('\n');
    twoBad[6] = '[1]';
    const many = await refusal(fullLoad(db, twoBad.join('\n')));
    t.same(many.rows.map((r) => r.line), [3, 7], 'every bad row is reported, not just the first');
    t.same(await replicaCounts(db), before, 'the replica is as before every refused load');
    t.equal((await syncState(db)).lastSeq, 500);
  });

  t.test('sealing threads, COPY and INSERT load the same replica; a row the database refuses is named by its line', async (t) => {
    const ids = cityLines.filter((l) => l.includes('"type":"resident"')).map((l) => (JSON.parse(l) as { id: string }).id);
    const snapshot = async () => Promise.all(ids.map((id) => residentById(db, id)));
    await fullLoad(db, cityText, { sealThreads: 0 });
    const expected = await snapshot();
    t.equal(expected.filter(Boolean).length, 300);
    for (const [name, opts] of [
      ['two sealing threads, small chunks', { sealThreads: 2, sealThreadsAfterRows: 0, chunkRows: 37 }],
      ['INSERT from jsonb', { method: 'insert' as const }],
    ] as const) {
      const seen: number[] = [];
      const r = await fullLoad(db, cityText, { ...opts, progressEvery: 100, onProgress: (p) => seen.push(p.rows) });
      t.match(r, { residents: 300 }, name);
      t.ok(seen.length >= 3, `${name}: progress`);
      t.same(await snapshot(), expected, `${name}: every resident reads back the same`);
      t.match(await refusal(fullLoad(db, withLine(3, '{'), opts)), { code: 'SYNC_INPUT_INVALID', line: 3 }, `${name}: a bad row refuses the load`);
    }
    // refused by the database, not by the checks: the line (and field) PostgreSQL names in the COPY
    const links = cityLines.map((l, i) => [l, i + 1] as const).filter(([l]) => l.includes('"type":"card-link"'));
    const [firstLink] = links[0]!;
    const [, dupLine] = links[links.length - 1]!;
    const serial = (JSON.parse(firstLink) as { serial: string }).serial;
    const dup = withLine(dupLine, cityLines[dupLine - 1]!.replace(/"serial":"[0-9a-f]+"/, `"serial":"${serial.toUpperCase()}"`));
    t.match(await refusal(fullLoad(db, dup)), { code: 'SYNC_INPUT_INVALID', line: dupLine, reason: /^duplicate key \(card_links_pkey\)$/ }, 'a card serial twice (in another case): the second line');
    const resLine = cityLines.map((l, i) => [l, i + 1] as const).filter(([l]) => l.includes('"type":"resident"'))[20]![1];
    const farPast = withLine(resLine, cityLines[resLine - 1]!.replace(/"residentSince":"[0-9-]+"/, '"residentSince":"0000-01-01"'));
    t.match(await refusal(fullLoad(db, farPast)), { code: 'SYNC_INPUT_INVALID', line: resLine, field: '/residentSince', reason: /cannot store \(SQLSTATE 22/ }, 'a date the database cannot store: line and field');
    t.same(await snapshot(), expected, 'nothing changed by the refused loads');
  });

  t.test('a full load at a sequence number continues the delta sequence from there', async (t) => {
    const at = cityText.replace('"seq":0', '"seq":500');
    t.match(await fullLoad(db, at), { seq: 500 });
    t.match(await applyDelta(db, await parseDelta(readFileSync(deltaFile))), { applied: 0, alreadyApplied: 500 }, 'changes the load already contains are skipped');
    const skip = [...deltaRows(CITY, 1, 502)].map((r) => JSON.stringify(r)).join('\n') + '\n';
    t.match(await refusal(applyDelta(db, await parseDelta(skip))), { code: 'SYNC_GAP', reason: /expected 501, found 502/ });
    await fullLoad(db, cityText);
  });

  t.test('two loads at once: the second is refused, nothing lost', { skip: backend.name !== 'postgres' && 'PGlite serializes all access: loads queue one after the other' }, async (t) => {
    const other = await backend.open();
    await migrate(other); // a second worker, started as a worker starts (its data key unlocked)
    const results = await Promise.allSettled([fullLoad(db, cityText), fullLoad(other, cityText)]);
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as SyncRefusal).code)).sort();
    t.same(codes, ['SYNC_IN_PROGRESS', 'ok']);
    t.equal((await replicaCounts(db)).residents, 300);
  });

  t.test('staff CLI: generate, sync full, sync delta, status', async (t) => {
    const dbArg = backend.spec ?? join(work, `pglite-${Date.now()}`);
    const node = [process.execPath, '--import', 'tsx', '--conditions=konbini-source', cli];
    const c = (...args: string[]) => run(node[0]!, [...node.slice(1), ...args], { maxBuffer: 1 << 24 });
    const gen = join(work, `gen-${backend.name}.jsonl`);
    // 10,000 residents: past the 20,000 rows after which sealing threads start. Two are
    // asked for, so they run on any machine: threads once unref()'d let a CLI load on
    // PGlite exit mid-load (exit 13, nothing else kept the event loop alive).
    const N = 10_000;
    await c('generate', '--residents', String(N), '--seed', '3', '--out', gen);
    // each PGlite command opens the data directory (≈ 3 s, creating it ≈ 20 s here): the full walk runs on PostgreSQL
    const pglite = backend.name === 'pglite';
    if (!pglite) {
      const dry = await c('sync', 'full', gen, '--db', dbArg, '--dry-run');
      t.match(JSON.parse(dry.stdout), { dryRun: true, residents: N });
      t.match(dry.stderr, /rows/, 'progress on stderr');
    }
    const full = await c('sync', 'full', gen, '--db', dbArg, '--seal-threads', '2');
    t.match(JSON.parse(full.stdout), { residents: N, sealThreads: 2 }, 'loaded whole, two sealing threads took part');
    for (const bad of [['--seal-threads', '9'], ['--seal-threads', 'x'], ['--seal-threads', '-1']]) {
      const r = await c('sync', 'full', gen, '--db', dbArg, ...bad).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      t.equal(r.code, 2, `${bad.join(' ')}: usage`);
    }
    const deltas = join(work, `gen-${backend.name}-d.jsonl`);
    await c('generate', '--residents', String(N), '--seed', '3', '--deltas', '40', '--out', deltas);
    t.match(JSON.parse((await c('sync', 'delta', deltas, '--db', dbArg)).stdout), { applied: 40, lastSeq: 40 });
    const status = JSON.parse((await c('status', '--db', dbArg, '--json')).stdout) as { lastSeq: number; counts: { residents: number } };
    t.equal(status.lastSeq, 40);
    t.ok(status.counts.residents >= N);
    if (pglite) return;
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, readFileSync(gen, 'utf8').replace(/"sex":"(male|female)"/, '"sex":"x"'));
    const refused = await c('sync', 'full', bad, '--db', dbArg).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    t.equal(refused?.code, 1);
    t.match(refused?.stderr, /error SYNC_INPUT_INVALID.*\n  line 3: \/sex: must be one of male, female\nnothing was changed/);
    t.notMatch(refused?.stderr, /"x"/);
    const human = await c('status', '--db', dbArg);
    t.match(human.stdout, /sequence: +40\n/);
    void cardLinkBySerial;
  });
}
