/**
 * konbini-pki generate --out var/pki [--force] [--city 991015 ...]
 * Prints what it did: paths and fingerprints only, never key material.
 */
import { parseArgs } from 'node:util';
import { generatePki } from './generate.js';

const USAGE = 'usage: konbini-pki generate [--out var/pki] [--force] [--city <code> ...]';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'var/pki' },
      force: { type: 'boolean', default: false },
      city: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals[0] !== 'generate' || positionals.length !== 1) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  for (const c of values.city ?? []) {
    if (!/^\d{6}$/.test(c)) {
      console.error(`--city must be a 6-digit 地方公共団体コード: ${c}`);
      return 2;
    }
  }
  const r = await generatePki({ out: values.out!, force: values.force, cityCodes: values.city });
  if (r.skipped) {
    console.log(`dev PKI already present: ${r.manifestPath} (use --force to regenerate)`);
  } else if (r.added) {
    console.log(`dev PKI topped up: ${r.manifestPath} (added ${r.added.join(', ')}; nothing else changed)`);
  } else {
    console.log(`dev PKI written: ${r.manifestPath} (${Object.keys(r.manifest.certs).length} certificates, ${r.seconds.toFixed(2)} s)`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`konbini-pki: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
