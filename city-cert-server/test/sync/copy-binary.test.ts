import { randomBytes } from 'node:crypto';
import t from 'tap';
import { drawSealPng, Prng } from '@konbini/fixtures';
import { migrate, residentById, sealRegistrationOf } from '../../src/index.js';
import { CopyBinaryWriter, pgDateDays, storableDate } from '../../src/sync/copy-binary.js';
import { fullLoad } from '../../src/sync/full-load.js';
import { cityRows } from '../../src/sync/generate.js';
import { bytea, text } from '../../src/sync/load-rows.js';
import { backends } from '../replica/backends.js';
import { eachBackend } from './helpers.js';

/*
 * COPY's binary format against its text format: the same rows written both ways, read
 * back by SELECT, must be the same rows, for every column type the load uses (and the
 * integers), on the real server (and PGlite).
 */

t.test('day numbers and storable dates', async (t) => {
  t.equal(pgDateDays('2000-01-01'), 0);
  t.equal(pgDateDays('1999-12-31'), -1);
  t.equal(pgDateDays('1970-01-01'), -10_957);
  t.equal(pgDateDays('2000-03-01'), 60, '2000 is a leap year');
  t.equal(pgDateDays('0001-01-01'), -730_119);
  t.equal(pgDateDays('9999-12-31'), 2_921_939);
  for (let d = Date.UTC(1890, 0, 1); d < Date.UTC(2110, 0, 1); d += 86_400_000 * 37) {
    const s = new Date(d).toISOString().slice(0, 10);
    if (pgDateDays(s) !== (d - Date.UTC(2000, 0, 1)) / 86_400_000) t.fail(s);
  }
  t.notOk(storableDate('0000-01-01'));
  t.notOk(storableDate('0000-02-29'));
  t.ok(storableDate('0001-01-01'));
  t.ok(storableDate('9999-12-31'));
});

interface Row {
  t: string | null;
  b: Buffer | null;
  d: string | null;
  a: string[] | null;
  i4: number | null;
  i8: bigint | null;
}

const image = randomBytes(300 * 1024);
const ROWS: Row[] = [
  { t: 'R00000001', b: Buffer.from('envelope'), d: '2000-01-01', a: [], i4: 0, i8: 0n },
  { t: '', b: Buffer.alloc(0), d: '1999-12-31', a: ['moving-out'], i4: -1, i8: -1n },
  { t: null, b: null, d: null, a: null, i4: null, i8: null },
  // non-BMP kanji (𠮷, 𩸽) and an ideographic variation sequence (葛 + U+E0100)
  { t: '𠮷野家　𩸽', b: Buffer.from([0, 0x5c, 0x0a, 0x09, 0x0d, 0xff]), d: '0001-01-01', a: ['moving-out', 'support-measure'], i4: 2_147_483_647, i8: 9_223_372_036_854_775_807n },
  { t: '葛\u{E0100}城市', b: image, d: '9999-12-31', a: ['', '𠮷', '葛\u{E0100}', 'a,b {c} "d" \\e'], i4: -2_147_483_648, i8: -9_223_372_036_854_775_808n },
  { t: 'tab\there\nnew line\\back\rslash', b: Buffer.from('\\x00'), d: '2000-02-29', a: ['x'], i4: 42, i8: 2n ** 53n + 1n },
  { t: 'x'.repeat(40) + 'é', b: randomBytes(1), d: '1900-03-01', a: ['ascii-only-but-longer-than-thirty-two-chars'], i4: 7, i8: -(2n ** 40n) },
];

