/**
 * The layout `city-cert hsm init --out <dir>` writes, and how a server finds its
 * token in it:
 *
 *   <dir>/softhsm2.conf        SoftHSM2 configuration, tokendir = <dir>/tokens
 *   <dir>/tokens/              SoftHSM2's token store
 *   <dir>/pins/<code>.pin      user PIN of the city's token (mode 0600)
 *   <dir>/pins/<code>.so-pin   security officer PIN (mode 0600), for re-imports
 *   <dir>/hsm.json             module, configuration and token label per city
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KonbiniError } from '@konbini/protocol';
import type { Pkcs11SignerConfig } from './signer.js';

export const HSM_MANIFEST = 'hsm.json';

export interface HsmManifest {
  version: 1;
  module: string;
  /** Relative to the manifest's directory. */
  softhsmConf: string;
  tokens: Record<string, { label: string; pinFile: string; certSha256: string }>;
}

export const tokenLabelOf = (cityCode: string): string => `konbini-docsign-${cityCode}`;

/**
 * The signer configuration for a city from an `hsm init` directory. The PIN comes
 * from `pinEnv` when that variable is set, else from the city's PIN file.
 */
export function signerConfigFromHsmDir(dir: string, cityCode: string, opts: { pinEnv?: string } = {}): Pkcs11SignerConfig {
  const root = resolve(dir);
  let manifest: HsmManifest;
  try {
    manifest = JSON.parse(readFileSync(join(root, HSM_MANIFEST), 'utf8')) as HsmManifest;
  } catch (err) {
    throw new KonbiniError('SIGNER_TOKEN_MISSING', { reason: 'no-hsm-manifest' }, { cause: err });
  }
  const token = manifest.tokens[cityCode];
  if (!token) throw new KonbiniError('SIGNER_TOKEN_MISSING', { reason: 'no-token-for-city', cityCode });
  const pinEnv = opts.pinEnv;
  return {
    module: manifest.module,
    softhsmConf: join(root, manifest.softhsmConf),
    tokenLabel: token.label,
    pin: pinEnv && process.env[pinEnv] ? { env: pinEnv } : { file: join(root, token.pinFile) },
  };
}
