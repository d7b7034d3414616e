/**
 * 住民票の写し, checked from outside with poppler and qpdf, and the binding sealed and
 * read back with the protocol's own functions.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINDING_PLACEHOLDER, cardSerialHmac, readBinding } from '@konbini/protocol';
import type { ResidentRecordModel } from '../../src/render/model.js';
import { checkCopyLayout, renderAndBind, renderResidentRecord } from '../../src/render/resident-record.js';
import { SEAL_SIZE_PT } from '../../src/render/seal.js';
import { bigHousehold, KATSURA_VARIANT, mixedHousehold } from './sample.js';

const dir = mkdtempSync(join(tmpdir(), 'konbini-rr-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function save(name: string, pdf: Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, pdf);
  return file;
}
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

function count(haystack: Buffer, needle: string): number {
  const n = Buffer.from(needle, 'latin1');
  let c = 0;
  for (let at = haystack.indexOf(n); at >= 0; at = haystack.indexOf(n, at + 1)) c++;
  return c;
}

// Timing first, so the cold number is the first document of this process (font files
// read and parsed). Reported, not asserted.
const timing = (async () => {
  const cold0 = performance.now();
  await renderResidentRecord(mixedHousehold('iss-cold'));
  const cold = performance.now() - cold0;
  for (let i = 0; i < 5; i++) await renderResidentRecord(mixedHousehold(`iss-warmup-${i}`));
  const runs: number[] = [];
  for (let i = 0; i < 50; i++) {
    const s = performance.now();
    await renderResidentRecord(mixedHousehold(`iss-warm-${i}`));
    runs.push(performance.now() - s);
  }
  runs.sort((a, b) => a - b);
  return { cold, median: runs[25]!, min: runs[0]!, max: runs[49]! };
})();

t.test('timing of a one-page document (reported only)', async (t) => {
  const r = await timing;
  t.comment(`cold first render ${r.cold.toFixed(1)} ms; warm median of 50 ${r.median.toFixed(1)} ms (min ${r.min.toFixed(1)}, max ${r.max.toFixed(1)})`);
  t.pass('measured');
});

t.test('a 7-person household prints on two pages with everything a clerk checks', async (t) => {
  await timing;
  const model = bigHousehold('iss-20261122-0001');
  const pdf = await renderResidentRecord(model);
  const file = save('big.pdf', pdf);

  t.match(run('pdfinfo', [file]), /Pages:\s+2\n/, 'two pages');
  t.match(run('qpdf', ['--check', file]), /No syntax or stream encoding errors/, 'qpdf --check passes');

  const fonts = run('pdffonts', [file]).split('\n').slice(2).filter(Boolean);
  t.ok(fonts.some((l) => /IPAmjMincho/.test(l)), 'IPAmj Mincho is used');
  for (const line of fonts) t.match(line, /\byes\s+yes\s+yes\b/, `embedded, subset, ToUnicode: ${line.split(/\s+/)[0]}`);

  const text = run('pdftotext', ['-layout', file, '-']);
  for (const s of ['住民票', '髙橋', '山﨑', '𠮷田', '𠮷之助', `${KATSURA_VARIANT}子`, 'タカハシ', '【空欄】', '令和元年5月1日', '平成元年1月8日', '昭和64年1月7日', '平成31年4月30日']) {
    t.ok(text.includes(s), `text contains ${s}`);
  }
  t.ok(text.includes('この写しは、住民票の原本と相違ないことを証明する。'), 'attestation');
  t.ok(text.includes('令和8年11月22日'), 'issue date in 和暦 (issued 2026-11-21T23:30Z = 11月22日 in Tokyo)');
  t.ok(text.includes('青嵐県東雲市長'), 'title of office with prefecture');
  for (const real of ['千葉', '東京', '新宿', '静岡', '浜松', '北海道', '札幌', '大阪']) t.notOk(text.includes(real), `no real place: ${real}`);
  t.ok(text.includes('この印は黒色です'), 'seal note');
  t.ok(text.includes('コンビニ交付'), 'kiosk mark');

  const pages = text.split('\f');
  t.ok(pages[0]!.includes('20261122 東雲市 iss-20261122-0001 001 1/2'), 'issuance number on page 1 (copy 001)');
  t.ok(pages[1]!.includes('20261122 東雲市 iss-20261122-0001 001 2/2'), 'issuance number on page 2 (copy 001)');
  t.notOk(pages[0]!.includes('相違ない'), 'attestation only on the last page');
  t.ok(pages[1]!.includes('相違ない'), 'attestation on the last page');

  t.equal(count(pdf, `/KonbiniBinding (${BINDING_PLACEHOLDER})`), 1, 'binding placeholder, literal, exactly once');
  t.equal(count(pdf, 'KonbiniBinding'), 1, 'no other binding entry');
  const info = run('pdfinfo', [file]);
  t.match(info, /Title:\s+住民票の写し/);
  t.notOk(/髙橋|一郎/.test(info), 'no personal data in the document information');
});

t.test('foreign resident: Western birth date and expiry, residence details, no 本籍', async (t) => {
  await timing;
  const pdf = await renderResidentRecord(mixedHousehold());
  const file = save('mixed.pdf', pdf);
  const text = run('pdftotext', [file, '-']);
  t.match(run('pdfinfo', [file]), /Pages:\s+1\n/);
  for (const s of ['SMITH JOHN', '1963年9月25日', '2027年9月30日', '米国', '日本人の配偶者等', 'AB12345678CD', '中長期在留者', '在留カードの番号', '001 1/1']) {
    t.ok(text.includes(s), `text contains ${s}`);
  }
  t.equal(text.split('本籍').length - 1, 1, '本籍 only for the Japanese member');

  const lean = mixedHousehold();
  lean.options = { includeRelationship: false, includeHonseki: false, includeForeignDetails: false };
  const leanText = run('pdftotext', [save('lean.pdf', await renderResidentRecord(lean)), '-']);
  t.notOk(leanText.includes('本籍'), 'no 本籍 without the option');
  t.notOk(leanText.includes('AB12345678CD'), 'no residence card number without the option');
  t.notOk(leanText.includes('夫'), 'no relationship without the option');
  t.ok(leanText.includes('（省略）'), 'the omitted relationship says so');
});

t.test('individual layout: one page per person', async (t) => {
  await timing;
  const model = mixedHousehold();
  model.options.layout = 'individual';
  const file = save('individual.pdf', await renderResidentRecord(model));
  t.match(run('pdfinfo', [file]), /Pages:\s+2\n/);
});

t.test('renderAndBind seals the binding; any other byte changed breaks it', async (t) => {
  await timing;
  const model = bigHousehold('iss-20261122-0009');
  const csh = cardSerialHmac(model.issuanceId, '0a1b2c3d4e5f');
  const { pdf, binding } = await renderAndBind(model, csh);
  t.equal(binding.issuanceId, model.issuanceId);
  t.same(readBinding(pdf), binding, 'readBinding round-trips');
  t.equal(count(pdf, BINDING_PLACEHOLDER), 0, 'placeholder replaced');
  t.match(run('qpdf', ['--check', save('bound.pdf', pdf)]), /No syntax or stream encoding errors/, 'still a valid PDF');

  const valueAt = pdf.lastIndexOf(Buffer.from('/KonbiniBinding (', 'latin1'));
  const positions = [0, 9, 500, Math.floor(pdf.length / 3), Math.floor(pdf.length / 2), valueAt - 1, pdf.length - 40, pdf.length - 1];
  for (const at of positions) {
    const tampered = Buffer.from(pdf);
    tampered[at] = tampered[at]! ^ 0x01;
    t.throws(() => readBinding(tampered), { code: 'DOCUMENT_HASH_MISMATCH' }, `byte ${at} changed`);
  }
});

t.test('documents rendered at the same time never mix', async (t) => {
  await timing;
  const ids = ['iss-par-a', 'iss-par-b', 'iss-par-c', 'iss-par-d'];
  const models = ids.map((id, i) => (i % 2 ? mixedHousehold(id) : bigHousehold(id)));
  const pdfs = await Promise.all(models.map((m) => renderResidentRecord(m)));
  pdfs.forEach((pdf, i) => {
    const text = run('pdftotext', [save(`par-${i}.pdf`, pdf), '-']);
    t.ok(text.includes(ids[i]!), `document ${i} carries its own issuance id`);
    for (const other of ids.filter((_, k) => k !== i)) t.notOk(text.includes(other), `document ${i} has no trace of ${other}`);
    t.equal(text.includes('SMITH JOHN'), i % 2 === 1, `document ${i} has its own persons`);
  });
});

/** Five persons: four on page 1, the fifth and the attestation on page 2. */
function fivePersons(issuanceId: string, copies: number): ResidentRecordModel {
  const m = bigHousehold(issuanceId);
  m.persons = m.persons.slice(0, 5);
  m.copies = copies;
  return m;
}

