export { generatePki, DEV_KIOSKS, DEV_BAD_KIOSKS, type DevKiosk, type GeneratePkiOptions, type GeneratePkiResult } from './generate.js';
export { loadPki, type LoadedPki, type PkiEntry, type PkiKiosk } from './load.js';
export { PKI_NAMES, PKI_MANIFEST_VERSION, type PkiManifest, type PkiCertRecord, type PkiCrlRecord, type PkiKioskRecord, type KioskCertStatus } from './manifest.js';
export { DEV_CITIES, devCity, mayorTitleOf, type DevCity } from './cities.js';
export { makeCrl, crlDerToPem, crlSerials, type RevokedEntry, type RevocationReason } from './crl.js';
export { issueCardAuthCert, issueCardSignCert, JPKI_POLICY_AUTH, JPKI_POLICY_SIGN, type CardCertRequest } from './jpki.js';
export {
  issueCert,
  generateRsaKey,
  loadIssuer,
  randomSerialHex,
  privateKeyPem,
  privateKeyPkcs8Der,
  sha256Hex,
  pemToDer,
  derOf,
  mapLimit,
  type CertSpec,
  type DevKey,
  type IssuedCert,
  type Issuer,
} from './x509.js';
