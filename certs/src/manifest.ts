/** var/pki/manifest.json: every file the dev PKI wrote, with certificate fingerprints. */
export const PKI_MANIFEST_VERSION = 1;

export interface PkiCertRecord {
  /** Paths relative to the manifest's directory. */
  cert: string;
  key: string;
  /** SHA-256 of the certificate DER, lowercase hex. */
  sha256: string;
  /** forge's cert.serialNumber (lowercase hex). */
  serial: string;
  /** Subject CN. */
  cn: string;
  /** Name of the issuing entry in `certs` (itself for a root). */
  issuer: string;
  notBefore: string;
  notAfter: string;
}

export interface PkiCrlRecord {
  der: string;
  pem: string;
  sha256: string;
  issuer: string;
  revokedSerials: string[];
  thisUpdate: string;
  nextUpdate: string;
}

export type KioskCertStatus = 'active' | 'expired' | 'revoked' | 'wrong-ca';

export interface PkiKioskRecord {
  /** Entry name in `certs`. */
  name: string;
  kioskId: string;
  storeId: string;
  storeOperator: string;
  status: KioskCertStatus;
}

export interface PkiManifest {
  version: 1;
  generatedAt: string;
  cities: { code: string; prefecture: string; name: string }[];
  certs: Record<string, PkiCertRecord>;
  crls: Record<string, PkiCrlRecord>;
  kiosks: PkiKioskRecord[];
}

/** Entry names, in one place. */
export const PKI_NAMES = {
  lgwanCa: 'lgwan-ca',
  lgwanCentre: 'lgwan-centre',
  lgwanCity: (code: string) => `lgwan-city-${code}`,
  /** The koseki server of a city (server certificate only; CN koseki-<code>). */
  lgwanKoseki: (code: string) => `lgwan-koseki-${code}`,
  lgwanImpostor: (code: string) => `lgwan-impostor-${code}`,
  /** A city's core system (住基 core) as a sync client of its replica (client only; CN juki-core-<code>). */
  lgwanJukiCore: (code: string) => `lgwan-juki-core-${code}`,
  kioskLineCa: 'kiosk-line-ca',
  kioskRogueCa: 'kiosk-rogue-ca',
  kioskLineCentre: 'kiosk-line-centre',
  kiosk: (id: string) => `kiosk-${id}`,
  kioskExpired: 'kiosk-expired',
  kioskRevoked: 'kiosk-revoked',
  kioskWrongCa: 'kiosk-wrong-ca',
  jpkiAuthCa: 'jpki-auth-ca',
  jpkiSignCa: 'jpki-sign-ca',
  lgpkiCa: 'lgpki-ca',
  lgpkiDocSigning: (code: string) => `lgpki-docsign-${code}`,
} as const;
