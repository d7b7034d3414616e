/**
 * The kiosk's own check of the city's PAdES signature (DESIGN §4 step 11) before it
 * may print: the signature's /ByteRange must cover the whole file but its /Contents,
 * the CMS SignedData in /Contents must carry a SHA-256 message digest equal to the
 * digest of those bytes, its signature over the signed attributes must verify with
 * the embedded signer certificate, and that certificate must chain, through the
 * certificates embedded with it, to a trust anchor the kiosk was configured with
 * (the LGPKI-sim CA in development), every certificate valid now.
 *
 * Anything else — no signature, a changed byte, another signer, an unknown CA — is
 * DOCUMENT_SIGNATURE_INVALID with a reason for the log (never document content).
 *
 * The CMS is read with a small DER reader written for exactly this structure
 * (RFC 5652 SignedData as city-cert-server/src/sign/cms.ts writes it, and as other
 * PAdES signers write it): views into one buffer, no strings of document bytes, and
 * that buffer zeroed when done.
 */
import { createHash, timingSafeEqual, verify as verifySignatureBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KonbiniError, signatureByteRange } from '@konbini/protocol';

export interface DocumentTrust {
  /** Trust anchors for document signers (PEM or X509Certificate): the LGPKI-sim CA. */
  roots: X509Certificate[];
}

export interface VerifiedSignature {
  /** SHA-256 fingerprint of the signer certificate (an id, for the log). */
  signerFingerprint256: string;
  /** How many certificates led from the signer to the anchor (signer included). */
  chainLength: number;
}

export type SignatureFailure =
  | 'unsigned'
  | 'contents-too-large'
  | 'cms-syntax'
  | 'algorithm'
  | 'content-type'
  | 'digest'
  | 'signer-missing'
  | 'signature'
  | 'signer-untrusted'
  | 'signer-key-usage'
  | 'certificate-not-valid-now';

const fail = (reason: SignatureFailure, detail: Record<string, string | number> = {}): never => {
  throw new KonbiniError('DOCUMENT_SIGNATURE_INVALID', { reason, ...detail });
};

/** A CMS larger than this is not a city signature (theirs is ≈ 3-4 KB; the placeholder 16 KB of hex). */
const MAX_CMS_BYTES = 64 * 1024;

export function trustFromPem(pems: string[]): DocumentTrust {
  const roots = pems.flatMap((p) => p.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  if (!roots.length) throw new Error('no certificate in the document-signer trust anchors');
  return { roots };
}

let devTrust: DocumentTrust | null = null;

/**
 * The development trust anchor: the LGPKI-sim CA of the dev PKI (`KONBINI_PKI_DIR`,
 * default var/pki of this repository), read once. A kiosk configured with its own
 * anchors never comes here.
 */
export function devDocumentTrust(): DocumentTrust {
  if (devTrust) return devTrust;
  const dir = process.env.KONBINI_PKI_DIR ?? resolve(import.meta.dirname, '../../../var/pki');
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string }> };
    const ca = manifest.certs['lgpki-ca'];
    if (!ca) throw new Error('no lgpki-ca');
    devTrust = trustFromPem([readFileSync(join(dir, ca.cert), 'utf8')]);
    return devTrust;
  } catch {
    // No anchor, no print: the kiosk fails closed.
    return fail('signer-untrusted', { anchors: 0 });
  }
}

/** Verify the document's PAdES signature; throws DOCUMENT_SIGNATURE_INVALID. */
export function verifyDocumentSignature(pdf: Buffer, trust: DocumentTrust, now: Date = new Date()): VerifiedSignature {
  let range: [number, number, number, number] | null;
  try {
    range = signatureByteRange(pdf);
  } catch {
    return fail('cms-syntax', { where: 'byte-range' });
  }
  if (!range) return fail('unsigned');
  const [, a, b] = range;
  const hex = pdf.subarray(a + 1, b - 1);
  if (hex.length / 2 > MAX_CMS_BYTES * 4) return fail('contents-too-large');
  const cms = hexToBytes(hex);
  try {
    return verifyCms(cms, pdf, range, trust, now);
  } finally {
    cms.fill(0);
  }
}

