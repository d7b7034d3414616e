/**
 * Render and sign one-page 住民票 in a warm process; print the numbers as JSON.
 *
 *   node --import tsx --conditions=konbini-source city-cert-server/bench/render-sign.ts [--pki var/pki] [--n 300]
 *
 * - render:        pdfmake with the shared parsed fonts + Info + binding (what an unsigned server does)
 * - render+sign:   the same, plus signature field, binding sealed inside, CMS signed by SoftHSM2
 * - sign:          the signing part alone on an already rendered PDF
 * - bare pdfkit:   pdfkit drawing the same strings in the same fonts (the same parsed
 *                  font objects), no layout engine: the floor for this text
 *
 * - with marks:    render+sign with the anti-forgery marks (地紋, back page with the signed 2D code), as the server issues
 * - per type:      render+sign with marks for one sample of each type the city renders
 *                  (scripts/samples.ts), so every type's cost is seen, not only the 住民票's
 * - pool:          throughput (documents/s) of render+sign with marks, all submitted at once,
 *                  in the main thread vs a worker pool of 1 and 2 workers (binding and signing in the main thread)
 *
 * The SoftHSM2 token is made for the run in a temporary directory from the dev PKI.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cardSerialHmac, sealBinding } from '@konbini/protocol';
import { FONT_FILES, fontHandle, type FontName } from '../src/render/fonts.js';
import { bindAndSign, renderAndBind, renderResidentRecord, residentRecordDocument } from '../src/render/resident-record.js';
import { RenderPool } from '../src/pool/pool.js';
import { contentSha256, makeMark, markSignerOf } from '../src/verify/mark.js';
import type { ResidentRecordModel } from '../src/render/model.js';
import { initHsm, Pkcs11Signer, signerConfigFromHsmDir } from '../src/sign/index.js';
import { mixedHousehold } from '../test/render/sample.js';
import { SAMPLES } from '../scripts/samples.js';
import { renderCertificatePdf } from '../src/render/certificate.js';
import type { CertificateModel } from '../src/render/model.js';

const { values } = parseArgs({ options: { pki: { type: 'string', default: 'var/pki' }, n: { type: 'string', default: '300' }, 'pool-docs': { type: 'string', default: '120' }, series: { type: 'string' } } });
/** `--series render-sign` (comma-separated: render, render-sign, sign, bare, marks, per-type, pool): run only those (for profiling); default all. */
const SERIES = values.series?.split(',');
const wanted = (name: string) => !SERIES || SERIES.includes(name);
const POOL_DOCS = Number(values['pool-docs']);
const N = Number(values.n);
const WARMUP = 30;

interface Stats {
  n: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  /** CPU time of this process (user + system) per document: less sensitive to other load on the machine. */
  cpuMedianMs: number;
  cpuP99Ms: number;
  /** Fastest tenth, wall and CPU: what a document costs when it gets a core to itself (a shared machine inflates the median). */
  p10Ms: number;
  cpuP10Ms: number;
}
const r3 = (x: number) => Math.round(x * 1000) / 1000;
function quantile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
/** a / b to two decimals, or null when a series was not run. */
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : Math.round((a / b) * 100) / 100);
async function series(name: string, fn: (i: number) => Promise<unknown> | unknown): Promise<Stats | null> {
  return wanted(name) ? measure(fn) : null;
}
async function measure(fn: (i: number) => Promise<unknown> | unknown): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < N; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn(i);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return {
    n: N,
    medianMs: r3(quantile(wall, 0.5)),
    p99Ms: r3(quantile(wall, 0.99)),
    meanMs: r3(wall.reduce((a, b) => a + b, 0) / N),
    minMs: r3(Math.min(...wall)),
    cpuMedianMs: r3(quantile(cpu, 0.5)),
    cpuP99Ms: r3(quantile(cpu, 0.99)),
    p10Ms: r3(quantile(wall, 0.1)),
    cpuP10Ms: r3(quantile(cpu, 0.1)),
  };
}

/* ---- bare pdfkit: the strings of the document definition, in their fonts ---- */
interface Run {
  text: string;
  font: FontName;
  size: number;
}
function runsOf(node: unknown, font: FontName, size: number, out: Run[]): Run[] {
  if (typeof node === 'string') {
    out.push({ text: node, font, size });
  } else if (Array.isArray(node)) {
    for (const n of node) runsOf(n, font, size, out);
  } else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const f = (typeof o.font === 'string' && o.font in FONT_FILES ? o.font : font) as FontName;
    const z = typeof o.fontSize === 'number' ? o.fontSize : size;
    for (const [k, v] of Object.entries(o)) {
      if (['text', 'stack', 'columns', 'table', 'body', 'content', 'header', 'footer'].includes(k)) runsOf(v, f, z, out);
    }
  }
  return out;
}