const pageText = (file: string, n: number) => run('pdftotext', ['-f', String(n), '-l', String(n), '-layout', file, '-']);
const ATTESTATION = 'この写しは、住民票の原本と相違ないことを証明する。';

t.test('three copies are one PDF: each copy complete, each page numbered within its copy', async (t) => {
  await timing;
  const id = 'iss-20261122-0003';
  const model = fivePersons(id, 3);
  const csh = cardSerialHmac(id, '0a1b2c3d4e5f');
  const { pdf, binding } = await renderAndBind(model, csh);
  const file = save('three.pdf', pdf);

  t.match(run('pdfinfo', [file]), /Pages:\s+6\n/, '3 copies × 2 pages = 6 pages');
  t.match(run('qpdf', ['--check', file]), /No syntax or stream encoding errors/, 'qpdf --check passes');
  t.same(readBinding(pdf), binding, 'one document, one binding');
  t.equal(count(pdf, 'KonbiniBinding'), 1, 'exactly one binding entry');

  const whole = run('pdftotext', ['-layout', file, '-']);
  t.equal(whole.split(ATTESTATION).length - 1, 3, 'the attestation exactly 3 times');

  for (let n = 1; n <= 6; n++) {
    const copy = Math.ceil(n / 2);
    const page = n % 2 === 1 ? 1 : 2;
    const text = pageText(file, n);
    const line = `20261122 東雲市 ${id} 00${copy} ${page}/2`;
    t.ok(text.includes(line), `page ${n} reads ${line}`);
    t.equal(text.split(id).length - 1, 1, `page ${n} carries one issuance line`);
    t.ok(text.includes('住民票'), `page ${n} has the title`);
    t.ok(text.includes('世帯主') && text.includes('東雲ハイツ101号'), `page ${n} has the address and head of household`);
    if (page === 1) {
      t.notOk(text.includes('相違ない'), `page ${n}: no attestation on a copy's first page`);
      for (const kana of ['イチロウ', 'ハナコ', 'キチノスケ', 'カツコ']) t.ok(text.includes(kana), `page ${n} lists ${kana}`);
      t.notOk(text.includes('ヤマザキ'), `page ${n}: the fifth person is on the next page`);
    } else {
      t.ok(text.includes(ATTESTATION), `page ${n}: attestation on the last page of copy ${copy}`);
      t.ok(text.includes('ヤマザキ'), `page ${n}: the fifth person`);
      t.ok(text.includes('令和8年11月22日'), `page ${n}: date of the attestation`);
      t.ok(text.includes('青嵐県東雲市長'), `page ${n}: title of office`);
      t.ok(text.includes('この印は黒色です'), `page ${n}: seal note`);
      // the seal box is the right end of the content area; every character, the right
      // column included, lies inside its inner frame (4.4 pt in from the edge)
      const right = 595.28 - 42;
      const words = [...run('pdftotext', ['-f', String(n), '-l', String(n), '-bbox', file, '-']).matchAll(/xMin="([\d.]+)"[^>]*xMax="([\d.]+)"[^>]*>(東|雲|市|長|之|印)</g)];
      const sealChars = words.filter((w) => Number(w[1]) > right - SEAL_SIZE_PT);
      t.equal(sealChars.length, 6, `page ${n}: the six seal characters`);
      t.ok(sealChars.every((w) => Number(w[1]) >= right - SEAL_SIZE_PT + 4.4 && Number(w[2]) <= right - 4.4), `page ${n}: seal characters inside the frame`);
    }
  }
});

