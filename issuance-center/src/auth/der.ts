/**
 * Just enough DER to read a certificate's keyUsage extension. Node's
 * X509Certificate does not expose it, and a full ASN.1 parse per card check
 * would cost more than the RSA verification itself.
 */
export interface KeyUsage {
  digitalSignature: boolean;
  nonRepudiation: boolean;
  keyEncipherment: boolean;
  dataEncipherment: boolean;
  keyAgreement: boolean;
  keyCertSign: boolean;
  cRLSign: boolean;
}

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

function tlv(der: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new TypeError('DER: truncated');
  const tag = der[at]!;
  let len = der[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new TypeError('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new TypeError('DER: runs past its parent');
  return { tag, start: at, contentStart: p, end: p + len };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const c = tlv(der, p, parent.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]); // 2.5.29.15

/** The keyUsage bits of a DER certificate, or null when it has no keyUsage extension. */
export function keyUsageOf(der: Uint8Array): KeyUsage | null {
  const cert = tlv(der, 0, der.length);
  const tbs = tlv(der, cert.contentStart, cert.end);
  const ext = children(der, tbs).find((c) => c.tag === 0xa3);
  if (!ext) return null;
  const seq = tlv(der, ext.contentStart, ext.end);
  for (const e of children(der, seq)) {
    const parts = children(der, e);
    const oid = parts[0]!;
    if (oid.tag !== 0x06 || !Buffer.from(der.subarray(oid.contentStart, oid.end)).equals(KEY_USAGE_OID)) continue;
    const octets = parts[parts.length - 1]!;
    if (octets.tag !== 0x04) throw new TypeError('DER: keyUsage value');
    const bits = tlv(der, octets.contentStart, octets.end);
    if (bits.tag !== 0x03 || bits.end - bits.contentStart < 2) throw new TypeError('DER: keyUsage bit string');
    const b0 = der[bits.contentStart + 1]!;
    const bit = (i: number) => (b0 & (0x80 >> i)) !== 0;
    return {
      digitalSignature: bit(0),
      nonRepudiation: bit(1),
      keyEncipherment: bit(2),
      dataEncipherment: bit(3),
      keyAgreement: bit(4),
      keyCertSign: bit(5),
      cRLSign: bit(6),
    };
  }
  return null;
}
