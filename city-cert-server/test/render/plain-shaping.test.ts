/**
 * Runs built without shaping (render/plain-shaping.ts) are the runs fontkit shapes:
 * same glyphs, same positions, same advance, for every string the samples print and
 * for strings chosen to need shaping (ligatures, combining marks, fractions,
 * variation sequences, half-width forms). And the shortcut is taken for the plain ones.
 */
import t from 'tap';
import { SAMPLES } from '../../scripts/samples.js';
import { FONT_FILES, parsedFont, shapeWithFontkit, type FontName } from '../../src/render/fonts.js';
import { plainGlyphs, type ShapingFont } from '../../src/render/plain-shaping.js';
import { COMMON_TEXT } from '../../src/render/frame.js';
import { RESIDENT_ENTRIES_TEXT, RESIDENT_RECORD_TEXT } from '../../src/render/resident-record.js';
import { BACK_TEXT } from '../../src/render/verification-page.js';
import { BE_VARIANT, KATSURA_VARIANT } from './sample.js';

interface Run {
  glyphs: Array<{ id: number }>;
  positions: Array<{ xAdvance: number; yAdvance: number; xOffset: number; yOffset: number }>;
  advanceWidth: number;
}
const view = (r: Run) => ({ ids: r.glyphs.map((g) => g.id), positions: r.positions.map((p) => [p.xAdvance, p.yAdvance, p.xOffset, p.yOffset]), advance: r.advanceWidth });

/** Strings that need fontkit's shaping, or might. */
const SHAPED = ['か\u3099', 'ウ\u3099', '1\u20442', '\u302a', 'e\u0301', '\u00ad', 'ﾊﾝｸﾞﾙ\uffa0', '\u200d'];
/** A default ligature's first glyph with its other component (IPAmj and IPAex join æ with a grave or acute accent): shaped. */
const LIGATURE_PRONE = ['æ`', 'æ\u00b4', 'Cæsar´s'];
const PLAIN = ['髙橋　一郎', '𠮷田', `渡${BE_VARIANT}　${KATSURA_VARIANT}子`, 'タカハシ　イチロウ', '令和8年11月22日', 'NGUYEN VAN AN', 'AB12345678CD', '1,234,567円', '（省略）', '【空欄】', '東雲県星見市緑町一丁目2番3号　メゾン青葉201号室'];

function samplesStrings(): Set<string> {
  const out = new Set<string>([...SHAPED, ...LIGATURE_PRONE, ...PLAIN, 'ｶﾞ', '葛\ufe00']);
  const take = (o: object) =>
    JSON.stringify(o, (_k, v: unknown) => {
      if (typeof v === 'string' && v.length > 0 && v.length < 200) out.add(v);
      return v;
    });
  for (const [, model] of SAMPLES) take(model);
  take([COMMON_TEXT, RESIDENT_RECORD_TEXT, RESIDENT_ENTRIES_TEXT, BACK_TEXT]);
  return out;
}

t.test('every sample string is laid out as fontkit shapes it, in every font', async (t) => {
  const strings = samplesStrings();
  let plain = 0;
  let total = 0;
  for (const name of Object.keys(FONT_FILES) as FontName[]) {
    const font = parsedFont(name) as unknown as ShapingFont;
    const layout = (s: string) => (font.layout as unknown as (s: string) => Run)(s);
    for (const s of strings) {
      if (name !== 'IPAmj' && /[\u{E0100}-\u{E01EF}]/u.test(s)) continue; // variation sequences print in IPAmj only
      total++;
      if (plainGlyphs(font, s)) plain++;
      t.same(view(layout(s)), view(shapeWithFontkit(name, s) as Run), `${name} ${JSON.stringify(s)}`);
    }
  }
  t.ok(plain > total * 0.8, `${plain} of ${total} laid out without shaping`);
});

t.test('strings shaping can change are shaped', async (t) => {
  const font = parsedFont('IPAmj') as unknown as ShapingFont;
  for (const s of [...SHAPED, ...LIGATURE_PRONE]) t.ok(plainGlyphs(font, s) === null, `${JSON.stringify(s)} shaped`);
  for (const s of PLAIN) t.ok(plainGlyphs(font, s) !== null, `${JSON.stringify(s)} not shaped`);
});