const req = createRequire(createRequire(import.meta.url).resolve('pdfmake'));
const PDFDocument = req('pdfkit') as new (o: object) => {
  registerFont(name: string, src: Buffer): void;
  font(name: string): { fontSize(n: number): { text(t: string, x: number, y: number, o?: object): void } };
  addPage(): void;
  on(ev: string, cb: (c?: Buffer) => void): void;
  end(): void;
};
function barePdfkit(runs: Run[]): Promise<Buffer> {
  return new Promise((done) => {
    const doc = new PDFDocument({ size: 'A4', margin: 40, compress: true, info: {} });
    for (const name of Object.keys(FONT_FILES) as FontName[]) doc.registerFont(name, fontHandle(name));
    const chunks: Buffer[] = [];
    doc.on('data', (c) => chunks.push(c!));
    doc.on('end', () => done(Buffer.concat(chunks)));
    let y = 40;
    for (const r of runs) {
      doc.font(r.font).fontSize(r.size).text(r.text, 40, y, { width: 515, lineBreak: false });
      y += r.size * 1.25;
      if (y > 800) y = 40; // one page: overdraw rather than paginate
    }
    doc.end();
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'konbini-bench-hsm-'));
  try {
    const model0 = mixedHousehold();
    const hsm = initHsm({ pki: resolve(values.pki!), out: join(work, 'hsm') });
    const city = hsm.tokens[0]!.cityCode;
    const signer = Pkcs11Signer.open(signerConfigFromHsmDir(hsm.dir, city));
    const model = (i: number): ResidentRecordModel => ({ ...model0, issuanceId: `bench-${i}` });
    const hmac = (m: ResidentRecordModel) => cardSerialHmac(m.issuanceId, '00c0ffee');

    const one = await renderAndBind(model(0), hmac(model(0)), signer);
    // counted before signing: the signature revision rewrites page 1 (to add its widget)
    const pages = ((await renderResidentRecord(model0)).toString('latin1').match(/\/Type \/Page\b/g) ?? []).length;
    const runs = runsOf(residentRecordDocument(model0).content, 'IPAmj', 10, []);

    // interleave nothing: each series runs on its own, in this order, in one warm process
    const render = await series('render', (i) => renderAndBind(model(i), hmac(model(i))));
    const renderSign = await series('render-sign', (i) => renderAndBind(model(i), hmac(model(i)), signer));
    const unsigned = await renderResidentRecord(model0);
    const sign = await series('sign', () => {
      const p = signer.prepare(unsigned, model0.issuedAt);
      return p.finish(sealBinding(p.pdf, model0.issuanceId, hmac(model0)).pdf);
    });
    const bare = await series('bare', () => barePdfkit(runs));
    const markSigner = markSignerOf(signer);
    const marked = (i: number): ResidentRecordModel => {
      const m = model(i);
      return { ...m, antiForgery: makeMark({ cityCode: city, issuanceId: m.issuanceId, verificationNumber: String(1234567890123456 + i), contentSha256: contentSha256(m) }, markSigner) };
    };
    const withMarks = await series('marks', (i) => renderAndBind(marked(i), hmac(model(i)), signer));
    const onePass = async (render: (m: ResidentRecordModel) => Promise<Buffer>) => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: POOL_DOCS }, async (_, i) => {
        const m = marked(i);
        return bindAndSign(await render(m), m, hmac(m), signer);
      }));
      return (performance.now() - t0) / 1000;
    };
    const throughput = async (workers: number) => {
      const pool = workers > 0 ? new RenderPool({ size: workers }) : null;
      await pool?.ready();
      const render = pool ? (m: ResidentRecordModel) => pool.render(m) : (m: ResidentRecordModel) => renderResidentRecord(m);
      await onePass(render); // warm: JIT, first documents of each worker
      const seconds = await onePass(render);
      await pool?.close();
      return { workers, documents: POOL_DOCS, seconds: r3(seconds), docsPerSecond: Math.round((POOL_DOCS / seconds) * 10) / 10 };
    };
    // one sample of each type, as issued (marks, signed): the 住民票 above, the others here
    const PER_TYPE = ['resident-entries-self-honseki', 'seal', 'tax-income-salary', 'koseki-full'];
    const perType: Record<string, Stats & { pages: number }> = {};
    for (const name of wanted('per-type') ? PER_TYPE : []) {
      const base = SAMPLES.find(([n]) => n === name)![1];
      const at = (i: number): CertificateModel => {
        const m = { ...base, issuanceId: `bench-${name}-${i}` } as CertificateModel;
        return { ...m, antiForgery: makeMark({ cityCode: city, issuanceId: m.issuanceId, verificationNumber: String(1234567890123456 + i), contentSha256: contentSha256(m) }, markSigner) } as CertificateModel;
      };
      const pagesOf = ((await renderCertificatePdf(at(0))).toString('latin1').match(/\/Type \/Page\b/g) ?? []).length;
      perType[`${base.certType} (${name})`] = { ...(await measure((i) => renderAndBind(at(i), hmac(model(i)), signer))), pages: pagesOf };
    }
    const pool = wanted('pool') ? { mainThread: await throughput(0), oneWorker: await throughput(1), twoWorkers: await throughput(2) } : null;
    signer.close();

    const result = {
      bench: 'render-sign',
      document: { type: 'resident-record', persons: model0.persons.length, pages, bytesSigned: one.pdf.length, textRuns: runs.length },
      node: process.version,
      nodeFlags: process.execArgv.filter((a) => !a.startsWith('--import') && !a.startsWith('--conditions')),
      cpus: (await import('node:os')).cpus().length,
      loadAverage1m: (await import('node:os')).loadavg()[0],
      warmup: WARMUP,
      render,
      renderSign,
      sign,
      barePdfkit: bare,
      renderSignWithMarks: withMarks,
      perTypeWithMarks: perType,
      pool,
      ratios: {
        renderSignOverBarePdfkit: ratio(renderSign?.medianMs, bare?.medianMs),
        renderOverBarePdfkit: ratio(render?.medianMs, bare?.medianMs),
        marksOverPlain: ratio(withMarks?.medianMs, renderSign?.medianMs),
        renderSignWithMarksOverBarePdfkit: ratio(withMarks?.medianMs, bare?.medianMs),
        twoWorkersOverOne: ratio(pool?.twoWorkers.docsPerSecond, pool?.oneWorker.docsPerSecond),
      },
      target: { renderSignMedianMs: 12, met: renderSign ? renderSign.medianMs <= 12 : null, metWithMarks: withMarks ? withMarks.medianMs <= 12 : null },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
