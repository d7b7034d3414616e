/** Reads var/pki/manifest.json and hands out typed, absolute paths and PEMs. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PKI_NAMES as N, type PkiCertRecord, type PkiKioskRecord, type PkiManifest } from './manifest.js';
import { loadIssuer, pemToDer, type Issuer } from './x509.js';

export interface PkiEntry {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  certDer: Buffer;
  /** SHA-256 of the DER, lowercase hex. */
  sha256: string;
  serial: string;
  cn: string;
  issuer: string;
}

export interface PkiKiosk extends PkiEntry, Omit<PkiKioskRecord, 'name'> {}

export interface LoadedPki {
  dir: string;
  manifest: PkiManifest;
  entry(name: string): PkiEntry;
  /** CA material ready to issue or sign CRLs (e.g. the JPKI-sim CAs for card certificates). */
  issuer(name: string): Issuer;
  lgwan: { ca: PkiEntry; centre: PkiEntry; cities: Record<string, PkiEntry>; impostors: Record<string, PkiEntry>; koseki: Record<string, PkiEntry>; jukiCore: Record<string, PkiEntry> };
  kioskLine: {
    ca: PkiEntry;
    rogueCa: PkiEntry;
    centre: PkiEntry;
    /** Good kiosks K0001..K0004, by kiosk id. */
    kiosks: Record<string, PkiKiosk>;
    expired: PkiKiosk;
    revoked: PkiKiosk;
    wrongCa: PkiKiosk;
    crlPath: string;
    crlPemPath: string;
    crlDer: Buffer;
  };
  jpki: { authCa: PkiEntry; signCa: PkiEntry };
  lgpki: { ca: PkiEntry; docSigning: Record<string, PkiEntry> };
}

export function loadPki(dir: string): LoadedPki {
  const root = resolve(dir);
  const manifestPath = join(root, 'manifest.json');
  let manifest: PkiManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PkiManifest;
  } catch (err) {
    throw new Error(`no dev PKI at ${root}: run \`node certs/bin/konbini-pki.js generate --out ${dir}\` (${(err as Error).message})`);
  }
  if (manifest.version !== 1) throw new Error(`unsupported PKI manifest version ${String(manifest.version)}`);
  const cache = new Map<string, PkiEntry>();
  const entry = (name: string): PkiEntry => {
    const hit = cache.get(name);
    if (hit) return hit;
    const rec: PkiCertRecord | undefined = manifest.certs[name];
    if (!rec) throw new Error(`dev PKI has no entry ${name}`);
    const certPem = readFileSync(join(root, rec.cert), 'utf8');
    const e: PkiEntry = {
      name,
      certPath: join(root, rec.cert),
      keyPath: join(root, rec.key),
      certPem,
      keyPem: readFileSync(join(root, rec.key), 'utf8'),
      certDer: pemToDer(certPem),
      sha256: rec.sha256,
      serial: rec.serial,
      cn: rec.cn,
      issuer: rec.issuer,
    };
    cache.set(name, e);
    return e;
  };
  const kiosk = (rec: PkiKioskRecord): PkiKiosk => ({ ...entry(rec.name), kioskId: rec.kioskId, storeId: rec.storeId, storeOperator: rec.storeOperator, status: rec.status });
  const codes = manifest.cities.map((c) => c.code);
  const byCode = (f: (code: string) => string) => Object.fromEntries(codes.filter((c) => manifest.certs[f(c)]).map((c) => [c, entry(f(c))]));
  const crl = manifest.crls[N.kioskLineCa];
  const badKiosk = (status: string) => {
    const rec = manifest.kiosks.find((k) => k.status === status);
    if (!rec) throw new Error(`dev PKI has no ${status} kiosk`);
    return kiosk(rec);
  };
  return {
    dir: root,
    manifest,
    entry,
    issuer: (name) => {
      const e = entry(name);
      return loadIssuer(e.certPem, e.keyPem);
    },
    lgwan: { ca: entry(N.lgwanCa), centre: entry(N.lgwanCentre), cities: byCode(N.lgwanCity), impostors: byCode(N.lgwanImpostor), koseki: byCode(N.lgwanKoseki), jukiCore: byCode(N.lgwanJukiCore) },
    kioskLine: {
      ca: entry(N.kioskLineCa),
      rogueCa: entry(N.kioskRogueCa),
      centre: entry(N.kioskLineCentre),
      kiosks: Object.fromEntries(manifest.kiosks.filter((k) => k.status === 'active').map((k) => [k.kioskId, kiosk(k)])),
      expired: badKiosk('expired'),
      revoked: badKiosk('revoked'),
      wrongCa: badKiosk('wrong-ca'),
      crlPath: join(root, crl.der),
      crlPemPath: join(root, crl.pem),
      crlDer: readFileSync(join(root, crl.der)),
    },
    jpki: { authCa: entry(N.jpkiAuthCa), signCa: entry(N.jpkiSignCa) },
    lgpki: { ca: entry(N.lgpkiCa), docSigning: byCode(N.lgpkiDocSigning) },
  };
}
