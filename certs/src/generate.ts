/**
 * The development PKI in one call: LGWAN-sim, kiosk-line (+ a rogue CA), JPKI-sim
 * user-authentication and signing CAs, LGPKI-sim, with deliberately bad certificates
 * for tests. Idempotent: an existing manifest means there is nothing to do, unless
 * forced, except issuing the leaf certificates a newer version of this generator
 * plans and the manifest lacks (e.g. the koseki servers' certificates), from the CAs
 * already there: nothing else changes, so tokens, fixtures and pins made from the
 * existing PKI stay valid.
 */
import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { crlDerToPem, makeCrl } from './crl.js';
import { devCity, DEV_CITIES, mayorTitleOf, type DevCity } from './cities.js';
import { PKI_NAMES as N, type KioskCertStatus, type PkiCertRecord, type PkiManifest } from './manifest.js';
import { generateRsaKey, issueCert, loadIssuer, mapLimit, privateKeyPem, sha256Hex, type CertSpec, type DevKey, type IssuedCert, type Issuer } from './x509.js';

const DAY = 24 * 60 * 60 * 1000;
const YEAR = 365 * DAY;
const LOCAL_DNS = ['localhost'];
const LOCAL_IPS = ['127.0.0.1', '::1'];

export interface DevKiosk {
  kioskId: string;
  storeId: string;
  storeOperator: string;
}

/** Fictional store operators and stores. */
export const DEV_KIOSKS: readonly DevKiosk[] = [
  { kioskId: 'K0001', storeId: 'S0001', storeOperator: 'Sorano Mart K.K.' },
  { kioskId: 'K0002', storeId: 'S0002', storeOperator: 'Sorano Mart K.K.' },
  { kioskId: 'K0003', storeId: 'S0101', storeOperator: 'Hoshikuzu Store K.K.' },
  { kioskId: 'K0004', storeId: 'S0102', storeOperator: 'Hoshikuzu Store K.K.' },
];
/** The bad kiosks: expired and revoked have their own ids; wrong-ca impersonates K0001. */
export const DEV_BAD_KIOSKS: Record<'expired' | 'revoked' | 'wrong-ca', DevKiosk> = {
  expired: { kioskId: 'K0005', storeId: 'S0003', storeOperator: 'Sorano Mart K.K.' },
  revoked: { kioskId: 'K0006', storeId: 'S0004', storeOperator: 'Sorano Mart K.K.' },
  'wrong-ca': { kioskId: 'K0001', storeId: 'S0001', storeOperator: 'Sorano Mart K.K.' },
};

export interface GeneratePkiOptions {
  out: string;
  force?: boolean;
  /** City codes; defaults to DEV_CITIES. */
  cityCodes?: string[];
  /** Clock for validity periods (tests). */
  now?: Date;
}

export interface GeneratePkiResult {
  skipped: boolean;
  /** Entries added to an existing PKI (leaf certificates it lacked), if any. */
  added?: string[];
  manifestPath: string;
  manifest: PkiManifest;
  seconds: number;
}

interface Planned {
  name: string;
  file: string; // path without extension, relative to out
  issuer: string; // entry name
  build: (key: DevKey, issuer: Issuer | undefined) => CertSpec;
}

