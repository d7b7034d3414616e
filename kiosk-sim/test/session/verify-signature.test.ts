/**
 * The kiosk verifies the city's PAdES signature itself before it prints (issue 7,
 * DESIGN §4 step 11): ByteRange digest, CMS signature with the embedded signer
 * certificate, chain to the LGPKI-sim CA of the dev PKI. Documents come from the
 * real city in this process (SoftHSM signer); the bad ones are made from them.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BINDING_PLACEHOLDER, BINDING_WIDTH, cardSerialHmac, cardSerialOf, sealBinding, signatureByteRange, verifyBinding } from '@konbini/protocol';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { InProcessReader } from '../../src/reader/in-process-reader.js';
import { TrayPrinter } from '../../src/printer/printer.js';
import { runIssuance } from '../../src/session/issuance.js';
import { devDocumentTrust, signerKeyUsable, trustFromPem, verifyDocumentSignature } from '../../src/session/verify-signature.js';
import { buildScreen } from '../../src/screen/server.js';
import type { DocumentBuffer } from '../../src/session/document-buffer.js';
import { cardFor, FIXTURES, PKI, pkiFiles, startStack } from '../../../test/e2e/stack.js';
import { resident } from '../helpers/resident.js';
import { allFiles, filesHolding, reach, walk, watchedLine, type LineFault } from '../helpers/line.js';

const stack = await startStack();
t.teardown(() => stack.close());
const card = cardFor('ok');
const cardSerial = cardSerialOf(Buffer.from(card.jpki.authCertDer, 'base64'));

/** One real issuance; the document as it came off the line. */
async function issueOne(): Promise<{ pdf: Buffer; issuanceId: string }> {
  const line = watchedLine(() => stack.connect());
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
  const centre = await line.connect();
  const dir = mkdtempSync(join(tmpdir(), 'konbini-sig-'));
  try {
    const r = resident(() => reader.remove(), { pins: [card.jpki.authPin] });
    const result = await runIssuance({ kioskId: 'K0001', centreOrigin: stack.centreOrigin }, reader, centre, new TrayPrinter(join(dir, 'spool'), join(dir, 'tray')), r.ui);
    return { pdf: line.documents.get(result.issuanceId)!, issuanceId: result.issuanceId };
  } finally {
    centre.close();
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const signed = await issueOne();
const trust = devDocumentTrust();

const codeOf = (f: () => unknown): { code?: string; reason?: unknown } => {
  try {
    f();
    return {};
  } catch (e) {
    const err = e as { code?: string; detail?: { reason?: unknown } };
    return { code: err.code, reason: err.detail?.reason };
  }
};

/** The signature's /Contents DER length, from its first bytes (30 82 hi lo). */
function cmsSpan(pdf: Buffer): { hexAt: number; derLen: number } {
  const [, a] = signatureByteRange(pdf)!;
  const head = Buffer.from(pdf.subarray(a + 1, a + 9).toString('latin1'), 'hex');
  return { hexAt: a + 1, derLen: 4 + head.readUInt16BE(2) };
}

/** Put the placeholder back and seal the binding again for `issuanceId` (what a forger with the card serial could do). */
function rebind(pdf: Buffer, issuanceId: string): Buffer {
  const out = Buffer.from(pdf);
  const at = out.lastIndexOf('/KonbiniBinding (') + '/KonbiniBinding ('.length;
  out.write(BINDING_PLACEHOLDER, at, 'latin1');
  return sealBinding(out, issuanceId, cardSerialHmac(issuanceId, cardSerial)).pdf;
}

/** A minimal PDF with a binding and no signature at all. */
function unsignedFor(issuanceId: string): Buffer {
  const body = `%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n3 0 obj\n<< /KonbiniBinding (${'0'.repeat(BINDING_WIDTH)}) >>\nendobj\ntrailer\n<< /Root 1 0 R /Info 3 0 R >>\n%%EOF\n`;
  return sealBinding(Buffer.from(body, 'latin1'), issuanceId, cardSerialHmac(issuanceId, cardSerial)).pdf;
}

t.test('the city\'s document verifies: signer certificate chained to the LGPKI-sim CA', async (t) => {
  const v = verifyDocumentSignature(signed.pdf, trust);
  t.match(v.signerFingerprint256, /^[0-9A-F:]{95}$/);
  t.ok(v.chainLength >= 1);
  t.doesNotThrow(() => verifyBinding(signed.pdf, { issuanceId: signed.issuanceId, cardSerial }, { requireSignature: true }));
  const n = 50;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) verifyDocumentSignature(signed.pdf, trust);
  t.comment(`verification of a ${signed.pdf.length}-byte document: ${(Number(process.hrtime.bigint() - started) / 1e6 / n).toFixed(2)} ms (mean of ${n})`);
});

t.test('the signer certificate must be one for signing documents, not a CA', async (t) => {
  const derOf = (name: string) => new X509Certificate(readFileSync(join(PKI, (JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string }> }).certs[name]!.cert), 'utf8')).raw;
  t.equal(signerKeyUsable(derOf('lgpki-docsign-991015')), true, 'the city\'s document-signing certificate (digitalSignature, nonRepudiation)');
  t.equal(signerKeyUsable(derOf('lgpki-ca')), false, 'the LGPKI-sim CA itself');
  t.equal(signerKeyUsable(derOf('kiosk-line-ca')), false, 'another CA');
});

