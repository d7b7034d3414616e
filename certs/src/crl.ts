/**
 * X.509 v2 CRLs (RFC 5280 §5). node-forge cannot write CRLs, so the TBSCertList is
 * built with forge.asn1 and signed sha256WithRSAEncryption by OpenSSL (node:crypto).
 */
import { sign } from 'node:crypto';
import forge from 'node-forge';
import { subjectNameAsn1, type Issuer } from './x509.js';

const { asn1, pki } = forge;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

/** RFC 5280 CRLReason codes used here. */
export type RevocationReason = 'unspecified' | 'keyCompromise' | 'cACompromise' | 'affiliationChanged' | 'superseded' | 'cessationOfOperation';
const REASON_CODE: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
};

export interface RevokedEntry {
  /** Lowercase hex of the serial's DER INTEGER content (forge's cert.serialNumber). */
  serial: string;
  revokedAt?: Date;
  reason?: RevocationReason;
}

function time(d: Date): forge.asn1.Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function extension(oid: string, value: forge.asn1.Asn1, critical = false): forge.asn1.Asn1 {
  const parts = [asn1.create(U, T.OID, false, asn1.oidToDer(oid).getBytes())];
  if (critical) parts.push(asn1.create(U, T.BOOLEAN, false, String.fromCharCode(0xff)));
  parts.push(asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return asn1.create(U, T.SEQUENCE, true, parts);
}

function integerFromHex(hex: string): forge.asn1.Asn1 {
  if (!/^([0-9a-f]{2})+$/.test(hex)) throw new TypeError(`serial must be even-length lowercase hex: ${hex}`);
  return asn1.create(U, T.INTEGER, false, forge.util.hexToBytes(hex));
}

/**
 * Builds and signs a CRL of `ca`, listing `revoked` (serials or entries). Returns DER.
 * `crlNumber` defaults to the thisUpdate time in seconds, so later CRLs get larger numbers.
 */
export function makeCrl(
  ca: Issuer,
  revoked: readonly (string | RevokedEntry)[],
  thisUpdate: Date,
  nextUpdate: Date,
  crlNumber: number = Math.floor(thisUpdate.getTime() / 1000),
): Buffer {
  const sigAlg = asn1.create(U, T.SEQUENCE, true, [
    asn1.create(U, T.OID, false, asn1.oidToDer(pki.oids.sha256WithRSAEncryption).getBytes()),
    asn1.create(U, T.NULL, false, ''),
  ]);
  const entries = revoked.map((r) => (typeof r === 'string' ? { serial: r } : r));
  const tbsParts: forge.asn1.Asn1[] = [
    asn1.create(U, T.INTEGER, false, String.fromCharCode(1)), // v2
    sigAlg,
    subjectNameAsn1(ca.cert),
    time(thisUpdate),
    time(nextUpdate),
  ];
  if (entries.length > 0) {
    tbsParts.push(
      asn1.create(
        U,
        T.SEQUENCE,
        true,
        entries.map((e) => {
          const parts = [integerFromHex(e.serial), time(e.revokedAt ?? thisUpdate)];
          if (e.reason && e.reason !== 'unspecified') {
            const reason = asn1.create(U, T.ENUMERATED, false, String.fromCharCode(REASON_CODE[e.reason]));
            parts.push(asn1.create(U, T.SEQUENCE, true, [extension('2.5.29.21', reason)]));
          }
          return asn1.create(U, T.SEQUENCE, true, parts);
        }),
      ),
    );
  }
  const ski = ca.cert.generateSubjectKeyIdentifier().getBytes();
  const aki = asn1.create(U, T.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ski)]);
  const number = integerFromHex(positiveIntegerHex(crlNumber));
  tbsParts.push(
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(U, T.SEQUENCE, true, [extension('2.5.29.35', aki), extension('2.5.29.20', number)]),
    ]),
  );
  const tbs = asn1.create(U, T.SEQUENCE, true, tbsParts);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, ca.key);
  const crl = asn1.create(U, T.SEQUENCE, true, [
    tbs,
    sigAlg,
    asn1.create(U, T.BITSTRING, false, String.fromCharCode(0) + signature.toString('binary')),
  ]);
  return Buffer.from(asn1.toDer(crl).getBytes(), 'binary');
}

function positiveIntegerHex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('crlNumber must be a non-negative safe integer');
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = '00' + hex;
  return hex;
}

export function crlDerToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN X509 CRL-----\n${b64}-----END X509 CRL-----\n`;
}

/** Serials listed in a CRL (lowercase hex of the INTEGER content), read with forge.asn1. */
export function crlSerials(der: Buffer): string[] {
  const crl = asn1.fromDer(der.toString('binary'));
  const tbs = (crl.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  // version, sigAlg, issuer, thisUpdate, then nextUpdate (optional), revokedCertificates (optional), [0] extensions
  for (let i = 4; i < tbs.length; i++) {
    const node = tbs[i];
    if (node.tagClass === U && node.type === T.SEQUENCE) {
      return (node.value as forge.asn1.Asn1[]).map((entry) => forge.util.bytesToHex((entry.value as forge.asn1.Asn1[])[0].value as string));
    }
  }
  return [];
}
