/**
 * One-line texts as one inline (render/single-line.ts) must not change the print:
 * every sample of every type, as issued, prints the same glyphs at the same places
 * with and without it, and so do texts at the edge of wrapping in each kind of cell
 * the renderers use. Read from outside with qpdf (test/render/pdf-marks.ts).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAMPLES } from '../../scripts/samples.js';
import { renderCertificatePdf } from '../../src/render/certificate.js';
import { parsedFont, renderPdf } from '../../src/render/fonts.js';
import { FRAME_LAYOUT, pagedDocument } from '../../src/render/frame.js';
import type { CertificateModel } from '../../src/render/model.js';
import { additiveAdvance, markSingleLines } from '../../src/render/single-line.js';
import { shapedAdvance } from '../../src/render/plain-shaping.js';
import { contentSha256, makeMark } from '../../src/verify/mark.js';
import { printedMarks } from './pdf-marks.js';
import { CITY } from './sample.js';

const dir = mkdtempSync(join(tmpdir(), 'konbini-single-line-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function marksOf(name: string, pdf: Buffer) {
  const file = join(dir, name);
  writeFileSync(file, pdf);
  return printedMarks(file);
}

/** Text objects in the page content (one per inline pdfmake draws). */
function textObjects(marks: ReturnType<typeof printedMarks>): number {
  return new Set(marks.glyphs.map((g) => `${g.page}:${g.y}:${g.font}:${g.size}`)).size;
}

t.test('every sample, as issued, prints the same glyphs and drawings with one-line texts as one inline', async (t) => {
  for (const [name, base] of SAMPLES) {
    const model = { ...base, antiForgery: makeMark({ cityCode: CITY.code, issuanceId: base.issuanceId, verificationNumber: '1234567890123456', contentSha256: contentSha256(base) }, null) } as CertificateModel;
    const before = marksOf(`${name}-pieces.pdf`, await renderCertificatePdf(model, { singleLines: false }));
    const after = marksOf(`${name}-lines.pdf`, await renderCertificatePdf(model));
    t.ok(before.glyphs.length > 100, `${name}: ${before.glyphs.length} glyphs read`);
    t.same(after.glyphs, before.glyphs, `${name}: same glyphs, fonts, sizes, colours, positions`);
    t.same(after.drawings, before.drawings, `${name}: same rules, frames, images`);
    t.ok(textObjects(after) > 0);
  }
});

/** A page of tables and columns like the certificates', with `text` in every kind of cell. */
function probe(text: string): Record<string, unknown> {
  const cell = (extra: Record<string, unknown> = {}) => ({ text, font: 'IPAmj', fontSize: 10, ...extra });
  const head = { city: CITY, issuanceId: 'iss-single-line', issuedAt: new Date('2026-11-22T01:00:00Z'), copies: 1 };
  return pagedDocument(head, [
    { table: { widths: [52, '*'], body: [[cell({ font: 'IPAexGothic', fontSize: 9 }), cell()]] }, layout: FRAME_LAYOUT, margin: [0, 0, 0, 6] },
    { table: { widths: [60, 80, 80, 90], body: [[cell(), cell(), { ...cell(), colSpan: 2 }, cell()], [cell(), { stack: [cell({ margin: [3, 0, 2, 0] })] }, cell(), cell()]] } },
    { table: { widths: ['*', '*', '*', '*', '*'], body: [[cell(), cell(), cell(), cell(), cell()]] }, layout: FRAME_LAYOUT },
    { columns: [{ width: '*', ...cell({ alignment: 'right' }) }, { width: 120, stack: [cell()] }, { width: 'auto', ...cell() }] },
    { columns: [{ width: 100, ...cell({ alignment: 'center' }) }, { width: '*', ...cell() }], columnGap: 7 },
    cell({ margin: [200, 0, 100, 0] }),
    cell({ characterSpacing: 1 }),
  ]);
}

t.test('texts at the edge of wrapping print as before in every kind of cell', async (t) => {
  // 1 to 24 full-width characters of 10 pt (plus a Latin run): crosses every cell's width
  const sample = '青嵐県東雲市港町四丁目5番6号東雲ハイツ101号室渡邉葛\u{E0102}子';
  let marked = 0;
  let left = 0;
  for (const n of [1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 22, 24, 30]) {
    const text = Array.from(sample).slice(0, n).join('');
    const def = probe(text);
    const before = marksOf(`probe-${n}-pieces.pdf`, await renderPdf(probe(text), { singleLines: false }));
    const after = marksOf(`probe-${n}-lines.pdf`, await renderPdf(def));
    t.same(after.glyphs, before.glyphs, `${n} characters: same glyphs at the same places`);
    t.same(after.drawings, before.drawings, `${n} characters: same frames`);
    const flags = JSON.stringify(def, (k, v) => (k === 'noWrap' ? (v ? 'MARKED' : v) : v)).match(/MARKED/g)?.length ?? 0;
    marked += flags;
    left += (JSON.stringify(def).match(new RegExp(`"text":"${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`, 'g'))?.length ?? 0) - flags;
  }
  // the step did something, and left the texts that wrap (or whose width it cannot know) alone
  t.ok(marked > 50, `${marked} texts made one inline`);
  t.ok(left > 50, `${left} texts left to pdfmake`);
});

t.test('the comparison sees a text that is laid out differently', async (t) => {
  const long = '青嵐県東雲市港町四丁目5番6号東雲ハイツ101号室'.repeat(3);
  const forced = probe(long);
  const force = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(force);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (typeof o.text === 'string') o.noWrap = true;
      Object.values(o).forEach(force);
    }
  };
  force(forced.content);
  const wrapped = marksOf('long-pieces.pdf', await renderPdf(probe(long), { singleLines: false }));
  const overflowing = marksOf('long-forced.pdf', await renderPdf(forced, { singleLines: false }));
  t.notSame(overflowing.glyphs, wrapped.glyphs, 'one line where pdfmake wraps: glyphs elsewhere');
  // and the step itself leaves those texts alone
  const def = probe(long);
  markSingleLines(def);
  t.notOk(JSON.stringify(def).includes('"noWrap":true'), 'no text of that width is made one inline');
});

t.test('widths taken without shaping are the shaped widths', async (t) => {
  const texts = new Set<string>(['fi', 'ffi', 'office', 'Æsop', 'か\u3099', 'が', 'ｶﾞ', '㍻', '1/2', '½', '1⁄2', 'AV', 'To', '渡邉葛\u{E0102}子', '𠮷田', '令和8年11月22日', 'NGUYEN VAN AN', '（省略）', '【空欄】', 'この写しは、住民票の原本と相違ないことを証明する。']);
  for (const [, model] of SAMPLES) {
    JSON.stringify(model, (_k, v: unknown) => {
      if (typeof v === 'string' && v.length < 80) texts.add(v);
      return v;
    });
  }
  let fast = 0;
  for (const name of ['IPAmj', 'IPAexGothic', 'IPAexMincho'] as const) {
    const font = parsedFont(name) as unknown as Parameters<typeof shapedAdvance>[0];
    for (const text of texts) {
      const shaped = shapedAdvance(font, text);
      const quick = additiveAdvance(font, text);
      if (shaped !== null) t.equal(quick, shaped, `${name}: ${JSON.stringify(text)}`);
      else t.equal(quick, null, `${name}: ${JSON.stringify(text)} is not additive`);
      if (quick !== null) fast++;
    }
  }
  t.ok(fast > 100, `${fast} widths taken`);
});