t.test('one copy: unchanged pages, numbered as copy 001', async (t) => {
  await timing;
  const file = save('one.pdf', await renderResidentRecord(fivePersons('iss-20261122-0004', 1)));
  t.match(run('pdfinfo', [file]), /Pages:\s+2\n/);
  t.ok(pageText(file, 1).includes('20261122 東雲市 iss-20261122-0004 001 1/2'));
  t.ok(pageText(file, 2).includes('20261122 東雲市 iss-20261122-0004 001 2/2'));
  t.equal(run('pdftotext', [file, '-']).split(ATTESTATION).length - 1, 1, 'the attestation once');
});

t.test('individual layout with two copies: one page per person, numbered within each copy', async (t) => {
  await timing;
  const model = mixedHousehold('iss-20261122-0005');
  model.options.layout = 'individual';
  model.copies = 2;
  const file = save('individual-2.pdf', await renderResidentRecord(model));
  t.match(run('pdfinfo', [file]), /Pages:\s+4\n/);
  const expect = ['001 1/2', '001 2/2', '002 1/2', '002 2/2'];
  expect.forEach((suffix, i) => {
    const text = pageText(file, i + 1);
    t.ok(text.includes(`iss-20261122-0005 ${suffix}`), `page ${i + 1}: ${suffix}`);
    t.equal(text.includes('相違ない'), i % 2 === 1, `page ${i + 1}: attestation only on a copy's last page`);
  });
});