function verifyCms(contents: Buffer, pdf: Buffer, [, a, b]: [number, number, number, number], trust: DocumentTrust, now: Date): VerifiedSignature {
  // /Contents is a fixed-width placeholder: the DER, then zero padding.
  const ci = der(contents, 0);
  if (ci.end > MAX_CMS_BYTES) fail('contents-too-large');
  for (let i = ci.end; i < contents.length; i++) if (contents[i] !== 0) fail('cms-syntax', { where: 'padding' });
  const [ciType, ciBody] = kids(ci, 0x30, 2);
  expectOid(ciType!, OID.signedData, 'cms-syntax');
  const sd = only(ciBody!, 0xa0);
  const sdKids = kids(sd, 0x30);
  if (sdKids.length < 4) fail('cms-syntax', { where: 'signed-data' });
  const encap = sdKids[2]!;
  const encapKids = kids(encap, 0x30);
  // detached: the content is the PDF's byte range, not in the CMS
  if (encapKids.length !== 1) fail('cms-syntax', { where: 'not-detached' });
  expectOid(encapKids[0]!, OID.data, 'content-type');
  const certNode = sdKids.find((n) => n.tag === 0xa0);
  const certs = certNode ? kids(certNode, 0xa0).map((n) => ({ node: n, x509: x509Of(n) })) : [];
  const signerInfos = kids(sdKids[sdKids.length - 1]!, 0x31);
  if (signerInfos.length !== 1) fail('cms-syntax', { where: 'signer-infos', count: signerInfos.length });

  const si = kids(signerInfos[0]!, 0x30);
  if (si.length < 6) fail('cms-syntax', { where: 'signer-info' });
  const [, sid, digestAlg, signedAttrs, sigAlg, signature] = si as [Der, Der, Der, Der, Der, Der];
  expectOid(kids(digestAlg, 0x30)[0]!, OID.sha256, 'algorithm');
  if (signedAttrs.tag !== 0xa0) fail('cms-syntax', { where: 'no-signed-attributes' });
  const sigOid = kids(sigAlg, 0x30)[0]!;
  if (!SIGNATURE_ALGORITHMS.some((o) => sameOid(sigOid, o))) fail('algorithm', { where: 'signature' });
  if (signature.tag !== 0x04) fail('cms-syntax', { where: 'signature' });

  // The signed attributes: content type data, and the digest of the byte range.
  let digestAttr: Der | null = null;
  let typeOk = false;
  for (const attr of kids(signedAttrs, 0xa0)) {
    const [type, values] = kids(attr, 0x30, 2) as [Der, Der];
    const vals = kids(values, 0x31);
    if (sameOid(type, OID.messageDigest)) {
      if (digestAttr || vals.length !== 1 || vals[0]!.tag !== 0x04) fail('cms-syntax', { where: 'message-digest' });
      digestAttr = vals[0]!;
    } else if (sameOid(type, OID.contentType)) {
      if (vals.length !== 1) fail('cms-syntax', { where: 'content-type' });
      expectOid(vals[0]!, OID.data, 'content-type');
      typeOk = true;
    }
  }
  if (!digestAttr || !typeOk) fail('cms-syntax', { where: 'signed-attributes' });
  const digest = createHash('sha256').update(pdf.subarray(0, a)).update(pdf.subarray(b)).digest();
  const claimed = body(digestAttr!);
  if (claimed.length !== digest.length || !timingSafeEqual(claimed, digest)) fail('digest');

  // The signer: the embedded certificate named by issuer and serial.
  if (sid.tag !== 0x30) fail('cms-syntax', { where: 'sid' });
  const [sidIssuer, sidSerial] = kids(sid, 0x30, 2) as [Der, Der];
  const signer = certs.find((c) => {
    const { issuer, serial } = issuerAndSerial(c.node);
    return raw(issuer).equals(raw(sidIssuer)) && raw(serial).equals(raw(sidSerial));
  });
  if (!signer) return fail('signer-missing');
  // A document is signed by an end-entity key meant for signing, never by a CA's key.
  if (!signerKeyUsable(raw(signer.node))) fail('signer-key-usage');
  // Signed attributes are signed as a SET OF (tag 0x31), carried with the implicit tag [0].
  const signedBytes = Buffer.from(raw(signedAttrs));
  signedBytes[0] = 0x31;
  let good = false;
  try {
    good = verifySignatureBytes('sha256', signedBytes, signer.x509.publicKey, body(signature));
  } catch {
    good = false;
  }
  if (!good) fail('signature');

  // The chain, through the embedded certificates, to an anchor; every link valid now.
  const chain = [signer.x509];
  let cur = signer.x509;
  for (;;) {
    if (!validAt(cur, now)) fail('certificate-not-valid-now', { depth: chain.length - 1 });
    if (trust.roots.some((r) => r.fingerprint256 === cur.fingerprint256)) break;
    const anchor = trust.roots.find((r) => cur.checkIssued(r) && cur.verify(r.publicKey));
    if (anchor) {
      if (!validAt(anchor, now)) fail('certificate-not-valid-now', { depth: chain.length });
      break;
    }
    const next = certs.map((c) => c.x509).find((c) => c !== cur && c.ca && !chain.includes(c) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next || chain.length >= 6) fail('signer-untrusted', { depth: chain.length });
    chain.push(next!);
    cur = next!;
  }
  return { signerFingerprint256: signer.x509.fingerprint256, chainLength: chain.length };
}

/**
 * The signer certificate may sign documents: not a CA (basicConstraints), and when it
 * has a keyUsage extension, digitalSignature or nonRepudiation (contentCommitment) set.
 */
