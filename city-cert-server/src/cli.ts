import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { buildApp } from './http/app.js';
import { openDb } from './replica/db.js';
import { CommandUsageError, SYNC_USAGE, generateCommand, statusCommand, syncCommand, taxCommand } from './sync/cli-commands.js';
import type { CityDataset } from './replica/dataset.js';
import { hsmCommand } from './hsm-cli.js';
// koseki path (issue 6): the koseki server role, and the replica's forwarding options
import { KOSEKI_USAGE, KosekiUsageError, kosekiServe, replicaKosekiOption, roleOf } from './koseki/cli.js';
// anti-forgery (issue 6): the public verification listener and `city-cert verify`
import { VERIFY_USAGE, VerifyUsageError, startVerifyListener, verifyCommand } from './verify/cli.js';
import { renderWorkersOption } from './pool/cli.js';
import { signerConfigFromHsmDir } from './sign/hsm-store.js';

/*
 * city-cert serve --dataset <city json> (--pki <dir> | --key <pem> --cert <pem> --ca <pem>)
 *                 --port <n> [--host 127.0.0.1] [--db <pglite dir>] [--allow <client CN>]...
 *
 * Only configuration, listen, and a graceful close: everything else is buildApp.
 * Logs (JSON) go to stderr; stdout carries the one "listening" line scripts wait for.
 */

const USAGE = `usage: city-cert serve --dataset <city.json> --port <n> [--host 127.0.0.1] [--db <pglite dir>]
                       (--pki <dir> | --key <key.pem> --cert <cert.pem> --ca <ca.pem>) [--allow <client CN>]...
                       (--hsm <dir from \`city-cert hsm init\`> [--pin-env <VAR>] | --unsigned)
                       [--centre-city-api https://<host>:<port> [--centre-cert <centre.pem>]]
       city-cert hsm init --pki <dir> --out <dir> [--city <code>]...`;

interface ManifestCert {
  cert: string;
  key: string;
}
interface Manifest {
  certs: Record<string, ManifestCert>;
}

