import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CentreDirectory, CertType } from '@konbini/protocol';
import type { CentreOptions } from './http/app.js';
import { fingerprintOf } from './routing/city-client.js';
import type { CityEntry } from './routing/directory.js';
import { parseHours, type CityHours, type ServiceHoursMode } from './routing/service-hours.js';

/**
 * The centre's configuration file (JSON). Paths are relative to the file. City
 * certificates are pinned by fingerprint: give either the fingerprint or the
 * certificate file it is taken from.
 */
export interface CentreConfigFile {
  host?: string;
  port?: number;
  origin?: string;
  kioskTls: { key: string; cert: string; ca: string; crl?: string };
  lgwanTls: { key: string; cert: string; ca: string };
  /** crl: a file (relative to this file) or an http(s) URL, fetched again every crlRefreshSeconds (default 3600). */
  jpki: { roots: string[]; crl?: string; crlRefreshSeconds?: number; requireCrl?: boolean };
  /** Directory seed (cities, card links, kiosks) as the fixtures write it. */
  directory: string;
  /** hours: the city's own service hours (default: the directory's, else 6:30-23:00, closed 12/29-1/3), with per-type hours in `byType`. */
  cities: { code: string; endpoint: string; fingerprint256?: string; cert?: string; status?: 'active' | 'suspended'; hours?: Partial<CityHours> }[];
  /** "enforce" applies the cities' service hours; "always-open" (the default, for development) does not. */
  serviceHours?: ServiceHoursMode;
  /** The LGWAN-side listener where cities add and remove their card links (mutual TLS, pinned). */
  cityApi?: { host?: string; port: number };
  /** The operator console: its listener, and the operators' file (default $KONBINI_STATE_DIR/centre-operators.json). */
  console?: { host?: string; port: number; operators?: string; secureCookie?: boolean };
  /** Evidence ledger: a PGlite data directory (relative to this file) or a PostgreSQL URL. */
  ledger?: { dataDir?: string; url?: string };
  /** Messages per kiosk id: burst, then per second (default 40, 10). */
  kioskRate?: { burst: number; perSecond: number };
  /** Serve /metrics also on this plain-HTTP listener (keep it on the operator network). */
  metrics?: { host?: string; port: number };
  /** Yen withheld per printed copy (and per type where it differs). */
  settlement?: { commissionPerCopy: number; commissionByType?: Partial<Record<CertType, number>> };
  /**
   * How long a delivered issuance whose kiosk left without a report stays open for
   * the kiosk's late report (seconds, default 900). KONBINI_KIOSK_REPORT_GRACE_SECONDS
   * overrides it (the fault tests set it small).
   */
  kioskReportGraceSeconds?: number;
}

export function loadConfig(path: string): { host: string; port: number; options: CentreOptions; file: CentreConfigFile } {
  const file = JSON.parse(readFileSync(path, 'utf8')) as CentreConfigFile;
  const base = dirname(resolve(path));
  const read = (p: string) => readFileSync(resolve(base, p), 'utf8');
  const dir = JSON.parse(read(file.directory)) as CentreDirectory;
  const cities: CityEntry[] = file.cities.map((c) => {
    const known = dir.cities.find((d) => d.code === c.code);
    if (!known) throw new Error(`config: city ${c.code} is not in the directory`);
    const fingerprint256 = c.fingerprint256 ?? (c.cert ? fingerprintOf(read(c.cert)) : undefined);
    if (!fingerprint256) throw new Error(`config: city ${c.code} needs fingerprint256 or cert to pin`);
    const { serviceHours, lgwanCertSha256: _pinnedInFixtures, ...rest } = known;
    return { ...rest, endpoint: c.endpoint, fingerprint256, status: c.status ?? 'active', hours: parseHours({ ...serviceHours, ...c.hours }) };
  });
  return {
    file,
    host: file.host ?? '127.0.0.1',
    port: file.port ?? 0,
    options: {
      origin: file.origin,
      kioskTls: {
        key: read(file.kioskTls.key),
        cert: read(file.kioskTls.cert),
        ca: read(file.kioskTls.ca),
        crl: file.kioskTls.crl ? read(file.kioskTls.crl) : undefined,
      },
      lgwanTls: { key: read(file.lgwanTls.key), cert: read(file.lgwanTls.cert), ca: read(file.lgwanTls.ca) },
      jpki: {
        roots: file.jpki.roots.map(read),
        crlLocation: file.jpki.crl ? (/^https?:\/\//.test(file.jpki.crl) ? file.jpki.crl : resolve(base, file.jpki.crl)) : undefined,
        crlRefreshMs: file.jpki.crlRefreshSeconds !== undefined ? file.jpki.crlRefreshSeconds * 1000 : undefined,
        requireCrl: file.jpki.requireCrl,
      },
      directory: { cities, cards: dir.cards, kiosks: dir.kiosks },
      kioskRate: file.kioskRate,
      metricsListen: file.metrics ? { host: file.metrics.host ?? '127.0.0.1', port: file.metrics.port } : undefined,
      serviceHours: file.serviceHours ?? 'always-open',
      cityApiListen: file.cityApi ? { host: file.cityApi.host ?? '127.0.0.1', port: file.cityApi.port } : undefined,
      console: file.console
        ? {
            listen: { host: file.console.host ?? '127.0.0.1', port: file.console.port },
            operators: file.console.operators ? resolve(base, file.console.operators) : defaultOperatorsFile(),
            secureCookie: file.console.secureCookie,
          }
        : undefined,
      settlementRates: file.settlement ? { perCopy: file.settlement.commissionPerCopy, byType: file.settlement.commissionByType } : undefined,
      kioskReportGraceMs: reportGraceMs(file),
      ledgerDb: file.ledger?.url ? { url: file.ledger.url } : file.ledger?.dataDir ? { dataDir: resolve(base, file.ledger.dataDir) } : undefined,
    },
  };
}

/** Where `operator add` writes and the console reads operators unless configured. */
export function defaultOperatorsFile(): string {
  return resolve(process.env.KONBINI_STATE_DIR ?? 'var', 'centre-operators.json');
}

function reportGraceMs(file: CentreConfigFile): number | undefined {
  const env = process.env.KONBINI_KIOSK_REPORT_GRACE_SECONDS;
  const seconds = env !== undefined && env !== '' ? Number(env) : file.kioskReportGraceSeconds;
  if (seconds === undefined) return undefined;
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`config: kioskReportGraceSeconds must be a number of seconds ≥ 0, not ${JSON.stringify(seconds)}`);
  return seconds * 1000;
}
