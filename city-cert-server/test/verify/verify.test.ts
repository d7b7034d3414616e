/**
 * Anti-forgery: the 地紋 under every page (text extraction unchanged, light), the back
 * page per copy with a 2D code that decodes (rendered with pdftoppm, read with jsQR)
 * to the issuance number, the content hash and a signature by the city's HSM key, and
 * the verification endpoint and CLI: authentic yes, altered hash no, unknown number
 * no, and nothing of the certificate in any answer.
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import jsQR from 'jsqr';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/index.js';
import { renderCertificatePdf } from '../../src/render/certificate.js';
import { buildVerifyApp } from '../../src/verify/app.js';
import { contentSha256, makeMark, parseQrText, qrSignatureValid } from '../../src/verify/mark.js';
import { initHsm, signerConfigFromHsmDir } from '../../src/sign/index.js';
import { call } from '../helpers/client.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { makeTestPki } from '../helpers/pki.js';
import { mixedHousehold } from '../render/sample.js';
import { CITY, makeLgpki, tempDir } from '../sign/helpers.js';

const work = tempDir('city-cert-verify-');
const pkiDir = makeLgpki(work);
initHsm({ pki: pkiDir, out: join(work, 'hsm') });
const docsignCert = readFileSync(join(pkiDir, 'lgpki', `docsign-${CITY}.crt.pem`), 'utf8');
const pki = makeTestPki();
const now = new Date();
const { dataset } = testDataset(now);

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  return typeof a === 'object' && a ? a.port : 0;
}
const app = await buildApp({ tls: { ...pki.server, ca: pki.ca }, dataset, now: () => now, signer: signerConfigFromHsmDir(join(work, 'hsm'), CITY), log: { level: 'silent' } });
const port = await listen(app);
const verifier = await buildVerifyApp({ db: app.replica, tls: pki.server, log: { level: 'silent' } });
const verifyPort = await listen(verifier);
t.teardown(async () => {
  await verifier.close();
  await app.close();
  pki.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const file = (name: string, data: Buffer) => {
  const f = join(work, name);
  writeFileSync(f, data);
  return f;
};
const pageText = (pdf: string, page: number) => execFileSync('pdftotext', ['-layout', '-f', String(page), '-l', String(page), pdf, '-'], { encoding: 'utf8' });
/** A page as grey pixels (pdftoppm PGM). */
function pagePixels(pdf: string, page: number, dpi: number): { w: number; h: number; px: Buffer } {
  const pgm = execFileSync('pdftoppm', ['-f', String(page), '-l', String(page), '-r', String(dpi), '-gray', pdf], { maxBuffer: 64 << 20 });
  const m = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 40).toString('latin1'))!;
  const [w, h] = [Number(m[1]), Number(m[2])];
  return { w, h, px: pgm.subarray(m[0].length, m[0].length + w * h) };
}
const verify = (body: unknown) => call({ port: verifyPort, ca: pki.ca, path: '/v1/verify', body });

const issuanceId = randomUUID();
const issued = await call({ port, ca: pki.ca, client: pki.centre, path: '/v1/issue', body: { issuanceId, kioskId: 'K0001', cardSerial: SERIAL.takahashi, certType: 'resident-record', options: { scope: 'household' }, copies: 2 } });
if (issued.status !== 200) console.error('ISSUE', issued.status, issued.body.toString());
const pdfPath = file('issued.pdf', issued.body);
const pdfSha = createHash('sha256').update(issued.body).digest('hex');

t.test('the issued document: each copy has a back page with the 2D code and the 確認番号', async (t) => {
  t.equal(issued.status, 200);
  const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [pdfPath], { encoding: 'utf8' }))![1]);
  t.equal(pages % 2, 0, 'two copies of the same length');
  const per = pages / 2;
  for (const back of [per, pages]) {
    const text = pageText(pdfPath, back);
    t.match(text, /裏面/, `page ${back} is a back page`);
    t.match(text, /確認番号/);
  }
  t.notMatch(pageText(pdfPath, 1), /確認番号/, 'the front carries no code');
  t.match(spawnSync('pdfsig', [pdfPath], { encoding: 'utf8' }).stdout, 'Signature is Valid', 'still a valid PAdES signature');
});

let qr = '';
t.test('the 2D code decodes from the rendered page: issuance number, content hash, the city signature', async (t) => {
  const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [pdfPath], { encoding: 'utf8' }))![1]);
  // as a scanner or a phone would see the paper: 200 and 300 dpi (a module is 3.8 and 5.7
  // pixels; below ≈ 3.5 pixels per module jsQR misses version-17 codes now and then)
  const read = (dpi: number) => {
    const { w, h, px } = pagePixels(pdfPath, pages / 2, dpi);
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = px[i]!;
      rgba[i * 4 + 3] = 255;
    }
    return jsQR(rgba, w, h)?.data ?? '';
  };
  qr = read(300);
  t.ok(qr, 'jsQR finds the code on the page image (300 dpi)');
  t.equal(read(200), qr, 'and at 200 dpi');
  const images = execFileSync('pdfimages', ['-list', '-f', String(pages / 2), '-l', String(pages / 2), pdfPath], { encoding: 'utf8' });
  t.match(images, /\bimage\s+372\s+372\s+gray\s+1\s+1\b/, 'the code is one 1-bit image, 4 pixels per module (not ≈ 1,800 vector rectangles)');
  const f = parseQrText(qr);
  t.ok(f, qr.slice(0, 60));
  t.equal(f?.issuanceId, issuanceId);
  t.equal(f?.cityCode, '999997');
  t.ok(qrSignatureValid(qr, docsignCert), 'signed by the city document-signing key (offline check)');
  t.notOk(qrSignatureValid(qr.replace(/\|([0-9a-f])/, (_m, c: string) => `|${c === '0' ? '1' : '0'}`), docsignCert), 'a changed field breaks the signature');
  const printed = pageText(pdfPath, pages / 2).replace(/\s+/g, '');
  t.ok(printed.includes(f!.verificationNumber.replace(/(\d{4})(?=\d)/g, '$1-')), 'the readable number is the one in the code');
  t.notMatch(qr, /髙橋|緑町|一郎/, 'no personal data in the code');
});

