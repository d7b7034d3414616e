/**
 * city-cert hsm init --pki <dir> --out <dir> [--city <code>]... [--module <pkcs11 .so>]
 *
 * Creates (once) one SoftHSM2 token per city and imports the city's LGPKI-sim
 * document-signing key and certificate and the LGPKI-sim CA certificate from the dev
 * PKI. Running it again changes nothing unless the PKI was regenerated. Prints one
 * line per token; never prints a PIN.
 */
import { parseArgs } from 'node:util';
import { initHsm } from './sign/hsm-init.js';

const USAGE = 'usage: city-cert hsm init --pki <dir> --out <dir> [--city <code>]... [--module <pkcs11 module>]';

export async function hsmCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  let values;
  try {
    if (sub !== 'init') throw new Error(sub ? `unknown hsm command ${sub}` : 'no hsm command');
    ({ values } = parseArgs({
      args: rest,
      options: { pki: { type: 'string' }, out: { type: 'string' }, city: { type: 'string', multiple: true }, module: { type: 'string' } },
      strict: true,
    }));
    if (!values.pki || !values.out) throw new Error('--pki and --out are required');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const result = initHsm({ pki: values.pki, out: values.out, ...(values.city ? { cities: values.city } : {}), ...(values.module ? { module: values.module } : {}) });
  for (const t of result.tokens) process.stdout.write(`token ${t.label} (city ${t.cityCode}): ${t.action}\n`);
  process.stdout.write(`hsm ready: ${result.dir}\n`);
}
