import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './http/app.js';
import { randomBytes } from 'node:crypto';
import { defaultOperatorsFile, loadConfig, type CentreConfigFile } from './config.js';
import { OperatorFile } from './ops/operators.js';
import { totp } from './ops/totp.js';
import { dbConfigFromArg, type DbConfig } from './ledger/db.js';
import { SqlLedger } from './ledger/sql-ledger.js';
import { settlementCsv, type CommissionRates } from './ledger/settlement.js';
import { UNREPORTED_PAGE_MAX, withNeedsAction } from './ledger/ledger.js';

const USAGE = `usage:
  issuance-center serve --config <centre.json> [--port N] [--host H]
  issuance-center ledger verify [--db <dir|postgres://…>] [--config <centre.json>]
  issuance-center ledger unreported [--limit N] [--offset N] [--json] [--db <dir|postgres://…>] [--config <centre.json>]
  issuance-center settle --month YYYY-MM [--format csv|json] [--commission YEN] [--db <dir|postgres://…>] [--config <centre.json>]
  issuance-center operator add <name> [--operators <file>] [--config <centre.json>] [--password-stdin]
  issuance-center operator code <name> [--operators <file>] [--config <centre.json>]   (development: the current TOTP code)

--db: a PGlite data directory or a PostgreSQL URL; default: the config's ledger,
else $KONBINI_STATE_DIR/centre-ledger (var/centre-ledger). A PGlite directory may
be opened by one process at a time: stop the centre first, or use PostgreSQL.
ledger unreported: issuances closed failed (not charged) after their kiosk left
without reporting, newest first (default 50, at most ${'$'}{UNREPORTED_PAGE_MAX});
"ACTION" marks a late "printed" report: a sheet went out uncharged.
--commission: yen withheld per printed copy; default the config's
settlement.commissionPerCopy, else ${'$'}{DEFAULT_COMMISSION} (a placeholder, not an official figure).`;

/** Placeholder commission per copy when nothing is configured. */
export const DEFAULT_COMMISSION = 115;

export function defaultLedgerDb(): DbConfig {
  return { dataDir: resolve(process.env.KONBINI_STATE_DIR ?? 'var', 'centre-ledger') };
}

function usage(code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(`${USAGE.replace('${DEFAULT_COMMISSION}', String(DEFAULT_COMMISSION)).replace('${UNREPORTED_PAGE_MAX}', String(UNREPORTED_PAGE_MAX))}\n`);
  return code;
}

function ledgerDbFrom(db: string | undefined, config: string | undefined): DbConfig {
  if (db) return dbConfigFromArg(db);
  if (config) {
    const cfg = loadConfig(config);
    if (cfg.options.ledgerDb) return cfg.options.ledgerDb;
  }
  return defaultLedgerDb();
}

async function serve(rest: string[]): Promise<number> {
  const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } } });
  if (!values.config) return usage(2);
  const cfg = loadConfig(values.config);
  const app = buildApp({ ...cfg.options, ledgerDb: cfg.options.ledgerDb ?? defaultLedgerDb(), processMetrics: true });
  const port = values.port ? Number(values.port) : cfg.port;
  const host = values.host ?? cfg.host;
  await app.listen({ port, host });
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  if (app.cityApi) process.stdout.write(`city-api https://${cfg.options.cityApiListen!.host}:${app.cityApi.port()}/v1/card-links\n`);
  if (app.operatorConsole) process.stdout.write(`console ${app.operatorConsole.url()}\n`);
  app.log.info({ event: 'service-hours', mode: cfg.options.serviceHours }, cfg.options.serviceHours === 'enforce' ? 'service hours enforced' : 'service hours NOT enforced (serviceHours: always-open)');
  process.stdout.write(`listening wss://${host}:${actual}/v1/kiosk\n`);
  const stop = () => {
    app.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}

async function verify(rest: string[]): Promise<number> {
  const { values } = parseArgs({ args: rest, options: { db: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } } });
  const ledger = await SqlLedger.open(ledgerDbFrom(values.db, values.config));
  try {
    const report = await ledger.verify();
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else if (report.ok) process.stdout.write(`ok records=${report.records} head=${report.head.seq}:${report.head.hash} pending=${await ledger.pendingCount()}\n`);
    else {
      for (const p of report.problems) {
        process.stdout.write(`${p.problem} seq=${p.seq}${'issuanceId' in p && p.issuanceId ? ` issuance=${p.issuanceId}` : ''}\n`);
      }
      process.stdout.write(`FAILED records=${report.records} problems=${report.problems.length} head=${report.head.seq}:${report.head.hash}\n`);
    }
    return report.ok ? 0 : 1;
  } finally {
    await ledger.close();
  }
}