/** The dev PKI (var/pki/manifest.json): this city's LGWAN cert and the LGWAN CA. */
async function tlsFromPki(dir: string, cityCode: string): Promise<{ key: string; cert: string; ca: string }> {
  const manifestPath = resolve(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  const base = dirname(manifestPath);
  const own = manifest.certs[`lgwan-city-${cityCode}`];
  const ca = manifest.certs['lgwan-ca'];
  if (!own || !ca) throw new Error(`${manifestPath}: no lgwan-city-${cityCode} or lgwan-ca entry`);
  const [key, cert, caPem] = await Promise.all([
    readFile(resolve(base, own.key), 'utf8'),
    readFile(resolve(base, own.cert), 'utf8'),
    readFile(resolve(base, ca.cert), 'utf8'),
  ]);
  return { key, cert, ca: caPem };
}

/** A certificate file named in the dev PKI manifest. */
async function pkiCertPath(dir: string, name: string): Promise<string | undefined> {
  const manifestPath = resolve(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  const entry = manifest.certs[name];
  return entry ? resolve(dirname(manifestPath), entry.cert) : undefined;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string' },
      pki: { type: 'string' },
      key: { type: 'string' },
      cert: { type: 'string' },
      ca: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      db: { type: 'string' },
      // replica sync: CNs of the core system's client certificates; freshness limit (e.g. 15m, 2h, 900s)
      'sync-allow': { type: 'string', multiple: true },
      'replica-max-age': { type: 'string' },
      allow: { type: 'string', multiple: true },
      'log-level': { type: 'string', default: 'info' },
      // document signing (sign/): a PKCS#11 token set up by `city-cert hsm init`, or explicitly none
      hsm: { type: 'string' },
      'pin-env': { type: 'string', default: 'KONBINI_HSM_PIN' },
      unsigned: { type: 'boolean', default: false },
      // koseki path: this is the replica role; forward koseki types to the koseki server (koseki/cli.ts)
      role: { type: 'string' },
      'koseki-url': { type: 'string' },
      'koseki-pin': { type: 'string' },
      'verify-port': { type: 'string' },
      // worker pool (pool/): render in this many worker threads
      'render-workers': { type: 'string' },
      // card link changes to the centre's card directory (outbox/): its city API and its pinned certificate
      'centre-city-api': { type: 'string' },
      'centre-cert': { type: 'string' },
    },
    strict: true,
  });
  if (!values.dataset || values.port === undefined) throw new UsageError('--dataset and --port are required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');

  const dataset = JSON.parse(await readFile(values.dataset, 'utf8')) as CityDataset;
  let tls: { key: string; cert: string; ca: string };
  if (values.key && values.cert && values.ca) {
    const [key, cert, ca] = await Promise.all([values.key, values.cert, values.ca].map((p) => readFile(p, 'utf8')));
    tls = { key: key!, cert: cert!, ca: ca! };
  } else if (values.pki) {
    tls = await tlsFromPki(values.pki, dataset.city.code);
  } else {
    throw new UsageError('give --pki <dir>, or --key, --cert and --ca');
  }

  if (values.hsm && values.unsigned) throw new UsageError('give either --hsm <dir> or --unsigned, not both');
  if (!values.hsm && !values.unsigned) throw new UsageError('documents must be signed: give --hsm <dir> (see `city-cert hsm init`), or --unsigned for development');
  const signer = values.hsm ? signerConfigFromHsmDir(values.hsm, dataset.city.code, { pinEnv: values['pin-env'] }) : { unsigned: true as const };

  // the centre's certificate: --centre-cert <pem>, else the dev PKI's lgwan-centre entry
  let centre: { url: string; centreCert: string } | undefined;
  if (values['centre-city-api']) {
    if (!/^https:\/\/[^/]+/.test(values['centre-city-api'])) throw new UsageError('--centre-city-api is https://host:port');
    const certPath = values['centre-cert'] ?? (values.pki ? await pkiCertPath(values.pki, 'lgwan-centre') : undefined);
    if (!certPath) throw new UsageError('--centre-city-api needs --centre-cert <pem> (or --pki with an lgwan-centre entry)');
    centre = { url: values['centre-city-api'], centreCert: await readFile(certPath, 'utf8') };
  } else if (values['centre-cert']) throw new UsageError('--centre-cert goes with --centre-city-api');
  const maxAge = values['replica-max-age'] ? /^(\d+)(s|m|h)$/.exec(values['replica-max-age']) : null;
  if (values['replica-max-age'] && !maxAge) throw new UsageError('--replica-max-age is a number with s, m or h (e.g. 15m)');
  // --db postgres://... is a PostgreSQL server (several workers may share it); anything else a PGlite directory
  const pgDb = values.db && /^postgres(ql)?:\/\//.test(values.db) ? await openDb(values.db) : null;
  const app = await buildApp({
    signer,
    tls,
    dataset,
    db: pgDb ? { instance: pgDb } : values.db ? { dataDir: resolve(values.db) } : {},
    ...(values['sync-allow'] ? { syncClients: values['sync-allow'] } : {}),
    ...(maxAge ? { replicaMaxAgeMs: Number(maxAge[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[maxAge[2] as 's' | 'm' | 'h'] } : {}),
    ...(values.allow ? { allowedClients: values.allow } : {}),
    log: { level: values['log-level'], stream: pino.destination(2) },
    ...replicaKosekiOption(values, tls),
    ...renderWorkersOption(values['render-workers']),
    ...(centre ? { centre } : {}),
  });

  let closing = false;
  const close = (signal: string) => {
    if (closing) {
      process.exit(1); // second signal: stop waiting
    }
    closing = true;
    app.log.info({ result: signal }, 'closing');
    app.close().then(
      async () => {
        await pgDb?.close();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => close('SIGINT'));
  process.on('SIGTERM', () => close('SIGTERM'));

  await app.listen({ port, host: values.host });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`listening https://${values.host}:${actualPort}\n`);
  await startVerifyListener(app, values['verify-port'], values.host, tls, { level: values['log-level'], stream: pino.destination(2) });
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'serve' && roleOf(rest) !== undefined && roleOf(rest) !== 'default') return kosekiServe(rest);
  if (command === 'serve') return serve(rest);
  if (command === 'sync') return syncCommand(rest);
  if (command === 'status') return statusCommand(rest);
  if (command === 'generate') return generateCommand(rest);
  if (command === 'tax') return taxCommand(rest);
  if (command === 'hsm') return hsmCommand(rest);
  if (command === 'verify') return verifyCommand(rest);
  throw new UsageError(command ? `unknown command ${command}` : 'no command');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof CommandUsageError || err instanceof KosekiUsageError || err instanceof VerifyUsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n${KOSEKI_USAGE}\n${VERIFY_USAGE}\n${SYNC_USAGE}\n`);
    process.exit(2);
  }
  // no personal data can be in these messages: configuration and start-up only
  process.stderr.write(`city-cert: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
