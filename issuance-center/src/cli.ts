import { parseArgs } from 'node:util';
import { buildApp } from './http/app.js';
import { loadConfig } from './config.js';

const USAGE = `usage: issuance-center serve --config <centre.json> [--port N] [--host H]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'serve') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } } });
  if (!values.config) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const cfg = loadConfig(values.config);
  const app = buildApp(cfg.options);
  const port = values.port ? Number(values.port) : cfg.port;
  const host = values.host ?? cfg.host;
  await app.listen({ port, host });
  const addr = app.server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  process.stdout.write(`listening wss://${host}:${actual}/v1/kiosk\n`);
  const stop = () => {
    app.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`issuance-center: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
