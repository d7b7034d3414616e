import type { LoggerOptions } from 'pino';

/**
 * Log serializers that let through ids, codes and hashes only. Requests are
 * reduced to method and route; nothing a kiosk sends in a body is ever logged.
 */
export const loggerOptions: LoggerOptions = {
  level: process.env.LOG_LEVEL ?? 'info',
  serializers: {
    req: (req: { method?: string; url?: string; id?: string }) => ({ id: req.id, method: req.method, url: req.url?.split('?')[0] }),
    res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    err: (err: { code?: unknown; name?: string; message?: string }) => ({ type: err.name, code: typeof err.code === 'string' ? err.code : undefined }),
  },
  redact: { paths: ['authCert', 'signature', 'nonce', 'cardSerial', 'pin', '*.authCert', '*.cardSerial'], remove: true },
};
