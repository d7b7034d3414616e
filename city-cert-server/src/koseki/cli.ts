/**
 * city-cert serve --role koseki --dataset <koseki-<city>.json> --port <n> [--host 127.0.0.1]
 *   (--pki <dir> | --key <pem> --cert <pem> --ca <pem>) [--allow <replica CN>]...
 *   (--hsm <dir> [--pin-env VAR] | --unsigned)
 *   [--hours 09:00-17:00] [--days mon-fri] [--closed 12-29,12-30,...]
 *
 * The koseki server: its own store, its own hours. With --pki it serves with its own
 * LGWAN-sim server certificate (lgwan-koseki-<code>, CN koseki-<code>; never the
 * city's) and accepts the city's replica (CN city-<code>) only; the replica pins that
 * certificate (--koseki-pin, or from the same --pki).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { signerConfigFromHsmDir } from '../sign/hsm-store.js';
import { buildKosekiApp } from './app.js';
import { checkKosekiDataset } from './dataset.js';
import { parseKosekiHours } from './hours.js';

export const KOSEKI_USAGE = `       city-cert serve --role koseki --dataset <koseki-<city>.json> --port <n> [--host 127.0.0.1]
                       (--pki <dir> | --key --cert --ca) [--allow <replica CN>]... (--hsm <dir> | --unsigned)
                       [--hours 09:00-17:00] [--days mon-fri] [--closed MM-DD,...]
       city-cert serve ... --koseki-url https://host:port [--koseki-pin <sha256 of its certificate>]   (replica: forward koseki types)`;

export class KosekiUsageError extends Error {}

interface Manifest {
  certs: Record<string, { cert: string; key: string; sha256?: string }>;
}

/** The dev PKI's entry names (certs/src/manifest.ts PKI_NAMES). */
export const kosekiEntryOf = (cityCode: string) => `lgwan-koseki-${cityCode}`;
const cityEntryOf = (cityCode: string) => `lgwan-city-${cityCode}`;

/** What a dev PKI without koseki certificates (made before they existed) is told. */
function noKosekiEntry(manifestPath: string, cityCode: string): KosekiUsageError {
  return new KosekiUsageError(
    `${manifestPath}: no ${kosekiEntryOf(cityCode)} entry (a dev PKI made before koseki servers had their own certificates): ` +
      `run \`konbini-pki generate --out ${dirname(manifestPath)}\` to add it (nothing else changes)`,
  );
}

/**
 * A certificate and key of the dev PKI (var/pki/manifest.json), the LGWAN CA and the
 * certificate's pin: `which` 'koseki' is the city's koseki server, 'city' its replica.
 */
export async function lgwanFromPki(dir: string, cityCode: string, which: 'city' | 'koseki' = 'city'): Promise<{ key: string; cert: string; ca: string; sha256: string }> {
  const manifestPath = resolve(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  const base = dirname(manifestPath);
  const name = which === 'koseki' ? kosekiEntryOf(cityCode) : cityEntryOf(cityCode);
  const own = manifest.certs[name];
  const ca = manifest.certs['lgwan-ca'];
  if (!own && which === 'koseki') throw noKosekiEntry(manifestPath, cityCode);
  if (!own || !ca) throw new KosekiUsageError(`${manifestPath}: no ${name} or lgwan-ca entry`);
  const [key, cert, caPem] = await Promise.all([readFile(resolve(base, own.key), 'utf8'), readFile(resolve(base, own.cert), 'utf8'), readFile(resolve(base, ca.cert), 'utf8')]);
  const { certSha256 } = await import('./client.js');
  return { key, cert, ca: caPem, sha256: certSha256(cert) };
}

/** `--role koseki` (or `--role=koseki`) among the serve arguments. */
export function roleOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--role') return argv[i + 1];
    if (argv[i]!.startsWith('--role=')) return argv[i]!.slice('--role='.length);
  }
  return undefined;
}

