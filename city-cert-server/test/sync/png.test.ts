import { deflateSync } from 'node:zlib';
import t from 'tap';
import { drawSealPng, Prng } from '@konbini/fixtures';
import { openDb, migrate, sealRegistrationOf } from '../../src/index.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { SyncRefusal } from '../../src/sync/errors.js';
import { fullLoad } from '../../src/sync/full-load.js';
import { cityRows } from '../../src/sync/generate.js';
import { MAX_SIDE, pngProblem } from '../../src/sync/png.js';
import { deltaFile } from './helpers.js';

const PNG_1PX = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const seal = drawSealPng(2, new Prng(5));

/** A PNG with its IHDR fields replaced and every CRC made right again. */
function png(over: { width?: number; height?: number; depth?: number; colour?: number; idat?: Buffer; tail?: Buffer }): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const w = over.width ?? 2;
  const h = over.height ?? 2;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = over.depth ?? 8;
  ihdr[9] = over.colour ?? 0;
  const idat = over.idat ?? deflateSync(Buffer.alloc(Math.min(h, 4) * (1 + Math.min(w, 4))));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0)), over.tail ?? Buffer.alloc(0)]);
}

t.test('pngProblem: real 印影 pass; anything the renderer could not draw is named', async (t) => {
  t.equal(pngProblem(seal), undefined, 'the fixtures’ seal image');
  t.equal(pngProblem(PNG_1PX), undefined, '1×1 RGBA');
  t.equal(pngProblem(png({})), undefined, 'the test builder makes a valid one');
  t.match(pngProblem(Buffer.from('GIF89a this is not a PNG')), /signature/);
  t.match(pngProblem(Buffer.alloc(0)), /signature/);
  t.match(pngProblem(seal.subarray(0, seal.length - 20)), /truncated|IEND/, 'cut off');
  const flipped = Buffer.from(seal);
  flipped[seal.length - 30] ^= 0xff;
  t.match(pngProblem(flipped), /CRC/, 'a flipped byte in the image data');
  t.match(pngProblem(png({ width: 0 })), /width and height/);
  t.match(pngProblem(png({ width: MAX_SIDE + 1, height: 4 })), /width and height/);
  t.match(pngProblem(png({ height: 100_000 })), /width and height/);
  t.match(pngProblem(png({ colour: 2, depth: 4 })), /bit depth/);
  t.match(pngProblem(png({ colour: 3 })), /PLTE/, 'indexed without a palette');
  t.match(pngProblem(png({ idat: Buffer.from('not zlib') })), /inflate/);
  t.match(pngProblem(png({ width: 4, height: 4, idat: deflateSync(Buffer.alloc(3)) })), /does not match/, 'too little image data for the header');
  t.match(pngProblem(png({ tail: Buffer.from('junk after the end') })), /after IEND/);
});

t.test('a delta seal-register whose 印影 is not a PNG is refused before anything is applied', async (t) => {
  const text = deltaFile('png-1', [
    { seq: 1, kind: 'support-measure-cleared', notifiedOn: '2026-11-20', residentId: 'R0001' },
    { seq: 2, kind: 'seal-register', notifiedOn: '2026-11-20', residentId: 'R0001', sealNumber: 'S-1', effectiveOn: '2026-11-20', imagePng: Buffer.from('GIF89a not a PNG').toString('base64') },
  ]);
  const err = await parseDelta(text).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof SyncRefusal);
  t.equal((err as SyncRefusal).code, 'SYNC_INPUT_INVALID');
  t.same((err as SyncRefusal).rows, [{ line: 3, field: '/imagePng', reason: 'not a PNG (signature)' }], 'line, field and rule; never the value');
  const ok = await parseDelta(deltaFile('png-2', [{ seq: 1, kind: 'seal-register', notifiedOn: '2026-11-20', residentId: 'R0001', sealNumber: 'S-1', effectiveOn: '2026-11-20', imagePng: seal.toString('base64') }]));
  t.equal(ok.changes.length, 1, 'a real PNG passes');
});

t.test('a full load with a seal row whose 印影 is not a PNG is refused whole', async (t) => {
  const db = await openDb(undefined);
  t.teardown(() => db.close());
  await migrate(db);
  const lines = [...cityRows({ residents: 40, seed: 3 })].map((r) => JSON.stringify(r));
  const at = lines.findIndex((l) => l.includes('"type":"seal"'));
  t.ok(at > 0, 'the generated city has a seal registration');
  const row = JSON.parse(lines[at]!) as { residentId: string; imagePng: string };
  lines[at] = JSON.stringify({ ...row, imagePng: Buffer.from(seal.subarray(0, 60)).toString('base64') });
  const err = await fullLoad(db, `${lines.join('\n')}\n`).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof SyncRefusal);
  t.equal((err as SyncRefusal).code, 'SYNC_INPUT_INVALID');
  t.match((err as SyncRefusal).rows[0], { line: at + 1, field: '/imagePng', reason: /PNG/ });
  t.notOk(await sealRegistrationOf(db, row.residentId), 'nothing loaded');
});
