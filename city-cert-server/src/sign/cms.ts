/**
 * CMS SignedData for PAdES-B-B (ETSI EN 319 142-1, ETSI.CAdES.detached):
 * detached content, SHA-256, signed attributes content-type, message-digest and
 * signing-certificate-v2, no signing-time attribute (PAdES puts the time in the
 * signature dictionary's /M), the signer certificate and its chain embedded.
 *
 * node-forge's PKCS#7 signer cannot add signing-certificate-v2 and always wants a
 * private key object, so the structure is written here with forge's DER codec;
 * the signature itself comes from the caller (the PKCS#11 token).
 */
import { createHash } from 'node:crypto';
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  data: '1.2.840.113549.1.7.1',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
};

const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;
const seq = (v: Asn1[]) => asn1.create(U, T.SEQUENCE, true, v);
const set = (v: Asn1[]) => asn1.create(U, T.SET, true, v);
const oid = (o: string) => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes());
const int = (n: number) => asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
const octets = (b: Buffer) => asn1.create(U, T.OCTETSTRING, false, b.toString('binary'));
const nul = () => asn1.create(U, T.NULL, false, '');
const der = (a: Asn1): Buffer => toDer(a);
// forge's options object is not in its typings; decodeBitStrings: false keeps BIT STRINGs as raw bytes
const fromDerLoose = asn1.fromDer as unknown as (b: forge.util.ByteStringBuffer, o: { strict: boolean; decodeBitStrings: boolean }) => Asn1;
export const fromDer = (b: Buffer): Asn1 => fromDerLoose(forge.util.createBuffer(b.toString('binary')), { strict: true, decodeBitStrings: false });
export const toDer = (a: Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'binary');

/** issuer Name and serialNumber INTEGER of a certificate, as parsed (re-encoded byte for byte). */
function issuerAndSerial(certDer: Buffer): { issuer: Asn1; serial: Asn1 } {
  const cert = fromDer(certDer);
  const tbs = (cert.value as Asn1[])[0]!;
  const fields = tbs.value as Asn1[];
  // tbsCertificate: [0] version (explicit, optional), serialNumber, signature, issuer, ...
  const hasVersion = fields[0]!.tagClass === asn1.Class.CONTEXT_SPECIFIC;
  const serial = fields[hasVersion ? 1 : 0]!;
  const issuer = fields[hasVersion ? 3 : 2]!;
  return { issuer, serial };
}

export interface CmsInput {
  /** SHA-256 of the signed bytes (the PDF's ByteRange). */
  contentDigest: Buffer;
  /** DER: signer certificate first, then its chain up to (and including) the root. */
  certificates: Buffer[];
}

/** The DER of the signed attributes as they are signed (a SET OF, tag 0x31). */
export function signedAttributes(input: CmsInput): Buffer {
  const [signerCert] = input.certificates;
  if (!signerCert) throw new Error('cms: no signer certificate');
  const { issuer, serial } = issuerAndSerial(signerCert);
  const essCertIdV2 = seq([
    // hashAlgorithm omitted: DEFAULT id-sha256
    octets(createHash('sha256').update(signerCert).digest()),
    seq([seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 4, true, [issuer])]), serial]),
  ]);
  const attrs = [
    seq([oid(OID.contentType), set([oid(OID.data)])]),
    seq([oid(OID.messageDigest), set([octets(input.contentDigest)])]),
    seq([oid(OID.signingCertificateV2), set([seq([seq([essCertIdV2])])])]),
  ].map(der);
  // DER: the elements of a SET OF are sorted by their encodings
  attrs.sort(Buffer.compare);
  return der(set(attrs.map(fromDer)));
}

/** A certificate as an ASN.1 node that re-encodes to exactly its own bytes (else its signature breaks). */
function exactly(certDer: Buffer): Asn1 {
  const node = fromDer(certDer);
  if (!der(node).equals(certDer)) throw new Error('cms: certificate does not re-encode byte for byte');
  return node;
}

/** ContentInfo(SignedData) around a signature made over `signedAttrs`. */
export function signedData(input: CmsInput, signedAttrs: Buffer, signature: Buffer): Buffer {
  const { issuer, serial } = issuerAndSerial(input.certificates[0]!);
  const attrs = fromDer(signedAttrs);
  // in SignerInfo the same SET is written with the implicit tag [0]
  const attrsImplicit = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, attrs.value as Asn1[]);
  const sha256 = seq([oid(OID.sha256)]);
  const signerInfo = seq([
    int(1),
    seq([issuer, serial]),
    sha256,
    attrsImplicit,
    seq([oid(OID.rsaEncryption), nul()]),
    octets(signature),
  ]);
  const sd = seq([
    int(1),
    set([sha256]),
    seq([oid(OID.data)]),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, input.certificates.map(exactly)),
    set([signerInfo]),
  ]);
  return der(seq([oid(OID.signedData), asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [sd])]));
}
