import { randomUUID } from 'node:crypto';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { KonbiniError, MAX_MESSAGE_BYTES, ajv } from '@konbini/protocol';
import { toKonbiniError } from './errors.js';
import { createLogger, type LogOptions } from './logging.js';

export interface LgwanTls {
  key: string;
  cert: string;
  ca: string;
}

/**
 * The HTTPS shell both city roles (replica server, koseki server) stand on: mutual
 * TLS on the LGWAN-sim CA, the protocol's own strict ajv, errors answered as
 * KonbiniError bodies with their status, unknown routes as MESSAGE_UNKNOWN_TYPE.
 * Which certificate holders may call what is each role's own onRequest hook.
 */
export function lgwanServer(tls: LgwanTls, log: LogOptions | undefined): FastifyInstance {
  const app = fastify({
    https: { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    loggerInstance: createLogger(log) as FastifyBaseLogger,
    bodyLimit: MAX_MESSAGE_BYTES,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // No 10 s limit on a plugin's start: opening the replica migrates it (a migration may
    // re-seal every resident) and loads the dataset; on a busy machine or a large city
    // that is minutes, and the server then failed to start at all. Start-up is logged.
    pluginTimeout: 0,
  });
  // the protocol's own ajv: strict, no coercion, no silent removal of extra fields
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  app.setErrorHandler((err, req, reply) => {
    const ke = toKonbiniError(err);
    if (ke.status >= 500) req.log.error({ err: ke.cause ?? ke, code: ke.code }, 'request failed');
    else req.log.info({ code: ke.code, rule: typeof ke.detail.rule === 'string' ? ke.detail.rule : undefined, err: ke }, 'request refused');
    return reply.code(ke.status).type('application/json').send(ke.toBody());
  });
  app.setNotFoundHandler((_req, reply) => {
    const ke = new KonbiniError('MESSAGE_UNKNOWN_TYPE', {});
    return reply.code(ke.status).send(ke.toBody());
  });
  return app;
}
