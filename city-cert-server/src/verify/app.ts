/**
 * The city's verification endpoint: `POST /v1/verify {number, hash}` → `{authentic}`.
 *
 * A listener of its own (HTTPS with the city's server certificate, no client
 * certificate): the people who check a certificate (a bank, a landlord, a court) are
 * not on LGWAN, and the LGWAN port keeps answering the centre only. The answer is a
 * yes or a no: no name, no type, no date, nothing of the certificate's content; a
 * wrong hash and an unknown number get the same answer.
 */
import { randomUUID } from 'node:crypto';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { KonbiniError, ajv } from '@konbini/protocol';
import { toKonbiniError } from '../http/errors.js';
import { createLogger, type LogOptions } from '../http/logging.js';
import type { Queryable } from '../replica/db.js';
import { isAuthentic } from './store.js';

export const VERIFY_API = { verify: '/v1/verify' } as const;

export interface VerifyRequest {
  /** 確認番号 as printed (1234-5678-9012-3456), or the issuance id. */
  number: string;
  /** SHA-256 (hex) of the PDF, or the content hash the 2D code carries. */
  hash: string;
}
export interface VerifyResponse {
  authentic: boolean;
}

export const verifyRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['number', 'hash'],
  properties: {
    number: { type: 'string', minLength: 1, maxLength: 40, pattern: '^[0-9A-Fa-f -]+$' },
    hash: { type: 'string', pattern: '^[0-9A-Fa-f]{64}$' },
  },
} as const;
const verifyResponseSchema = { type: 'object', additionalProperties: false, required: ['authentic'], properties: { authentic: { type: 'boolean' } } } as const;

export interface VerifyServerOptions {
  db: Queryable;
  tls: { key: string; cert: string };
  log?: LogOptions;
}

export async function buildVerifyApp(options: VerifyServerOptions): Promise<FastifyInstance> {
  const app = fastify({
    https: { key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2' },
    loggerInstance: createLogger(options.log) as FastifyBaseLogger,
    bodyLimit: 1024,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
  });
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  app.setErrorHandler((err, req, reply) => {
    const ke = toKonbiniError(err);
    if (ke.status >= 500) req.log.error({ err: ke.cause ?? ke, code: ke.code }, 'verify failed');
    return reply.code(ke.status).type('application/json').send(ke.toBody());
  });
  app.setNotFoundHandler((_req, reply) => {
    const ke = new KonbiniError('MESSAGE_UNKNOWN_TYPE', {});
    return reply.code(ke.status).send(ke.toBody());
  });
  app.post<{ Body: VerifyRequest }>(
    VERIFY_API.verify,
    { schema: { body: verifyRequestSchema, response: { 200: verifyResponseSchema } } },
    async (req): Promise<VerifyResponse> => {
      const authentic = await isAuthentic(options.db, req.body.number, req.body.hash);
      req.log.info({ result: authentic ? 'authentic' : 'not-authentic' }, 'verify');
      return { authentic };
    },
  );
  return app as unknown as FastifyInstance;
}
