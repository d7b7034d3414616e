import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp as buildCentre, fingerprintOf } from 'issuance-center';

/*
 * What the outbox tests share: an LGWAN-sim PKI made with openssl in a directory of
 * the test, a real centre (issuance-center buildApp) with its city API on port 0, and
 * a poll that waits for a state instead of sleeping.
 */

export interface Tls {
  key: string;
  cert: string;
}

/** CA, the city's certificate (serves and calls), the centre's, an impostor's (same CA, not pinned), the core system's. */
export function lgwanPki(dir: string, cityCode: string): { ca: string; city: Tls; centre: Tls; impostor: Tls; core: Tls } {
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/O=LGWAN-sim/CN=Test LGWAN CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  function issue(name: string, cn: string, eku: string): Tls {
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${eku}\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`);
    ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=LGWAN-sim/CN=${cn}`]);
    ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8') };
  }
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  return {
    ca,
    city: issue('city', `city-${cityCode}`, 'serverAuth,clientAuth'),
    centre: issue('centre', 'issuance-center', 'serverAuth,clientAuth'),
    impostor: issue('impostor', 'issuance-center', 'serverAuth,clientAuth'),
    core: issue('core', `juki-core-${cityCode}`, 'clientAuth'),
  };
}

export interface CentreCity {
  code: string;
  name: string;
  prefecture: string;
}

/** A centre with its city API; the card directory seeded with `cards` (all of `city`). */
export async function startCentre(pki: { ca: string; city: Tls }, city: CentreCity, cards: string[], port = 0, tls: Tls) {
  const { ca } = pki;
  const app = buildCentre({
    kioskTls: { key: tls.key, cert: tls.cert, ca },
    lgwanTls: { key: tls.key, cert: tls.cert, ca },
    jpki: { roots: [ca] },
    directory: {
      cities: [{ code: city.code, name: city.name, prefecture: city.prefecture, endpoint: 'https://localhost:1', fingerprint256: fingerprintOf(pki.city.cert), status: 'active', fees: {} }],
      cards: cards.map((serial) => ({ serial, cityCode: city.code, validFrom: '2000-01-01' })),
      kiosks: [],
    },
    logger: false,
    cityApiListen: { host: '127.0.0.1', port },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: app.cityApi!.port(), refusal: (serial: string) => app.directory.cityForCard(serial, new Date()).then(() => 'routed', (e: { code?: string }) => e.code) };
}

/** Polls until `f` gives `want` (never a fixed sleep); the last value on timeout. */
export async function until<T>(f: () => Promise<T>, want: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (want(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
