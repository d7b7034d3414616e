import t from 'tap';
import { charsetOf, isPrintable, loadFontCharset } from '../../src/rules/printable.js';

t.test('the IPAmj cmap is the allow-list', async (t) => {
  const started = performance.now();
  const cs = await loadFontCharset();
  t.comment(`cmap read in ${Math.round(performance.now() - started)} ms, ${cs.size} code points`);
  t.ok(cs.size > 50000);
  for (const ok of ['髙橋', '𠮷田', '﨑', '渡邉', '東雲県星見市緑町一丁目2番3号', 'タカハシ', 'SMITH JOHN', '港ハイツ　101号', '葛\u{E0102}城']) {
    t.ok(isPrintable(ok, cs), `printable: ${ok}`);
  }
  for (const bad of ['\u{E000}川', '😀', '改\n行', '\u{E0102}葛', '葛\u{E0102}\u{E0103}', '\u0007']) {
    t.notOk(isPrintable(bad, cs), `refused: ${JSON.stringify(bad)}`);
  }
});

t.test('charsetOf for an explicit list', async (t) => {
  const cs = charsetOf([0x41, 0x42, 0x43, 0x5c0f]);
  t.equal(cs.size, 4);
  t.ok(isPrintable('ABC小', cs));
  t.notOk(isPrintable('D', cs));
});
