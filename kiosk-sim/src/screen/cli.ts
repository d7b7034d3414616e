import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG, loadKioskConfig } from '../config.js';
import { ERRORS, KonbiniError } from '@konbini/protocol';
import { buildScreen } from './server.js';
import { formatReaderSpec, openReader, parseReaderSpec, type ReaderSpec } from '../reader/reader-spec.js';
import type { CardReader } from '../reader/card-reader.js';
import { LpPrinter, parsePrinterSpec, type PrinterSpec } from '../printer/lp-printer.js';
import { hashMaintenancePassword } from './maintenance.js';

export const SCREEN_USAGE = `  kiosk-sim screen [--port N] [--host 127.0.0.1] [--config ${DEFAULT_CONFIG}] [--tray <dir>] [--idle-seconds N]
                   [--maintenance-hash-file <file>] [--reader in-process|pcsc|pcsc:<reader name>]
                   [--printer tray|cups:<queue>[@<server>]]
  kiosk-sim screen hash-password < password   (prints the scrypt hash for --maintenance-hash-file)`;

/**
 * `kiosk-sim screen`: the kiosk's touch screen and the demo card controls, served
 * on 127.0.0.1 until SIGINT/SIGTERM. Resolves with the exit code.
 */
export async function screenCommand(args: string[]): Promise<number> {
  if (args[0] === 'hash-password') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (password.length < 8) {
      process.stderr.write('kiosk-sim: the maintenance password needs at least 8 characters\n');
      return 2;
    }
    process.stdout.write(`${await hashMaintenancePassword(password)}\n`);
    return 0;
  }
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      config: { type: 'string' },
      tray: { type: 'string' },
      'idle-seconds': { type: 'string', default: '60' },
      'maintenance-hash-file': { type: 'string' },
      reader: { type: 'string' },
      printer: { type: 'string' },
    },
  });
  const port = Number(values.port);
  const idle = Number(values['idle-seconds']);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(idle) || idle < 1) {
    process.stderr.write(`usage:\n${SCREEN_USAGE}\n`);
    return 2;
  }
  const cfg = loadKioskConfig(values.config ?? DEFAULT_CONFIG);
  let spec: ReaderSpec = cfg.reader;
  if (values.reader !== undefined) {
    try {
      spec = parseReaderSpec(values.reader);
    } catch (err) {
      process.stderr.write(`kiosk-sim: ${(err as Error).message}\nusage:\n${SCREEN_USAGE}\n`);
      return 2;
    }
  }
  let printerSpec: PrinterSpec = cfg.printer;
  if (values.printer !== undefined) {
    try {
      printerSpec = parsePrinterSpec(values.printer);
    } catch (err) {
      process.stderr.write(`kiosk-sim: ${(err as Error).message}\nusage:\n${SCREEN_USAGE}\n`);
      return 2;
    }
  }
  // With PC/SC the demo panel shows the reader as pcscd reports it instead of card buttons.
  let reader: CardReader | undefined;
  if (spec.kind === 'pcsc') {
    try {
      reader = openReader(spec);
    } catch (err) {
      const e = err instanceof KonbiniError ? err : new KonbiniError('READER_UNAVAILABLE', { reader: formatReaderSpec(spec) });
      process.stderr.write(`error ${e.code}: ${ERRORS[e.code].ja} / ${ERRORS[e.code].en}\n`);
      return 1;
    }
    reader.on('pcsc-error', () => { /* surfaces as the session's CARD_* errors */ });
  }
  const screen = buildScreen({
    kioskId: cfg.kioskId,
    centreUrl: cfg.centreUrl,
    centreOrigin: cfg.centreOrigin,
    tls: cfg.tls,
    cardsDir: cfg.cardsDir,
    workDir: cfg.workDir,
    ...(cfg.documentTrust ? { documentTrust: cfg.documentTrust } : {}),
    trayDir: values.tray ? resolve(values.tray) : undefined,
    idleMs: idle * 1000,
    ...(reader ? { reader } : {}),
    ...(printerSpec.kind === 'cups' ? { printer: new LpPrinter({ queue: printerSpec.queue, ...(printerSpec.server ? { server: printerSpec.server } : {}) }) } : {}),
    ...(values['maintenance-hash-file'] ? { maintenance: { passwordHash: readFileSync(values['maintenance-hash-file'], 'utf8').trim() } } : {}),
    // ids and codes only (DESIGN §8)
    log: (event, fields) => process.stderr.write(`${JSON.stringify({ time: Date.now(), kiosk: cfg.kioskId, event, ...fields })}\n`),
  });
  const url = await screen.listen(port, values.host);
  // `listening <url>` is the line scripts/start.mjs waits for, as with the other services.
  process.stdout.write(`listening ${url}\nkiosk screen: ${url}\n`);
  process.stderr.write(`${JSON.stringify({ time: Date.now(), kiosk: cfg.kioskId, event: 'screen-listening', tray: screen.trayDir, reader: formatReaderSpec(spec) })}\n`);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await screen.close();
  return 0;
}
