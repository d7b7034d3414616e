import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { CentreTls } from './centre/connection.js';
import { DEFAULT_READER, parseReaderSpec, type ReaderSpec } from './reader/reader-spec.js';
import { trustFromPem, type DocumentTrust } from './session/verify-signature.js';
import { parsePrinterSpec, type PrinterSpec } from './printer/lp-printer.js';

/**
 * The kiosk's configuration file (JSON; `npm start` writes var/run/kiosk.json).
 * Paths are relative to the file. The centre origin is part of what the card
 * signs, so it comes from here and never from the network.
 */
export interface KioskConfigFile {
  centreUrl: string;
  centreOrigin?: string;
  kioskId?: string;
  tls: { key: string; cert: string; ca: string };
  /** Where the demo card files are. */
  cardsDir: string;
  /** Kiosk-private working directory (spool). */
  workDir: string;
  /** `in-process` (default), `pcsc` or `pcsc:<reader name>`. */
  reader?: string;
  /** Where `card create` copies fixture cards from; default cardsDir. */
  fixturesCardsDir?: string;
  /** Host of pcscd's vpcd for `card insert` (default 127.0.0.1; 127.0.0.2 with the quickack route). */
  vpcdHost?: string;
  /**
   * PEM file(s) of the CA(s) whose document signers the kiosk accepts (the LGPKI-sim
   * CA). Default: the dev PKI's lgpki-ca (var/pki/manifest.json, or KONBINI_PKI_DIR).
   */
  documentSignerCa?: string | string[];
  /** `tray` (default: the simulated tray) or `cups:<queue>[@<server>]` (printed with lp). */
  printer?: string;
}

export interface KioskConfig {
  centreUrl: string;
  centreOrigin: string;
  kioskId: string;
  tls: CentreTls;
  cardsDir: string;
  workDir: string;
  reader: ReaderSpec;
  fixturesCardsDir: string;
  vpcdHost?: string;
  /** Undefined: the dev PKI's LGPKI-sim CA (see devDocumentTrust). */
  documentTrust?: DocumentTrust;
  printer: PrinterSpec;
}

export const DEFAULT_CONFIG = 'var/run/kiosk.json';

export function loadKioskConfig(path: string): KioskConfig {
  if (!existsSync(path)) {
    throw new Error(`no kiosk configuration at ${path}: start the stack with \`npm start\` first, or pass --config`);
  }
  const file = JSON.parse(readFileSync(path, 'utf8')) as KioskConfigFile;
  const base = dirname(resolve(path));
  const read = (p: string) => readFileSync(resolve(base, p), 'utf8');
  const tls = { key: read(file.tls.key), cert: read(file.tls.cert), ca: read(file.tls.ca) };
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(tls.cert).subject)?.[1];
  return {
    centreUrl: file.centreUrl,
    centreOrigin: file.centreOrigin ?? new URL(file.centreUrl).origin,
    kioskId: file.kioskId ?? cn ?? 'unknown',
    tls,
    cardsDir: resolve(base, file.cardsDir),
    workDir: resolve(base, file.workDir),
    reader: file.reader === undefined ? DEFAULT_READER : parseReaderSpec(file.reader),
    fixturesCardsDir: resolve(base, file.fixturesCardsDir ?? file.cardsDir),
    vpcdHost: file.vpcdHost,
    printer: file.printer === undefined ? { kind: 'tray' } : parsePrinterSpec(file.printer),
    ...(file.documentSignerCa !== undefined
      ? { documentTrust: trustFromPem([file.documentSignerCa].flat().map((p) => read(p))) }
      : {}),
  };
}
