/**
 * IPAmj variation sequences print with the exact registered glyph (TOOLCHAIN.md: the
 * fontkit 2.0.4 default-UVS bug). Checked twice: fontkit's lookup against the font's
 * own cmap format-14 table, and by rendering and comparing pixels with poppler.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsedFont, registeredVariant, renderPdf, unprintable } from '../../src/render/fonts.js';
import { renderResidentRecord } from '../../src/render/resident-record.js';
import { bigHousehold } from './sample.js';

const font = parsedFont('IPAmj');

t.test('fontkit resolves every registered sequence of IPAmj to the registered glyph', async (t) => {
  const selectors = font._cmapProcessor.uvs!.varSelectors.toArray();
  let total = 0;
  const wrong: string[] = [];
  for (const sel of selectors) {
    t.notOk(sel.defaultUVS, `selector ${sel.varSelector.toString(16)} has no default-UVS table (the fontkit bug cannot bite)`);
    for (const m of sel.nonDefaultUVS ?? []) {
      total++;
      const got = font.glyphsForString(String.fromCodePoint(m.unicodeValue, sel.varSelector));
      if (got.length !== 1 || got[0]!.id !== m.glyphID) wrong.push(`${m.unicodeValue.toString(16)}+${sel.varSelector.toString(16)}`);
    }
  }
  t.ok(total > 10000, `${total} registered sequences checked`);
  t.same(wrong, [], 'no sequence falls back to another glyph');
  t.equal(registeredVariant(font, 0x845b, 0xe0102), 23477);
  t.not(font.glyphForCodePoint(0x845b).id, 23477, '葛+E0102 is not the base glyph');
});

const dir = mkdtempSync(join(tmpdir(), 'konbini-ivs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Render one string large and return the page's grey pixels. */
async function pixels(text: string): Promise<Buffer> {
  const pdf = await renderPdf({
    pageSize: { width: 220, height: 220 },
    pageMargins: 20,
    content: [{ text, font: 'IPAmj', fontSize: 160, lineHeight: 1 }],
  });
  const base = join(dir, `g${++n}`);
  writeFileSync(`${base}.pdf`, pdf);
  execFileSync('pdftoppm', ['-gray', '-r', '72', '-singlefile', `${base}.pdf`, base]);
  return readFileSync(`${base}.pgm`);
}

function differingPixels(a: Buffer, b: Buffer): number {
  let d = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (Math.abs(a[i]! - b[i]!) > 64) d++;
  return d + Math.abs(a.length - b.length);
}

t.test('variants print differently from the base character, registered same-glyph ones identically', async (t) => {
  const katsura = await pixels('\u845B');
  const katsuraE0102 = await pixels('\u845B\u{E0102}');
  const katsuraE0104 = await pixels('\u845B\u{E0104}');
  const katsuraE0103 = await pixels('\u845B\u{E0103}'); // registered to the base glyph itself
  const be = await pixels('\u9089');
  const beE0110 = await pixels('\u9089\u{E0110}');
  const beE011f = await pixels('\u9089\u{E011F}');
  t.ok(differingPixels(katsura, katsuraE0102) > 50, `葛 vs 葛+E0102 differ (${differingPixels(katsura, katsuraE0102)} px)`);
  t.ok(differingPixels(katsuraE0102, katsuraE0104) > 50, '葛+E0102 vs 葛+E0104 differ');
  t.equal(differingPixels(katsura, katsuraE0103), 0, '葛+E0103 is registered to the base glyph: identical');
  t.ok(differingPixels(be, beE0110) > 50, `邉 vs 邉+E0110 differ (${differingPixels(be, beE0110)} px)`);
  t.ok(differingPixels(beE0110, beE011f) > 50, '邉+E0110 vs 邉+E011F differ');
});

t.test('what IPAmj cannot print exactly is refused, not approximated', async (t) => {
  t.same(unprintable('髙橋 山﨑 𠮷田 葛\u{E0102} 邉\u{E0110}'), []);
  t.same(unprintable('葛\u{E0110}'), ['葛\u{E0110}'], 'an unregistered sequence');
  t.same(unprintable('A\u{1F600}'), ['\u{1F600}'], 'a character without a glyph');
  const model = bigHousehold();
  model.persons[1]!.givenName = '花\u{1F600}';
  await t.rejects(renderResidentRecord(model), { name: 'KonbiniError', code: 'UNPRINTABLE_CHARACTERS' });
});
