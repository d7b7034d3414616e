import { createVerify, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { KonbiniError } from '@konbini/protocol';

export interface Crl {
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Revoked serials as lowercase hex of the DER INTEGER content (see cardSerialOf). */
  revoked: Set<string>;
}

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** DER INTEGER content bytes as lowercase hex: the same form as protocol's cardSerialOf. */
function serialHex(bytes: string): string {
  return forge.util.bytesToHex(bytes).toLowerCase();
}

function readTime(node: forge.asn1.Asn1): Date {
  const value = node.value as string;
  return node.type === forge.asn1.Type.UTCTIME ? forge.asn1.utcTimeToDate(value) : forge.asn1.generalizedTimeToDate(value);
}

/**
 * Parse a DER X.509 CRL (RFC 5280 §5) and verify its signature against the CA.
 * node-forge reads certificates but not CRLs, so the few fields we need are read
 * from the ASN.1 directly.
 */
export function parseCrl(der: Buffer, ca: X509Certificate): Crl {
  try {
    return parseCrlUnchecked(der, ca);
  } catch (err) {
    if (err instanceof KonbiniError) throw err;
    throw new KonbiniError('CRL_UNAVAILABLE', { reason: 'crl-structure' }, { cause: err });
  }
}

function parseCrlUnchecked(der: Buffer, ca: X509Certificate): Crl {
  let root: forge.asn1.Asn1;
  try {
    root = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  } catch (err) {
    throw new KonbiniError('CRL_UNAVAILABLE', { reason: 'crl-unparsable' }, { cause: err });
  }
  const [tbs, sigAlg, sigValue] = root.value as forge.asn1.Asn1[];
  const tbsFields = (tbs!.value as forge.asn1.Asn1[]).slice();
  // version is optional (v2 CRLs carry INTEGER 1 first)
  if (tbsFields[0]!.type === forge.asn1.Type.INTEGER) tbsFields.shift();
  const [, , thisUpdateNode, maybeNext, ...rest] = tbsFields;
  let nextUpdate: Date | null = null;
  let revokedNode: forge.asn1.Asn1 | undefined;
  if (maybeNext && (maybeNext.type === forge.asn1.Type.UTCTIME || maybeNext.type === forge.asn1.Type.GENERALIZEDTIME)) {
    nextUpdate = readTime(maybeNext);
    revokedNode = rest[0];
  } else {
    revokedNode = maybeNext;
  }
  const revoked = new Set<string>();
  if (revokedNode && revokedNode.tagClass === forge.asn1.Class.UNIVERSAL && revokedNode.type === forge.asn1.Type.SEQUENCE) {
    for (const entry of revokedNode.value as forge.asn1.Asn1[]) {
      const serial = (entry.value as forge.asn1.Asn1[])[0]!;
      revoked.add(serialHex(serial.value as string));
    }
  }
  const algOid = forge.asn1.derToOid(((sigAlg!.value as forge.asn1.Asn1[])[0]!.value as string));
  if (algOid !== SHA256_WITH_RSA) throw new KonbiniError('CRL_UNAVAILABLE', { reason: 'crl-algorithm' });
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs!).getBytes(), 'binary');
  // BIT STRING: first byte is the count of unused bits
  const signature = Buffer.from((sigValue!.value as string).slice(1), 'binary');
  const ok = createVerify('sha256').update(tbsDer).verify(ca.publicKey, signature);
  if (!ok) throw new KonbiniError('CRL_UNAVAILABLE', { reason: 'crl-signature' });
  return { thisUpdate: readTime(thisUpdateNode!), nextUpdate, revoked };
}
