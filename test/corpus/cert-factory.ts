/**
 * Card certificates the dev PKI does not ship, made on the fly by the JPKI-sim
 * user-authentication CA (its dev key under var/pki): not yet valid, wrong key
 * usage, an EC key, and a good one no card directory knows. Nothing is written
 * outside a temporary directory, which is removed.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface MadeCert {
  /** base64 DER */
  der: string;
  /** PKCS#8 DER base64 of its key (RSA only) */
  keyPkcs8?: string;
}

function pemToB64(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

export function makeCardCert(
  ca: { cert: string; key: string },
  opts: { notBefore?: Date; notAfter?: Date; keyUsage?: Record<string, boolean> } = {},
): MadeCert {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = `7f${randomBytes(11).toString('hex')}`;
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject([{ shortName: 'C', value: 'JP' }, { shortName: 'CN', value: randomBytes(12).toString('hex').toUpperCase() }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, ...(opts.keyUsage ?? { digitalSignature: true }) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary').toString('base64');
  return { der, keyPkcs8: (privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64') };
}

/** An EC P-256 certificate from the same CA (the card's key is RSA-2048). */
export function makeEcCardCert(ca: { cert: string; key: string }): MadeCert {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-corpus-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ec.key', '-out', 'ec.csr', '-subj', '/C=JP/CN=EC0000000000000000000000']);
    run(['x509', '-req', '-in', 'ec.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x7e01', '-days', '30', '-out', 'ec.crt', '-extfile', 'ext']);
    return { der: pemToB64(readFileSync(join(dir, 'ec.crt'), 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export { pemToB64 };
