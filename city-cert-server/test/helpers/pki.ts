import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway LGWAN-like PKI made with the openssl CLI, in a temp dir the caller removes. */
export interface TestPki {
  dir: string;
  ca: string;
  server: { key: string; cert: string };
  /** CN=issuance-center, from the CA. */
  centre: { key: string; cert: string };
  /** CN=some-other-service, from the same CA. */
  stranger: { key: string; cert: string };
  /** CN=issuance-center, but from a CA the server does not trust. */
  rogue: { key: string; cert: string };
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, cn: string, caName: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=LGWAN-sim/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/O=LGWAN-sim/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'city-cert-pki-'));
  makeCa(dir, 'ca', 'Test LGWAN CA');
  makeCa(dir, 'rogue-ca', 'Rogue CA');
  const client = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
  issue(dir, 'server', 'city-999997', 'ca', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  issue(dir, 'centre', 'issuance-center', 'ca', client);
  issue(dir, 'stranger', 'some-other-service', 'ca', client);
  issue(dir, 'rogue', 'issuance-center', 'rogue-ca', client);
  const pair = (n: string) => ({ key: readFileSync(join(dir, `${n}.key`), 'utf8'), cert: readFileSync(join(dir, `${n}.crt`), 'utf8') });
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    server: pair('server'),
    centre: pair('centre'),
    stranger: pair('stranger'),
    rogue: pair('rogue'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