export function signerKeyUsable(certDer: Buffer): boolean {
  const cert = der(certDer, 0);
  if (new X509Certificate(certDer).ca) return false;
  const tbs = kids(cert, 0x30)[0]!;
  const exts = kids(tbs, 0x30).find((n) => n.tag === 0xa3);
  if (!exts) return true;
  for (const ext of kids(only(exts, 0xa3), 0x30)) {
    const parts = kids(ext, 0x30);
    if (!sameOid(parts[0]!, OID.keyUsage)) continue;
    const value = der(body(parts[parts.length - 1]!), 0);
    if (value.tag !== 0x03 || value.end - value.inner < 2) return false;
    const bits = value.buf[value.inner + 1]!;
    return (bits & 0xc0) !== 0; // digitalSignature (0x80) or nonRepudiation (0x40)
  }
  return true;
}

function validAt(c: X509Certificate, now: Date): boolean {
  return new Date(c.validFrom).getTime() <= now.getTime() && now.getTime() <= new Date(c.validTo).getTime();
}

// ------------------------------------------------------------------ a DER reader, just enough

interface Der {
  buf: Buffer;
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  inner: number;
  /** Offset after the last content byte. */
  end: number;
}

function der(buf: Buffer, at: number, limit = buf.length): Der {
  const bad = () => fail('cms-syntax', { where: 'der', at });
  if (at + 2 > limit) bad();
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) bad(); // high tag numbers do not occur in CMS SignedData
  let len = buf[at + 1]!;
  let inner = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || inner + n > limit) bad();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[inner + i]!;
    inner += n;
  }
  const end = inner + len;
  if (end > limit) bad();
  return { buf, tag, start: at, inner, end };
}

/** The children of a constructed node, which must have tag `tag` (and `count` children when given). */
function kids(n: Der, tag: number, count?: number): Der[] {
  if (n.tag !== tag || !(n.tag & 0x20)) fail('cms-syntax', { where: 'tag', want: tag, got: n.tag });
  const out: Der[] = [];
  for (let at = n.inner; at < n.end; ) {
    const k = der(n.buf, at, n.end);
    out.push(k);
    at = k.end;
  }
  if (count !== undefined && out.length !== count) fail('cms-syntax', { where: 'count', want: count, got: out.length });
  return out;
}

function only(n: Der, tag: number): Der {
  const k = kids(n, tag);
  if (k.length !== 1) fail('cms-syntax', { where: 'explicit' });
  return k[0]!;
}

const body = (n: Der): Buffer => n.buf.subarray(n.inner, n.end);
const raw = (n: Der): Buffer => n.buf.subarray(n.start, n.end);

function x509Of(n: Der): X509Certificate {
  try {
    return new X509Certificate(raw(n));
  } catch {
    return fail('cms-syntax', { where: 'certificate' });
  }
}

/** tbsCertificate: [0] version (optional), serialNumber, signature, issuer, ... */
function issuerAndSerial(cert: Der): { issuer: Der; serial: Der } {
  const tbs = kids(cert, 0x30)[0]!;
  const f = kids(tbs, 0x30);
  const v = f[0]!.tag === 0xa0 ? 1 : 0;
  return { serial: f[v]!, issuer: f[v + 2]! };
}

function oidBytes(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const sev = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) sev.unshift((v & 0x7f) | 0x80);
    out.push(...sev);
  }
  return Buffer.from(out);
}

const OID = {
  signedData: oidBytes('1.2.840.113549.1.7.2'),
  data: oidBytes('1.2.840.113549.1.7.1'),
  sha256: oidBytes('2.16.840.1.101.3.4.2.1'),
  contentType: oidBytes('1.2.840.113549.1.9.3'),
  messageDigest: oidBytes('1.2.840.113549.1.9.4'),
  keyUsage: oidBytes('2.5.29.15'),
};
/** rsaEncryption, sha256WithRSAEncryption, ecdsa-with-SHA256: what the key and hash here allow. */
const SIGNATURE_ALGORITHMS = ['1.2.840.113549.1.1.1', '1.2.840.113549.1.1.11', '1.2.840.10045.4.3.2'].map(oidBytes);

function sameOid(n: Der, oid: Buffer): boolean {
  return n.tag === 0x06 && body(n).equals(oid);
}

function expectOid(n: Der, oid: Buffer, reason: SignatureFailure): void {
  if (!sameOid(n, oid)) fail(reason);
}

/** Hex digits to bytes without making a string of them; anything else is a syntax error. */
function hexToBytes(hex: Buffer): Buffer {
  if (hex.length % 2) fail('cms-syntax', { where: 'hex-length' });
  const out = Buffer.alloc(hex.length / 2);
  const nib = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
  for (let i = 0; i < out.length; i++) {
    const h = nib(hex[2 * i]!);
    const l = nib(hex[2 * i + 1]!);
    if (h < 0 || l < 0) fail('cms-syntax', { where: 'hex' });
    out[i] = h * 16 + l;
  }
  return out;
}
