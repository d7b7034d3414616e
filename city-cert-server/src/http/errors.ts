import { KonbiniError } from '@konbini/protocol';

/**
 * Every failure leaves the server as a KonbiniError body. Fastify's own errors
 * (body limit, content type, JSON syntax, schema) become protocol codes here.
 */
export function toKonbiniError(err: unknown): KonbiniError {
  if (err instanceof KonbiniError) return err;
  const e = err as { code?: string; statusCode?: number; validation?: unknown } | null;
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e?.statusCode === 413) {
    return new KonbiniError('MESSAGE_TOO_LARGE', {}, { cause: err });
  }
  if (e?.validation) return new KonbiniError('MESSAGE_INVALID', { reason: 'schema' }, { cause: err });
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new KonbiniError('MESSAGE_INVALID', { reason: e.code ?? 'request' }, { cause: err });
  }
  return new KonbiniError('INTERNAL', {}, { cause: err });
}
