/**
 * The 2D code of the back page: the quick mask choice (render/qr-mask.ts) gives the
 * very symbol the qrcode library would make, and the code image reads back.
 */
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import jsQR from 'jsqr';
import QRCode from 'qrcode';
import { formatBits, qrSymbol } from '../../src/render/qr-mask.js';
import { qrPng, QR_PX_PER_MODULE } from '../../src/render/verification-page.js';
import { inflateSync } from 'node:zlib';

const markText = () =>
  `KONBINI-VERIFY-1|999997|${randomUUID()}|${String(Math.floor(Math.random() * 9e15) + 1e15)}|${randomBytes(32).toString('hex')}|${randomBytes(256).toString('base64url')}`;

t.test('the same symbol and mask as the library, for many texts and sizes', async (t) => {
  const masks = new Set<number>();
  const texts = [...Array.from({ length: 40 }, markText), 'KONBINI-VERIFY-1|999997|x|1|unsigned', ...Array.from({ length: 40 }, (_, i) => randomBytes(1 + i * 7).toString('base64url'))];
  for (const text of texts) {
    for (const level of ['L', 'M', 'H'] as const) {
      const seg = [{ data: Buffer.from(text), mode: 'byte' as const }];
      const lib = QRCode.create(seg, { errorCorrectionLevel: level });
      const ours = qrSymbol(seg, level);
      masks.add(ours.maskPattern);
      if (ours.maskPattern !== lib.maskPattern || Buffer.compare(Buffer.from(ours.data), Buffer.from(lib.modules.data)) !== 0) {
        t.fail(`differs for a ${text.length}-char text at level ${level}: mask ${ours.maskPattern} vs ${lib.maskPattern}`);
        return;
      }
    }
  }
  t.pass(`${texts.length * 3} symbols identical`);
  t.ok(masks.size >= 6, `the texts exercise most masks (${[...masks].sort().join(',')})`);
  // the format information of the standard's example (M, mask 5 → 100000011001110)
  t.equal(formatBits('M', 5).toString(2).padStart(15, '0'), '100000011001110');
});

t.test('the code image: 1-bit, quiet zone, reads back as the text', async (t) => {
  const text = markText();
  const png = qrPng(text);
  t.same([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  const w = png.readUInt32BE(16);
  t.equal(png[24], 1, 'bit depth 1');
  t.equal(w % QR_PX_PER_MODULE, 0);
  // decode the image's own pixels (IDAT rows with filters 0 and 2) and read it
  const idatLen = png.readUInt32BE(33);
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  const stride = Math.ceil(w / 8);
  const rgba = new Uint8ClampedArray(w * w * 4);
  const row = Buffer.alloc(stride);
  for (let y = 0; y < w; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) row[i] = f === 2 ? (row[i]! + src[i]!) & 0xff : src[i]!;
    for (let x = 0; x < w; x++) {
      const v = (row[x >> 3]! >> (7 - (x & 7))) & 1 ? 255 : 0;
      rgba.fill(v, (y * w + x) * 4, (y * w + x) * 4 + 3);
      rgba[(y * w + x) * 4 + 3] = 255;
    }
  }
  t.equal(rgba[0], 255, 'the quiet zone is paper');
  t.equal(jsQR(rgba, w, w)?.data, text);
});
