/**
 * city-cert verify --number <確認番号 or issuance id> --hash <sha256> --url https://host:port [--ca <pem>]
 *   Asks the city's verification endpoint; prints `authentic` (exit 0) or `not authentic` (exit 1).
 * city-cert serve ... --verify-port <n>: the replica also serves POST /v1/verify there (HTTPS, no client certificate).
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { LogOptions } from '../http/logging.js';
import { buildVerifyApp, VERIFY_API } from './app.js';

export const VERIFY_USAGE = `       city-cert verify --number <確認番号> --hash <sha256 of the PDF or from the 2D code> --url https://host:port [--ca <ca.pem>]
       city-cert serve ... --verify-port <n>   (public verification endpoint, HTTPS without client certificates)`;

export class VerifyUsageError extends Error {}

/** Start the verification listener beside the replica (same Db, same server certificate). */
export async function startVerifyListener(app: FastifyInstance, port: string | undefined, host: string, tls: { key: string; cert: string }, log?: LogOptions): Promise<FastifyInstance | null> {
  if (port === undefined) return null;
  const p = Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new VerifyUsageError('--verify-port must be 0-65535');
  const v = await buildVerifyApp({ db: app.replica, tls, ...(log ? { log } : {}) });
  await v.listen({ port: p, host });
  // the replica is already listening (no more hooks): close with its server
  app.server.once('close', () => void v.close());
  const a = v.server.address();
  process.stdout.write(`verify https://${host}:${typeof a === 'object' && a ? a.port : p}${VERIFY_API.verify}\n`);
  return v;
}

export async function verifyCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { number: { type: 'string' }, hash: { type: 'string' }, url: { type: 'string' }, ca: { type: 'string' } }, strict: true });
  if (!values.number || !values.hash || !values.url) throw new VerifyUsageError('--number, --hash and --url are required');
  if (!/^[0-9a-fA-F]{64}$/.test(values.hash)) throw new VerifyUsageError('--hash is a SHA-256 in hex (64 characters)');
  const url = new URL(VERIFY_API.verify, values.url);
  const ca = values.ca ? await readFile(values.ca, 'utf8') : undefined;
  const body = Buffer.from(JSON.stringify({ number: values.number, hash: values.hash.toLowerCase() }));
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', ...(ca ? { ca } : {}), agent: false, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const parsed = JSON.parse(answer.body) as { authentic?: boolean; code?: string };
  if (answer.status !== 200) {
    process.stderr.write(`error ${parsed.code ?? answer.status}\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(parsed.authentic ? 'authentic\n' : 'not authentic\n');
  process.exitCode = parsed.authentic ? 0 : 1;
}