async function unreportedCommand(rest: string[]): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: { db: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string', default: '50' }, offset: { type: 'string', default: '0' } },
  });
  const limit = Number(values.limit);
  const offset = Number(values.offset);
  if (!/^\d+$/.test(values.limit!) || limit < 1 || limit > UNREPORTED_PAGE_MAX || !/^\d+$/.test(values.offset!)) return usage(2);
  const ledger = await SqlLedger.open(ledgerDbFrom(values.db, values.config));
  try {
    const page = await ledger.listUnreported({ limit, offset });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(withNeedsAction(page))}\n`);
      return 0;
    }
    for (const u of page.items) {
      const late = u.lateReportAt ? `late-report=${u.lateReportAt} copies-printed=${u.lateCopiesPrinted} ACTION` : 'late-report=none';
      process.stdout.write(`closed=${u.closedAt} issuance=${u.issuanceId} kiosk=${u.kioskId} city=${u.cityCode ?? '-'} ${late}\n`);
    }
    process.stdout.write(`unreported=${page.total} needing-action=${page.needingAction} shown=${page.items.length} offset=${page.offset}\n`);
    return 0;
  } finally {
    await ledger.close();
  }
}

async function settleCommand(rest: string[]): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: { month: { type: 'string' }, format: { type: 'string', default: 'csv' }, commission: { type: 'string' }, db: { type: 'string' }, config: { type: 'string' } },
  });
  if (!values.month || !/^\d{4}-(0[1-9]|1[0-2])$/.test(values.month) || !['csv', 'json'].includes(values.format ?? '')) return usage(2);
  let rates: CommissionRates = { perCopy: DEFAULT_COMMISSION };
  if (values.config) {
    const s = (loadConfig(values.config).file as CentreConfigFile).settlement;
    if (s) rates = { perCopy: s.commissionPerCopy, byType: s.commissionByType };
  }
  if (values.commission !== undefined) {
    const n = Number(values.commission);
    if (!Number.isInteger(n) || n < 0) return usage(2);
    rates = { ...rates, perCopy: n };
  }
  const ledger = await SqlLedger.open(ledgerDbFrom(values.db, values.config));
  try {
    const s = await ledger.settlement(values.month, rates);
    process.stdout.write(values.format === 'json' ? `${JSON.stringify(s, null, 2)}\n` : settlementCsv(s));
    return 0;
  } finally {
    await ledger.close();
  }
}

function operatorsFileFrom(file: string | undefined, config: string | undefined): OperatorFile {
  if (file) return new OperatorFile(resolve(file));
  const fromConfig = config ? loadConfig(config).options.console?.operators : undefined;
  return new OperatorFile(typeof fromConfig === 'string' ? fromConfig : defaultOperatorsFile());
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function operatorCommand(sub: string | undefined, rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { operators: { type: 'string' }, config: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
  });
  const name = positionals[0];
  if (!name || (sub !== 'add' && sub !== 'code')) return usage(2);
  const file = operatorsFileFrom(values.operators, values.config);
  if (sub === 'code') {
    const op = file.find(name);
    if (!op) throw new Error(`no operator ${name} in ${file.path}`);
    process.stdout.write(`${totp(op.totpSecret, new Date())}\n`);
    return 0;
  }
  const given = values['password-stdin'] ? await readStdin() : process.env.KONBINI_OPERATOR_PASSWORD;
  const password = given ?? randomBytes(12).toString('base64url');
  const { totpSecret, otpauth } = await file.add(name, password);
  // Shown once: the file keeps only the password's scrypt hash.
  if (given === undefined) process.stdout.write(`password ${password}\n`);
  process.stdout.write(`totp-secret ${totpSecret}\notpauth ${otpauth}\noperators ${file.path}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'operator') return operatorCommand(argv[1], argv.slice(2));
  const [command, sub, ...rest] = argv;
  if (command === 'serve') return serve([sub, ...rest].filter((x): x is string => x !== undefined));
  if (command === 'ledger' && sub === 'verify') return verify(rest);
  if (command === 'ledger' && sub === 'unreported') return unreportedCommand(rest);
  if (command === 'settle') return settleCommand([sub, ...rest].filter((x): x is string => x !== undefined));
  return usage(command === undefined || command === '--help' ? 0 : 2);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`issuance-center: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
