import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config.js';

const RUN = resolve(import.meta.dirname, '../../var/run');

/** The development stack's centre config (var/run/centre.json, from `npm start`), with its paths made absolute. */
function devConfig(): Record<string, unknown> | undefined {
  let c: Record<string, any>;
  try {
    c = JSON.parse(readFileSync(join(RUN, 'centre.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const abs = (p: string) => resolve(RUN, p);
  for (const k of ['kioskTls', 'lgwanTls']) for (const kk of Object.keys(c[k])) c[k][kk] = abs(c[k][kk]);
  c.jpki.roots = c.jpki.roots.map(abs);
  if (c.jpki.crl) c.jpki.crl = abs(c.jpki.crl);
  c.directory = abs(c.directory);
  for (const city of c.cities) if (city.cert) city.cert = abs(city.cert);
  return c;
}

t.test('config: service hours, city API and console', async (t) => {
  const base = devConfig();
  if (!base) return t.skip('no var/run/centre.json (npm start writes it)');
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