/** A text[] literal for COPY text: every element quoted (the load's flags need none, these edge cases do). */
const arrayLiteral = (a: string[]) => `{${a.map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;

function textCopy(rows: Row[]): Buffer {
  const lines = rows.map((r, n) =>
    [String(n), text(r.t), bytea(r.b), text(r.d), text(r.a && arrayLiteral(r.a)), text(r.i4), text(r.i8)].join('\t'),
  );
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

function binaryCopy(rows: Row[]): Buffer {
  // a small start: the writer must grow (the 300 KiB image) without losing a byte
  const w = new CopyBinaryWriter(16);
  rows.forEach((r, n) => w.row(7).int4(n).text(r.t).bytea(r.b).date(r.d).textArray(r.a).int4(r.i4).int8(r.i8));
  return w.finish();
}

const COLUMNS = 'n, t, b, d, a, i4, i8';
const TABLE = 'n int4, t text, b bytea, d date, a text[], i4 int4, i8 int8';

const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

eachBackend(list, async (t, db) => {
  t.test('every column type: binary COPY reads back as the text COPY of the same rows', async (t) => {
    await db.transaction(async (tx) => {
      await tx.exec(`CREATE TEMP TABLE by_text (${TABLE}) ON COMMIT DROP; CREATE TEMP TABLE by_binary (${TABLE}) ON COMMIT DROP;`);
      await tx.copyFrom!(`COPY by_text (${COLUMNS}) FROM STDIN`, textCopy(ROWS));
      await tx.copyFrom!(`COPY by_binary (${COLUMNS}) FROM STDIN WITH (FORMAT binary)`, binaryCopy(ROWS));
      const read = (table: string) => tx.query<{ row: string }>(`SELECT x::text AS row FROM ${table} x ORDER BY n`);
      const [byText, byBinary] = [await read('by_text'), await read('by_binary')];
      t.equal(byBinary.length, ROWS.length);
      t.same(byBinary, byText, 'the same rows, every column');
      // and both are the values written, not the same mistake twice
      const values = await tx.query<{ t: string | null; b: string | null; d: string | null; a: string[] | null; i4: number | null; i8: string | null }>(
        `SELECT t, encode(b, 'hex') AS b, to_char(d, 'YYYY-MM-DD') AS d, a, i4, i8::text AS i8 FROM by_binary ORDER BY n`,
      );
      t.same(
        values,
        ROWS.map((r) => ({ t: r.t, b: r.b && r.b.toString('hex'), d: r.d, a: r.a, i4: r.i4, i8: r.i8 === null ? null : String(r.i8) })),
      );
      const [empty] = await tx.query<{ n: number; empty: boolean }>(`SELECT array_ndims(a) AS n, a = '{}' AS empty FROM by_binary WHERE n = 0`);
      t.same(empty, { n: null, empty: true }, "an empty text[] is '{}', as the text path writes it");
    });
  });

  t.test('the server still checks the text it is sent (a NUL is refused as in text COPY)', async (t) => {
    const w = new CopyBinaryWriter();
    w.row(7).int4(0).text('a\u0000b').null().null().null().null().null();
    await t.rejects(
      db.transaction(async (tx) => {
        await tx.exec(`CREATE TEMP TABLE nul (${TABLE}) ON COMMIT DROP`);
        await tx.copyFrom!(`COPY nul (${COLUMNS}) FROM STDIN WITH (FORMAT binary)`, w.finish());
      }),
      { code: '22021' },
    );
  });

  t.test('a full load by binary COPY stores what one by text COPY stores', async (t) => {
    await migrate(db);
    const seal = drawSealPng(2, new Prng(5)).toString('base64');
    let seals = 0;
    const file = `${[...cityRows({ residents: 200, seed: 4 })]
      .map((r) => JSON.stringify(r.type === 'seal' && seals++ % 2 === 0 ? { ...r, imagePng: seal } : r))
      .join('\n')}\n`;
    const ids = file.split('\n').filter((l) => l.includes('"type":"resident"')).map((l) => (JSON.parse(l) as { id: string }).id);
    const sealed = file.split('\n').filter((l) => l.includes('"type":"seal"')).map((l) => (JSON.parse(l) as { residentId: string }).residentId);
    t.ok(sealed.length > 10, 'seals in the file');
    const snapshot = async () => ({
      residents: await Promise.all(ids.map((id) => residentById(db, id))),
      seals: await Promise.all(sealed.map((id) => sealRegistrationOf(db, id))),
      // the clear columns as stored, every table (envelopes differ by their random nonces)
      clear: await db.query(`SELECT
        (SELECT json_agg(x ORDER BY id) FROM (SELECT id, household_id, resident_since, address_since, notified_on, status, flags, removed_on,
           length(names) AS names, length(attributes) AS attributes FROM residents) x) AS residents,
        (SELECT json_agg(x ORDER BY id) FROM (SELECT id, head_id, length(address) AS address FROM households) x) AS households,
        (SELECT json_agg(x ORDER BY serial) FROM (SELECT serial, resident_id, valid_from, revoked_on FROM card_links) x) AS cards,
        (SELECT json_agg(x ORDER BY resident_id) FROM (SELECT resident_id, seal_number, length(image_png) AS image, status, registered_on, abolished_on FROM seal_registrations) x) AS seals`),
    });
    await fullLoad(db, file, { copyFormat: 'text', chunkRows: 50 });
    const byText = await snapshot();
    t.ok(byText.seals.some((s) => s?.imagePng), 'images stored');
    for (const [name, opts] of [
      ['binary', { copyFormat: 'binary' as const, chunkRows: 50 }],
      ['binary, two sealing threads', { copyFormat: 'binary' as const, chunkRows: 50, sealThreads: 2, sealThreadsAfterRows: 0 }],
    ] as const) {
      await fullLoad(db, file, opts);
      t.same(await snapshot(), byText, name);
    }
  });
});


