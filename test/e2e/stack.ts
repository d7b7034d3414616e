/**
 * Test harness: the three programs in-process on port 0, wired with the dev PKI
 * and fixtures that `npm test`'s setup made (var/pki, var/fixtures). Cards are
 * copied to a temporary directory so tests that lock a PIN never touch the demo
 * cards.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp as buildCity, signerConfigFromHsmDir } from 'city-cert-server';
import { buildApp as buildCentre, fingerprintOf } from 'issuance-center';
import { cardSerialOf, type CardProfile, type CardScenario, type CentreDirectory, type CityDataset } from '@konbini/protocol';
import { CentreConnection, type CentreTls } from '../../kiosk-sim/src/centre/connection.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const PKI = join(ROOT, 'var/pki');
export const FIXTURES = join(ROOT, 'var/fixtures');

export function requireFixtures(): void {
  if (!existsSync(join(PKI, 'manifest.json')) || !existsSync(join(FIXTURES, 'centre.json'))) {
    throw new Error('dev PKI or fixtures missing: run `npm run setup` (npm test does it first)');
  }
}

interface Manifest {
  certs: Record<string, { cert: string; key: string }>;
  crls: Record<string, { der: string; pem: string }>;
}

export function pkiFiles(name: string): { cert: string; key: string } {
  const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as Manifest;
  const rec = manifest.certs[name];
  if (!rec) throw new Error(`no ${name} in the dev PKI`);
  return { cert: readFileSync(join(PKI, rec.cert), 'utf8'), key: readFileSync(join(PKI, rec.key), 'utf8') };
}

export function crlPem(name: string): string | undefined {
  const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as Manifest;
  const rec = manifest.crls[name];
  return rec && readFileSync(join(PKI, rec.pem), 'utf8');
}

export function centreDirectory(): CentreDirectory {
  return JSON.parse(readFileSync(join(FIXTURES, 'centre.json'), 'utf8')) as CentreDirectory;
}

export function cityDataset(code: string): CityDataset {
  return JSON.parse(readFileSync(join(FIXTURES, `city-${code}.json`), 'utf8')) as CityDataset;
}

export function cardProfiles(): CardProfile[] {
  const dir = join(FIXTURES, 'cards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CardProfile);
}

export function cardFor(scenario: CardScenario): CardProfile {
  const card = cardProfiles().find((c) => c.scenario === scenario);
  if (!card) throw new Error(`no fixture card for scenario ${scenario}`);
  return card;
}

/**
 * The centre's trust and directory as every in-process test wires it: the dev PKI's
 * kiosk-line and LGWAN certificates, the JPKI-sim root and CRL, and the fixtures'
 * directory with the first city routed to `cityPort` (its certificate pinned) and
 * every other city unreachable. Spread into buildCentre() beside the test's own
 * ledger, rate and logger settings. `directory`: the test's own copy when it changed
 * it (startStack re-anchors date-dependent cards to today).
 */
export function devCentreOptions(cityPort: number, directory: CentreDirectory = centreDirectory()) {
  const cityCode = directory.cities[0]!.code;
  const centreTls = pkiFiles('kiosk-line-centre');
  const lgwanCentre = pkiFiles('lgwan-centre');
  return {
    kioskTls: { key: centreTls.key, cert: centreTls.cert, ca: pkiFiles('kiosk-line-ca').cert, crl: crlPem('kiosk-line-ca') },
    lgwanTls: { key: lgwanCentre.key, cert: lgwanCentre.cert, ca: pkiFiles('lgwan-ca').cert },
    jpki: { roots: [pkiFiles('jpki-auth-ca').cert], crlDer: readFileSync(join(FIXTURES, 'jpki-auth.crl.der')) },
    directory: {
      cities: directory.cities.map((c) => ({
        ...c,
        endpoint: `https://localhost:${c.code === cityCode ? cityPort : 1}`,
        fingerprint256: c.code === cityCode ? fingerprintOf(pkiFiles(`lgwan-city-${cityCode}`).cert) : '00',
        status: 'active' as const,
      })),
      cards: directory.cards,
      kiosks: directory.kiosks,
    },
  };
}

