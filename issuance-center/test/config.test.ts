import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config.js';

const VAR = resolve(import.meta.dirname, '../../var');

/**
 * A centre config in the shape `npm start` writes (scripts/start.mjs), built from the
 * dev PKI and fixtures that setup.sh makes before every test run, with absolute paths.
 */
function devConfig(): Record<string, unknown> {
  const manifest = JSON.parse(readFileSync(join(VAR, 'pki/manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
  const pki = (name: string) => ({ cert: join(VAR, 'pki', manifest.certs[name]!.cert), key: join(VAR, 'pki', manifest.certs[name]!.key) });
  const directory = join(VAR, 'fixtures/centre.json');
  const codes = (JSON.parse(readFileSync(directory, 'utf8')) as { cities: { code: string }[] }).cities.map((c) => c.code);
  return {
    host: '127.0.0.1',
    port: 0,
    kioskTls: { key: pki('kiosk-line-centre').key, cert: pki('kiosk-line-centre').cert, ca: pki('kiosk-line-ca').cert },
    lgwanTls: { key: pki('lgwan-centre').key, cert: pki('lgwan-centre').cert, ca: pki('lgwan-ca').cert },
    jpki: { roots: [pki('jpki-auth-ca').cert], crl: join(VAR, 'fixtures/jpki-auth.crl.der') },
    directory,
    cities: codes.map((code, i) => ({ code, endpoint: `https://localhost:${7450 + i}`, cert: pki(`lgwan-city-${code}`).cert })),
    serviceHours: 'always-open',
  };
}

t.test('config: service hours, city API and console', async (t) => {
  const base = devConfig();
  const dir = mkdtempSync(join(tmpdir(), 'centre-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (extra: Record<string, unknown>) => {
    const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(p, JSON.stringify({ ...base, ...extra }));
    return loadConfig(p).options;
  };
  const plain = write({});
  t.equal(plain.serviceHours, 'always-open', 'not enforced unless configured');
  t.equal(plain.console, undefined);
  t.equal(plain.cityApiListen, undefined);
  const city = (plain.directory as { cities: { hours?: unknown }[] }).cities[0]!;
  t.same(city.hours, { open: '06:30', close: '23:00', closedDays: ['12-29', '12-30', '12-31', '01-01', '01-02', '01-03'] }, "the directory's hours");

  const cities = (base.cities as Record<string, unknown>[]).map((c, i) => (i === 0 ? { ...c, hours: { byType: { 'koseki-full': { days: ['mon', 'tue', 'wed', 'thu', 'fri'] } } } } : c));
  const full = write({ serviceHours: 'enforce', console: { port: 7445, operators: 'ops.json' }, cityApi: { port: 7446 }, cities });
  t.equal(full.serviceHours, 'enforce');
  t.same(full.console, { listen: { host: '127.0.0.1', port: 7445 }, operators: join(dir, 'ops.json'), secureCookie: undefined }, 'operators file relative to the config');
  t.same(full.cityApiListen, { host: '127.0.0.1', port: 7446 });
  t.same((full.directory as { cities: { hours?: { byType?: unknown } }[] }).cities[0]!.hours?.byType, { 'koseki-full': { days: ['mon', 'tue', 'wed', 'thu', 'fri'] } }, 'per-type hours from the config');
  t.throws(() => write({ cities: [{ ...(base.cities as object[])[0], hours: { open: '6:30' } }] }), /HH:MM/, 'bad hours refused at start');
});
