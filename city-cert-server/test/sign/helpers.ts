import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CITY = '992011';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway LGPKI-like PKI in the layout of var/pki/manifest.json (only the entries
 * `hsm init` reads): an RSA CA and the city's RSA-2048 document-signing certificate.
 */
export function makeLgpki(parent: string, name = 'pki'): string {
  const dir = join(parent, name);
  mkdirSync(join(dir, 'lgpki'), { recursive: true });
  const l = join(dir, 'lgpki');
  openssl(l, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key.pem', '-out', 'ca.crt.pem', '-days', '3', '-subj', '/O=LGPKI-sim/CN=Test LGPKI-sim Application CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(l, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `docsign-${CITY}.key.pem`, '-out', 'docsign.csr', '-utf8', '-subj', '/C=JP/O=青嵐県東雲市/CN=青嵐県東雲市長']);
  writeFileSync(join(l, 'docsign.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n');
  openssl(l, ['x509', '-req', '-in', 'docsign.csr', '-CA', 'ca.crt.pem', '-CAkey', 'ca.key.pem', '-CAcreateserial', '-days', '2', '-out', `docsign-${CITY}.crt.pem`, '-extfile', 'docsign.ext']);
  const manifest = {
    version: 1,
    cities: [{ code: CITY }],
    certs: {
      'lgpki-ca': { cert: 'lgpki/ca.crt.pem', key: 'lgpki/ca.key.pem' },
      [`lgpki-docsign-${CITY}`]: { cert: `lgpki/docsign-${CITY}.crt.pem`, key: `lgpki/docsign-${CITY}.key.pem` },
    },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