t.test('verification: authentic yes (PDF hash or code hash), altered hash no, unknown number no, nothing else said', async (t) => {
  const f = parseQrText(qr)!;
  const printedNumber = f.verificationNumber.replace(/(\d{4})(?=\d)/g, '$1-');
  const answers = [
    [{ number: printedNumber, hash: pdfSha }, true],
    [{ number: f.verificationNumber, hash: f.contentSha256 }, true],
    [{ number: issuanceId, hash: pdfSha }, true],
    [{ number: printedNumber, hash: pdfSha.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) }, false],
    [{ number: printedNumber, hash: createHash('sha256').update('x').digest('hex') }, false],
    [{ number: '1111-2222-3333-4444', hash: pdfSha }, false],
    [{ number: randomUUID(), hash: pdfSha }, false],
  ] as const;
  const bodies: string[] = [];
  for (const [body, want] of answers) {
    const r = await verify(body);
    t.equal(r.status, 200);
    t.same(r.json(), { authentic: want }, JSON.stringify(body));
    bodies.push(r.body.toString('utf8'));
  }
  t.ok(bodies.every((b) => b === '{"authentic":true}' || b === '{"authentic":false}'), 'the answer is one boolean, nothing of the certificate');
  const bad = await verify({ number: printedNumber, hash: 'zz' });
  t.equal(bad.status, 400);
  t.same(Object.keys(bad.json()).sort(), ['code', 'message', 'messageJa']);
  // a document reported as not printed was never on paper: not authentic
  const other = randomUUID();
  const r2 = await call({ port, ca: pki.ca, client: pki.centre, path: '/v1/issue', body: { issuanceId: other, kioskId: 'K0001', cardSerial: SERIAL.takahashi, certType: 'resident-record', options: {}, copies: 1 } });
  const sha2 = createHash('sha256').update(r2.body).digest('hex');
  t.same((await verify({ number: other, hash: sha2 })).json(), { authentic: true });
  await call({ port, ca: pki.ca, client: pki.centre, path: '/v1/outcome', body: { issuanceId: other, outcome: 'failed', copiesPrinted: 0 } });
  t.same((await verify({ number: other, hash: sha2 })).json(), { authentic: false }, 'failed print: not authentic');
});

t.test('CLI: city-cert verify', async (t) => {
  const cli = resolve(import.meta.dirname, '../../src/cli.ts');
  const ca = file('ca.pem', Buffer.from(pki.ca));
  // asynchronously: the endpoint answering it runs in this process
  const run = (hash: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, 'verify', '--number', issuanceId, '--hash', hash, '--url', `https://127.0.0.1:${verifyPort}`, '--ca', ca]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (status) => done({ status, stdout, stderr }));
    });
  const yes = await run(pdfSha);
  t.equal(yes.status, 0, yes.stderr);
  t.equal(yes.stdout, 'authentic\n');
  const no = await run('0'.repeat(64));
  t.equal(no.status, 1);
  t.equal(no.stdout, 'not authentic\n');
});

t.test('地紋: under the text (pdftotext unchanged), light, carrying 複写 in coarse dots', async (t) => {
  const plain = mixedHousehold();
  const marked = { ...mixedHousehold(), antiForgery: makeMark({ cityCode: CITY, issuanceId: plain.issuanceId, verificationNumber: '1234567890123456', contentSha256: contentSha256(plain) }, null) };
  const a = file('plain.pdf', await renderCertificatePdf(plain));
  const b = file('marked.pdf', await renderCertificatePdf(marked));
  t.equal(pageText(b, 1), pageText(a, 1), 'front page text exactly as without the tint');
  t.match(execFileSync('pdfimages', ['-list', '-f', '1', '-l', '1', b], { encoding: 'utf8' }), /gray/, 'the tint is an image');
  // the top margin (above the header line) holds only tint: light grey, not white, not dark
  const { w, px } = pagePixels(b, 1, 100);
  let sum = 0;
  let n = 0;
  let min = 255;
  for (let y = 2; y < 30; y++) {
    for (let x = 80; x < w - 80; x++) {
      const v = px[y * w + x]!;
      sum += v;
      n++;
      min = Math.min(min, v);
    }
  }
  const mean = sum / n;
  t.ok(mean > 225 && mean < 254, `background mean grey ${mean.toFixed(1)} (light, but there)`);
  t.ok(min > 150, `no dark pixel in the tint (darkest ${min})`);
  const plainPx = pagePixels(a, 1, 100).px;
  t.ok(plainPx.subarray(2 * w, 30 * w).every((v) => v === 255), 'without marks the margin is white');
});