t.test('refusals, each DOCUMENT_SIGNATURE_INVALID with its reason', async (t) => {
  const cases: [string, Buffer, string, Parameters<typeof verifyDocumentSignature>[1]?, Date?][] = [];
  // a byte of the signed part changed, binding sealed again so only the signature can tell
  const changed = Buffer.from(signed.pdf);
  changed[10] ^= 0x01;
  cases.push(['a signed byte changed (binding resealed)', rebind(changed, signed.issuanceId), 'digest']);
  // one byte of the CMS signature value changed
  const { hexAt, derLen } = cmsSpan(signed.pdf);
  const badSig = Buffer.from(signed.pdf);
  const at = hexAt + 2 * (derLen - 6);
  badSig[at] = badSig[at] === 0x30 ? 0x31 : 0x30;
  cases.push(['the signature value changed', badSig, 'signature']);
  // something written into the padding after the CMS
  const padded = Buffer.from(signed.pdf);
  padded[hexAt + 2 * derLen + 10] = 0x31;
  cases.push(['bytes after the CMS', padded, 'cms-syntax']);
  cases.push(['no signature at all', unsignedFor(signed.issuanceId), 'unsigned']);
  cases.push(['a signer the kiosk does not trust (anchor: the LGWAN CA)', signed.pdf, 'signer-untrusted', trustFromPem([pkiFiles('lgwan-ca').cert])]);
  cases.push(['checked long after the certificates expired', signed.pdf, 'certificate-not-valid-now', trust, new Date('2200-01-01T00:00:00Z')]);
  for (const [name, pdf, reason, anchors, now] of cases) {
    t.same(codeOf(() => verifyDocumentSignature(pdf, anchors ?? trust, now)), { code: 'DOCUMENT_SIGNATURE_INVALID', reason }, name);
  }
  t.same(codeOf(() => verifyBinding(rebind(changed, signed.issuanceId), { issuanceId: signed.issuanceId, cardSerial }, { requireSignature: true })), {}, 'the resealed forgery passes the binding check: only the signature catches it');
});

t.test('at the kiosk: a forged or unsigned document is not paid for, not printed, wiped, and the resident is told', async (t) => {
  const faults: [string, (docs: Map<string, Buffer>) => LineFault][] = [
    ['unsigned, bound to this session', () => ({ kind: 'replace', make: (iid) => unsignedFor(iid) })],
    ['the real document with a byte changed and the binding resealed', (docs) => ({
      kind: 'replace',
      make: (iid) => {
        const d = Buffer.from(docs.get(iid)!);
        d[10] ^= 0x01;
        return rebind(d, iid);
      },
    })],
  ];
  for (const [name, fault] of faults) {
    await t.test(name, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'konbini-sig-screen-'));
      const line = watchedLine(() => stack.connect());
      line.fault = fault(line.documents);
      const docs: DocumentBuffer[] = [];
      const logged: Record<string, string | number>[] = [];
      const screen = buildScreen({
        kioskId: 'K0001',
        centreUrl: stack.centreUrl,
        centreOrigin: stack.centreOrigin,
        tls: stack.kioskTls(),
        cardsDir: join(FIXTURES, 'cards'),
        workDir: join(dir, 'kiosk'),
        trayDir: join(dir, 'tray'),
        connect: line.connect,
        log: (event, fields) => void logged.push({ event, ...fields }),
        onDocument: (d) => {
          d.trackAllocations();
          docs.push(d);
        },
      });
      t.teardown(async () => {
        await screen.close();
        rmSync(dir, { recursive: true, force: true });
      });
      screen.demoReader!.insert(VirtualCard.fromFile(stack.cardFile(card)));
      await walk(screen.kiosk, card.jpki.authPin, 'confirm');
      screen.kiosk.act({ action: 'confirm', seq: screen.kiosk.state.seq });
      await reach(screen.kiosk, 'error');
      t.equal(screen.kiosk.state.error?.code, 'DOCUMENT_SIGNATURE_INVALID');
      t.match(screen.kiosk.state.error?.ja, /電子署名を確認できないため印刷を中止しました。料金はかかりません/);
      t.equal(screen.kiosk.state.pay, undefined, 'never asked to pay');
      await screen.kiosk.idle();
      t.same(screen.kiosk.results, [], 'nothing issued');
      t.same(screen.kiosk.counters.errors, { DOCUMENT_SIGNATURE_INVALID: 1 }, 'counted for maintenance under its code');
      t.equal(screen.kiosk.counters.alarms, 1, 'an alarm for the operator');
      t.match(logged.filter((l) => l.event === 'alarm'), [{ code: 'DOCUMENT_SIGNATURE_INVALID', reason: /^(unsigned|digest)$/ }], 'logged with its code and reason (ids only)');
      t.same(allFiles(join(dir, 'tray')), [], 'no paper');
      const delivered = line.documents.get(docs[0]!.issuanceId)!;
      t.same(filesHolding(join(dir, 'kiosk'), delivered), [], 'nothing on disk');
      t.ok(docs[0]!.allocations().every((b) => b.every((x) => x === 0)), 'every buffer zeroed');
    });
  }
});