t.test('copies out of range are refused', async (t) => {
  for (const copies of [0, 11, 1.5]) {
    await t.rejects(renderResidentRecord(fivePersons('iss-bad', copies)), { name: 'KonbiniError', code: 'COPIES_OUT_OF_RANGE' }, `${copies} copies`);
  }
});

t.test('the layout check refuses numbering that would be wrong', async (t) => {
  const model = fivePersons('iss-layout', 2);
  const good = () =>
    new Map<string, number[]>([
      ['konbini-copy-1', [1]],
      ['konbini-attestation-1', [2]],
      ['konbini-seal-note-1', [2]],
      ['konbini-copy-2', [3]],
      ['konbini-attestation-2', [4]],
      ['konbini-seal-note-2', [4]],
    ]);
  t.doesNotThrow(() => checkCopyLayout(model, { pageCount: 4, pagesOf: good() }));
  t.throws(() => checkCopyLayout(model, { pageCount: 5, pagesOf: good() }), { code: 'INTERNAL' }, 'pages not divisible by copies');
  const late = good();
  late.set('konbini-copy-2', [4]);
  t.throws(() => checkCopyLayout(model, { pageCount: 4, pagesOf: late }), { code: 'INTERNAL' }, 'a copy starting late');
  const split = good();
  split.set('konbini-attestation-1', [1, 2]);
  t.throws(() => checkCopyLayout(model, { pageCount: 4, pagesOf: split }), { code: 'INTERNAL' }, 'an attestation not on the copy\'s last page');
  const missing = good();
  missing.delete('konbini-seal-note-2');
  t.throws(() => checkCopyLayout(model, { pageCount: 4, pagesOf: missing }), { code: 'INTERNAL' }, 'a seal not found');
});

t.test('timing of 1 vs 10 copies of a two-page record (reported only)', async (t) => {
  await timing;
  const result: string[] = [];
  for (const copies of [1, 10]) {
    for (let i = 0; i < 3; i++) await renderResidentRecord(fivePersons(`iss-warmup-${copies}-${i}`, copies));
    const runs: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 15; i++) {
      const s = performance.now();
      bytes = (await renderResidentRecord(fivePersons(`iss-copies-${copies}-${i}`, copies))).length;
      runs.push(performance.now() - s);
    }
    runs.sort((a, b) => a - b);
    result.push(`${copies} cop${copies === 1 ? 'y' : 'ies'} (${copies * 2} pages, ${(bytes / 1024).toFixed(0)} KiB): warm median of 15 ${runs[7]!.toFixed(1)} ms (min ${runs[0]!.toFixed(1)}, max ${runs[14]!.toFixed(1)})`);
  }
  t.comment(result.join('; '));
  t.pass('measured');
});