export async function kosekiServe(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      dataset: { type: 'string' },
      pki: { type: 'string' },
      key: { type: 'string' },
      cert: { type: 'string' },
      ca: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      allow: { type: 'string', multiple: true },
      'log-level': { type: 'string', default: 'info' },
      hsm: { type: 'string' },
      'pin-env': { type: 'string', default: 'KONBINI_HSM_PIN' },
      unsigned: { type: 'boolean', default: false },
      hours: { type: 'string' },
      days: { type: 'string' },
      closed: { type: 'string' },
      'render-workers': { type: 'string' },
    },
    strict: true,
  });
  if (values.role !== 'koseki') throw new KosekiUsageError(`unknown role ${String(values.role)} (default or koseki)`);
  if (!values.dataset || values.port === undefined) throw new KosekiUsageError('--dataset and --port are required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new KosekiUsageError('--port must be 0-65535');
  const dataset = checkKosekiDataset(JSON.parse(await readFile(values.dataset, 'utf8')));
  const code = dataset.city.code;
  let tls: { key: string; cert: string; ca: string };
  if (values.key && values.cert && values.ca) {
    const [key, cert, ca] = await Promise.all([values.key, values.cert, values.ca].map((p) => readFile(p, 'utf8')));
    tls = { key: key!, cert: cert!, ca: ca! };
  } else if (values.pki) {
    const l = await lgwanFromPki(values.pki, code, 'koseki');
    tls = { key: l.key, cert: l.cert, ca: l.ca };
  } else throw new KosekiUsageError('give --pki <dir>, or --key, --cert and --ca');
  if (values.hsm && values.unsigned) throw new KosekiUsageError('give either --hsm <dir> or --unsigned, not both');
  if (!values.hsm && !values.unsigned) throw new KosekiUsageError('documents must be signed: give --hsm <dir>, or --unsigned for development');
  let hours;
  try {
    hours = parseKosekiHours(values.hours, values.days, values.closed?.split(',').filter(Boolean));
  } catch (err) {
    throw new KosekiUsageError((err as Error).message);
  }
  const workers = values['render-workers'] === undefined ? 0 : Number(values['render-workers']);
  if (!Number.isInteger(workers) || workers < 0 || workers > 16) throw new KosekiUsageError('--render-workers is 0-16');
  const signer = values.hsm ? signerConfigFromHsmDir(values.hsm, code, { pinEnv: values['pin-env'] }) : { unsigned: true as const };
  const app = await buildKosekiApp({
    tls,
    dataset,
    allowedClients: values.allow ?? [`city-${code}`],
    hours,
    signer,
    ...(workers > 0 ? { renderWorkers: workers } : {}),
    log: { level: values['log-level'], stream: pino.destination(2) },
  });
  let closing = false;
  const close = () => {
    if (closing) process.exit(1);
    closing = true;
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', close);
  process.on('SIGTERM', close);
  await app.listen({ port, host: values.host });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`listening https://${values.host}:${actualPort} (koseki ${code})\n`);
}

/** The SHA-256 pin of a city's koseki server certificate in a dev PKI. */
export function kosekiPinFromPki(dir: string, cityCode: string): string {
  const manifestPath = resolve(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const rec = manifest.certs[kosekiEntryOf(cityCode)];
  if (!rec) throw noKosekiEntry(manifestPath, cityCode);
  const cert = readFileSync(resolve(dirname(manifestPath), rec.cert), 'utf8');
  return createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
}

/** The city code of a replica certificate (CN city-<code>). */
function cityCodeOfCert(pem: string): string {
  const cn = /(?:^|\n)CN=city-(\d{6})(?:\n|$)/.exec(new X509Certificate(pem).subject)?.[1];
  if (!cn) throw new KosekiUsageError('the replica certificate is not a city certificate (CN city-<code>): give --koseki-pin');
  return cn;
}

/**
 * The replica's `--koseki-url` / `--koseki-pin`: where to forward koseki types. With
 * --pki and no pin, the pin is the city's koseki server certificate in that dev PKI
 * (lgwan-koseki-<code>, the city found by the CN of the replica's own certificate).
 */
export function replicaKosekiOption(
  values: { 'koseki-url'?: string; 'koseki-pin'?: string; pki?: string },
  tls: { key: string; cert: string; ca: string },
): { koseki?: import('./client.js').KosekiClientOptions } {
  if (!values['koseki-url']) {
    if (values['koseki-pin']) throw new KosekiUsageError('--koseki-pin needs --koseki-url');
    return {};
  }
  let pin = values['koseki-pin']?.toLowerCase().replace(/:/g, '');
  if (!pin) {
    if (!values.pki) throw new KosekiUsageError('--koseki-url without --pki needs --koseki-pin <sha256>');
    pin = kosekiPinFromPki(values.pki, cityCodeOfCert(tls.cert));
  }
  if (!/^[0-9a-f]{64}$/.test(pin)) throw new KosekiUsageError('--koseki-pin is the SHA-256 of the koseki server certificate, in hex');
  try {
    if (new URL(values['koseki-url']).protocol !== 'https:') throw new Error();
  } catch {
    throw new KosekiUsageError('--koseki-url is https://host:port');
  }
  return { koseki: { url: values['koseki-url'], tls, pinSha256: pin } };
}