export async function generatePki(opts: GeneratePkiOptions): Promise<GeneratePkiResult> {
  const started = performance.now();
  const out = resolve(opts.out);
  const manifestPath = join(out, 'manifest.json');
  const existing = existsSync(manifestPath) && !opts.force ? (JSON.parse(await readFile(manifestPath, 'utf8')) as PkiManifest) : null;
  const now = opts.now ?? new Date();
  const cities: DevCity[] = (existing ? existing.cities.map((c) => c.code) : opts.cityCodes?.length ? opts.cityCodes : DEV_CITIES.map((c) => c.code)).map(devCity);
  const notBefore = new Date(now.getTime() - DAY);
  const caUntil = new Date(now.getTime() + 10 * YEAR);
  const leafUntil = new Date(now.getTime() + 2 * YEAR);

  const ca = (cn: string, o: string, ou?: string): Planned['build'] => (key) => ({
    subject: [{ shortName: 'C', value: 'JP' }, { shortName: 'O', value: o }, ...(ou ? [{ shortName: 'OU', value: ou }] : []), { shortName: 'CN', value: cn }],
    publicKey: key.publicKey,
    selfKey: key.privateKey,
    notBefore,
    notAfter: caUntil,
    isCa: true,
    keyUsage: { keyCertSign: true, cRLSign: true, digitalSignature: true },
  });
  const tls = (cn: string, o: string, eku: ('serverAuth' | 'clientAuth')[], extra: Partial<CertSpec> = {}): Planned['build'] => (key, issuer) => ({
    subject: [{ shortName: 'C', value: 'JP' }, { shortName: 'O', value: o }, { shortName: 'CN', value: cn }],
    issuer,
    publicKey: key.publicKey,
    notBefore,
    notAfter: leafUntil,
    keyUsage: { digitalSignature: true, keyEncipherment: true },
    extKeyUsage: eku,
    dnsNames: LOCAL_DNS,
    ips: LOCAL_IPS,
    ...extra,
  });
  const kiosk = (k: DevKiosk, extra: Partial<CertSpec> = {}): Planned['build'] => (key, issuer) => ({
    subject: [
      { shortName: 'C', value: 'JP' },
      { shortName: 'O', value: k.storeOperator },
      { shortName: 'OU', value: k.storeId },
      { shortName: 'CN', value: k.kioskId },
    ],
    issuer,
    publicKey: key.publicKey,
    notBefore,
    notAfter: leafUntil,
    keyUsage: { digitalSignature: true, keyEncipherment: true },
    extKeyUsage: ['clientAuth'],
    ...extra,
  });

  const plan: Planned[] = [
    // LGWAN-sim
    { name: N.lgwanCa, file: 'lgwan/ca', issuer: N.lgwanCa, build: ca('LGWAN-sim Root CA', 'LGWAN-sim') },
    { name: N.lgwanCentre, file: 'lgwan/centre', issuer: N.lgwanCa, build: tls('issuance-center', 'J-LIS-sim', ['clientAuth', 'serverAuth']) },
    ...cities.map((c) => ({ name: N.lgwanCity(c.code), file: `lgwan/city-${c.code}`, issuer: N.lgwanCa, build: tls(`city-${c.code}`, 'LGWAN-sim', ['serverAuth', 'clientAuth']) })),
    // the koseki server beside each city's koseki system: its own server certificate, pinned by the city's replica
    ...cities.map((c) => ({ name: N.lgwanKoseki(c.code), file: `lgwan/koseki-${c.code}`, issuer: N.lgwanCa, build: tls(`koseki-${c.code}`, 'LGWAN-sim', ['serverAuth']) })),
    // the city's core system, sending 異動 batches to its replica's POST /v1/sync/delta
    ...cities.map((c) => ({ name: N.lgwanJukiCore(c.code), file: `lgwan/juki-core-${c.code}`, issuer: N.lgwanCa, build: tls(`juki-core-${c.code}`, 'LGWAN-sim', ['clientAuth']) })),
    { name: N.lgwanImpostor(cities[0].code), file: `lgwan/impostor-${cities[0].code}`, issuer: N.lgwanCa, build: tls(`city-${cities[0].code}`, 'LGWAN-sim', ['serverAuth', 'clientAuth']) },
    // kiosk line
    { name: N.kioskLineCa, file: 'kiosk-line/ca', issuer: N.kioskLineCa, build: ca('Kiosk-line CA (dev)', 'J-LIS-sim') },
    { name: N.kioskRogueCa, file: 'kiosk-line/rogue-ca', issuer: N.kioskRogueCa, build: ca('Rogue Kiosk CA (dev)', 'Rogue-sim') },
    { name: N.kioskLineCentre, file: 'kiosk-line/centre', issuer: N.kioskLineCa, build: tls('issuance-center', 'J-LIS-sim', ['serverAuth']) },
    ...DEV_KIOSKS.map((k) => ({ name: N.kiosk(k.kioskId), file: `kiosk-line/${k.kioskId}`, issuer: N.kioskLineCa, build: kiosk(k) })),
    {
      name: N.kioskExpired,
      file: 'kiosk-line/expired',
      issuer: N.kioskLineCa,
      build: kiosk(DEV_BAD_KIOSKS.expired, { notBefore: new Date(now.getTime() - 2 * YEAR), notAfter: new Date(now.getTime() - 30 * DAY) }),
    },
    { name: N.kioskRevoked, file: 'kiosk-line/revoked', issuer: N.kioskLineCa, build: kiosk(DEV_BAD_KIOSKS.revoked) },
    { name: N.kioskWrongCa, file: 'kiosk-line/wrong-ca', issuer: N.kioskRogueCa, build: kiosk(DEV_BAD_KIOSKS['wrong-ca']) },
    // JPKI-sim (card certificates are issued by the fixtures generator)
    {
      name: N.jpkiAuthCa,
      file: 'jpki/auth-ca',
      issuer: N.jpkiAuthCa,
      build: ca('JPKI-sim User Authentication CA', 'JPKI-sim', 'JPKI-sim for user authentication'),
    },
    { name: N.jpkiSignCa, file: 'jpki/sign-ca', issuer: N.jpkiSignCa, build: ca('JPKI-sim Digital Signature CA', 'JPKI-sim', 'JPKI-sim for digital signature') },
    // LGPKI-sim
    { name: N.lgpkiCa, file: 'lgpki/ca', issuer: N.lgpkiCa, build: ca('LGPKI-sim Application CA', 'LGPKI-sim') },
    ...cities.map((c) => ({
      name: N.lgpkiDocSigning(c.code),
      file: `lgpki/docsign-${c.code}`,
      issuer: N.lgpkiCa,
      build: ((key, issuer) => ({
        subject: [
          { shortName: 'C', value: 'JP' },
          { shortName: 'O', value: `${c.prefecture}${c.name}` },
          { shortName: 'CN', value: mayorTitleOf(c) },
        ],
        issuer,
        publicKey: key.publicKey,
        notBefore,
        notAfter: new Date(now.getTime() + 3 * YEAR),
        keyUsage: { digitalSignature: true, nonRepudiation: true },
      })) as Planned['build'],
    })),
  ];

  if (existing) return topUp(out, manifestPath, existing, plan, started);

  const keys = await mapLimit(plan, 4, () => generateRsaKey());
  const issued = new Map<string, { cert: IssuedCert; key: DevKey; planned: Planned }>();
  // Roots first (they issue themselves), then the rest.
  const order = [...plan.keys()].sort((a, b) => Number(plan[b].issuer === plan[b].name) - Number(plan[a].issuer === plan[a].name));
  for (const i of order) {
    const p = plan[i];
    let issuer: Issuer | undefined;
    if (p.issuer !== p.name) {
      const parent = issued.get(p.issuer);
      if (!parent) throw new Error(`issuer ${p.issuer} not built before ${p.name}`);
      issuer = { cert: parent.cert.cert, key: parent.key.privateKey };
    }
    issued.set(p.name, { cert: issueCert(p.build(keys[i], issuer)), key: keys[i], planned: p });
  }

  // Write everything into a temporary directory next to `out`, then move file by file.
  await mkdir(dirname(out), { recursive: true });
  const tmp = await mkdtemp(`${out}.tmp-`);
  try {
    const certs: Record<string, PkiCertRecord> = {};
    for (const p of plan) {
      const { cert, key } = issued.get(p.name)!;
      certs[p.name] = await writeLeaf(tmp, p, cert, key.privateKey);
    }
    const kioskCa = issued.get(N.kioskLineCa)!;
    const revokedSerial = issued.get(N.kioskRevoked)!.cert.serial;
    const thisUpdate = new Date(now.getTime() - 60 * 60 * 1000);
    const nextUpdate = new Date(now.getTime() + 30 * DAY);
    const crlDer = makeCrl({ cert: kioskCa.cert.cert, key: kioskCa.key.privateKey }, [{ serial: revokedSerial, revokedAt: new Date(now.getTime() - 2 * DAY), reason: 'keyCompromise' }], thisUpdate, nextUpdate);
    await writeRel(tmp, 'kiosk-line/ca.crl.der', crlDer, 0o644);
    await writeRel(tmp, 'kiosk-line/ca.crl.pem', crlDerToPem(crlDer), 0o644);

    const kiosks = [
      ...DEV_KIOSKS.map((k) => ({ name: N.kiosk(k.kioskId), ...k, status: 'active' as KioskCertStatus })),
      { name: N.kioskExpired, ...DEV_BAD_KIOSKS.expired, status: 'expired' as KioskCertStatus },
      { name: N.kioskRevoked, ...DEV_BAD_KIOSKS.revoked, status: 'revoked' as KioskCertStatus },
      { name: N.kioskWrongCa, ...DEV_BAD_KIOSKS['wrong-ca'], status: 'wrong-ca' as KioskCertStatus },
    ];
    const manifest: PkiManifest = {
      version: 1,
      generatedAt: now.toISOString(),
      cities: cities.map((c) => ({ ...c })),
      certs,
      crls: {
        [N.kioskLineCa]: {
          der: 'kiosk-line/ca.crl.der',
          pem: 'kiosk-line/ca.crl.pem',
          sha256: sha256Hex(crlDer),
          issuer: N.kioskLineCa,
          revokedSerials: [revokedSerial],
          thisUpdate: thisUpdate.toISOString(),
          nextUpdate: nextUpdate.toISOString(),
        },
      },
      kiosks,
    };
    const files = [...Object.values(certs).flatMap((c) => [c.cert, c.key]), 'kiosk-line/ca.crl.der', 'kiosk-line/ca.crl.pem'];
    await mkdir(out, { recursive: true });
    await rm(manifestPath, { force: true });
    for (const f of files) {
      await mkdir(dirname(join(out, f)), { recursive: true });
      await rename(join(tmp, f), join(out, f));
    }
    await writeRel(tmp, 'manifest.json', JSON.stringify(manifest, null, 2) + '\n', 0o644);
    await rename(join(tmp, 'manifest.json'), manifestPath);
    return { skipped: false, manifestPath, manifest, seconds: (performance.now() - started) / 1000 };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Issue the planned leaves an existing PKI lacks, from its own CAs; everything else stays. */
async function topUp(out: string, manifestPath: string, manifest: PkiManifest, plan: Planned[], started: number): Promise<GeneratePkiResult> {
  const missing = plan.filter((p) => !manifest.certs[p.name] && p.issuer !== p.name && manifest.certs[p.issuer]);
  const seconds = () => (performance.now() - started) / 1000;
  if (missing.length === 0) return { skipped: true, manifestPath, manifest, seconds: seconds() };
  const keys = await mapLimit(missing, 4, () => generateRsaKey());
  const certs = { ...manifest.certs };
  for (const [i, p] of missing.entries()) {
    const parent = manifest.certs[p.issuer]!;
    const issuer = loadIssuer(await readFile(join(out, parent.cert), 'utf8'), await readFile(join(out, parent.key), 'utf8'));
    const cert = issueCert(p.build(keys[i]!, issuer));
    certs[p.name] = await writeLeaf(out, p, cert, keys[i]!.privateKey);
  }
  const updated: PkiManifest = { ...manifest, certs };
  // the manifest last, replaced in one rename: readers see the old one or the new one
  const tmp = await mkdtemp(`${out}.tmp-`);
  try {
    await writeRel(tmp, 'manifest.json', JSON.stringify(updated, null, 2) + '\n', 0o644);
    await rename(join(tmp, 'manifest.json'), manifestPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { skipped: false, added: missing.map((p) => p.name), manifestPath, manifest: updated, seconds: seconds() };
}

/** Writes one leaf's certificate and key under `root` and returns its manifest record. */
async function writeLeaf(root: string, p: Planned, cert: IssuedCert, privateKey: KeyObject): Promise<PkiCertRecord> {
  const certRel = `${p.file}.crt.pem`;
  const keyRel = `${p.file}.key.pem`;
  await writeRel(root, keyRel, privateKeyPem(privateKey), 0o600);
  await writeRel(root, certRel, cert.pem, 0o644);
  return {
    cert: certRel,
    key: keyRel,
    sha256: cert.sha256,
    serial: cert.serial,
    cn: String(cert.cert.subject.getField('CN')?.value ?? ''),
    issuer: p.issuer,
    notBefore: cert.cert.validity.notBefore.toISOString(),
    notAfter: cert.cert.validity.notAfter.toISOString(),
  };
}

async function writeRel(root: string, rel: string, data: string | Buffer, mode: number): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, data, { mode });
  await chmod(p, mode);
}