export interface Stack {
  centreUrl: string;
  centreOrigin: string;
  centrePort: number;
  cityPort: number;
  cityCode: string;
  dataset: CityDataset;
  tmp: string;
  /** The city server in this process: tests reach its replica (city.replica) as city staff would through sync. */
  city: Awaited<ReturnType<typeof buildCity>>;
  kioskTls(kioskName?: string): CentreTls;
  /** A private copy of a fixture card file. */
  cardFile(card: CardProfile): string;
  connect(kioskName?: string): Promise<CentreConnection>;
  close(): Promise<void>;
}

function tokyoDay(offsetDays: number, yearsBack = 0): string {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  const ymd = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
  return `${Number(ymd.slice(0, 4)) - yearsBack}${ymd.slice(4)}`;
}

/**
 * The fixtures are generated once; the scenarios that depend on today's date are
 * re-anchored here so the tests mean the same thing on any day: the
 * not-yet-valid link starts tomorrow, the under-15 holder turns 15 in a month.
 */
function anchorToToday(dataset: CityDataset, directory: CentreDirectory): void {
  const tomorrow = tokyoDay(1);
  for (const card of cardProfiles()) {
    if (card.scenario === 'link-not-yet-valid') {
      for (const l of dataset.cardLinks) if (l.residentId === card.residentId && card.cityCode === dataset.city.code) l.validFrom = tomorrow;
      const serial = cardSerialOf(Buffer.from(card.jpki.authCertDer, 'base64'));
      for (const c of directory.cards) if (c.serial === serial) c.validFrom = tomorrow;
    }
    if (card.scenario === 'under-15' && card.cityCode === dataset.city.code) {
      const r = dataset.residents.find((x) => x.id === card.residentId);
      if (r) r.birthDate = tokyoDay(30, 15);
    }
  }
}

export async function startStack(opts: { logLines?: string[] } = {}): Promise<Stack> {
  requireFixtures();
  const directory = centreDirectory();
  const cityCode = directory.cities[0]!.code;
  const dataset = cityDataset(cityCode);
  anchorToToday(dataset, directory);
  const lgwanCa = pkiFiles('lgwan-ca').cert;
  const cityTls = pkiFiles(`lgwan-city-${cityCode}`);
  const sink = opts.logLines;
  const city = await buildCity({
    tls: { key: cityTls.key, cert: cityTls.cert, ca: lgwanCa },
    dataset,
    log: sink ? { level: 'info', stream: { write: (s: string) => void sink.push(s) } } : { level: 'silent' },
    // the city's token from scripts/setup.sh (`city-cert hsm init --pki var/pki --out var/hsm`)
    signer: signerConfigFromHsmDir(join(ROOT, 'var/hsm'), cityCode),
  });
  await city.listen({ port: 0, host: '127.0.0.1' });
  const cityPort = (city.server.address() as AddressInfo).port;

  const { pino } = await import('pino');
  const centre = buildCentre({
    ...devCentreOptions(cityPort, directory),
    logger: sink ? pino({ level: 'info' }, { write: (s: string) => sink.push(s) }) : false,
    // The tests play many kiosks over the fixtures' four kiosk certificates, far
    // faster than a real kiosk issues; the per-kiosk limit has its own tests.
    kioskRate: { burst: 1_000_000, perSecond: 1_000_000 },
  });
  await centre.listen({ port: 0, host: '127.0.0.1' });
  const centrePort = (centre.server.address() as AddressInfo).port;
  const tmp = mkdtempSync(join(tmpdir(), 'konbini-e2e-'));
  const kioskTls = (name = 'kiosk-K0001'): CentreTls => {
    const f = pkiFiles(name);
    return { key: f.key, cert: f.cert, ca: pkiFiles('kiosk-line-ca').cert };
  };
  const centreUrl = `wss://localhost:${centrePort}/v1/kiosk`;
  return {
    centreUrl,
    centreOrigin: `wss://localhost:${centrePort}`,
    centrePort,
    cityPort,
    cityCode,
    dataset,
    tmp,
    city,
    kioskTls,
    cardFile(card) {
      const to = join(tmp, `${card.cardId}-${Math.random().toString(36).slice(2)}.json`);
      copyFileSync(join(FIXTURES, 'cards', `${card.cardId}.json`), to);
      return to;
    },
    connect: (name) => CentreConnection.connect(centreUrl, kioskTls(name)),
    async close() {
      await centre.close();
      await city.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
