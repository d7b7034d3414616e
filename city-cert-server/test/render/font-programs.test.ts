/**
 * Kept font programs of the fixed-text fonts (render/font-programs.ts): the embedded
 * font files are the same bytes as pdfkit writes without them, on the first document
 * with a glyph set (fontkit encodes it) and on the next ones (kept); IPAmj's is the
 * same program deflated faster; the text still extracts and qpdf finds no error.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { renderPdf } from '../../src/render/fonts.js';

const dir = mkdtempSync(join(tmpdir(), 'konbini-font-programs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Each embedded font file (raw stream bytes, as written), by font name without the subset tag. */
function fontFiles(name: string, pdf: Buffer): Map<string, string> {
  const file = join(dir, name);
  writeFileSync(file, pdf);
  const json = JSON.parse(execFileSync('qpdf', ['--json', '--json-stream-data=inline', '--decode-level=none', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as {
    qpdf: [unknown, Record<string, { value?: Record<string, unknown>; stream?: { dict: Record<string, unknown>; data?: string } }>];
  };
  const objects = json.qpdf[1];
  const out = new Map<string, string>();
  for (const o of Object.values(objects)) {
    const d = o.value;
    if (d?.['/Type'] !== '/FontDescriptor') continue;
    const stream = objects[`obj:${String(d['/FontFile2'])}`]!.stream!;
    t.equal(stream.dict['/Filter'], '/FlateDecode', 'font file deflated');
    out.set(String(d['/FontName']).replace(/^\/[A-Z]{6}\+/, ''), stream.data!);
  }
  return out;
}

/** A document with wording in both IPAex fonts that no other test prints (a glyph set new to this process). */
function wording(): object {
  return {
    pageSize: 'A4',
    content: [
      { text: '鬱蒼と茂る欅並木の薔薇', font: 'IPAexGothic', fontSize: 12 },
      { text: '麒麟が檸檬を齧る', font: 'IPAexMincho', fontSize: 11 },
      { text: '髙橋　𠮷之助', font: 'IPAmj', fontSize: 11 },
    ],
  };
}

t.test('the first and later documents embed the same font files as pdfkit alone', async (t) => {
  const first = fontFiles('first.pdf', await renderPdf(wording()));
  const again = fontFiles('again.pdf', await renderPdf(wording()));
  const plain = fontFiles('plain.pdf', await renderPdf(wording(), { keptFontPrograms: false }));
  t.same([...first.keys()].sort(), ['IPAexGothic', 'IPAexMincho', 'IPAmjMincho']);
  for (const [font, bytes] of plain) {
    if (font === 'IPAmjMincho') {
      // deflated at a faster level: the same font program, a slightly longer stream
      const program = inflateSync(Buffer.from(bytes, 'base64'));
      for (const doc of [first, again]) {
        const stream = Buffer.from(doc.get(font)!, 'base64');
        t.same(inflateSync(stream), program, `${font}: same font program`);
        t.ok(stream.length < Buffer.from(bytes, 'base64').length * 1.05, `${font}: ${stream.length} bytes deflated, pdfkit's ${Buffer.from(bytes, 'base64').length}`);
      }
      continue;
    }
    t.equal(first.get(font), bytes, `${font}: first document, same stream`);
    t.equal(again.get(font), bytes, `${font}: next document, same stream`);
  }
  const text = execFileSync('pdftotext', [join(dir, 'again.pdf'), '-'], { encoding: 'utf8' });
  t.match(text, '鬱蒼と茂る欅並木の薔薇');
  t.match(text, '麒麟が檸檬を齧る');
  t.match(text, /髙橋\s𠮷之助/u);
  const check = execFileSync('qpdf', ['--check', join(dir, 'again.pdf')], { encoding: 'utf8' });
  t.match(check, 'No syntax or stream encoding errors');
});
