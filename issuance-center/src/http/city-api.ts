import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { KonbiniError } from '@konbini/protocol';
import type { CityDirectory, CityEntry } from '../routing/directory.js';
import type { LgwanTls } from '../routing/city-client.js';
import type { AuditLog } from '../ops/audit.js';
import { auditRefusal, type CentreMetrics } from './metrics.js';

export const CARD_LINK_API = { add: '/v1/card-links/add', remove: '/v1/card-links/remove' } as const;

const linkBody = {
  type: 'object',
  additionalProperties: false,
  required: ['serial'],
  properties: { serial: { type: 'string', pattern: '^[0-9a-fA-F]{1,64}$' } },
} as const;

/** A card serial in the audit log: enough to match, not the serial itself. */
export const serialRef = (serial: string) => `card:${createHash('sha256').update(serial.toLowerCase()).digest('hex').slice(0, 16)}`;

/**
 * The centre's LGWAN-side API where cities maintain their card links. Mutual
 * TLS with the LGWAN-sim CA, and the client certificate must be one the city
 * directory pins: that certificate says which city is asking, and a city may
 * change only links of its own.
 */
export function cityApi(deps: { tls: LgwanTls; directory: CityDirectory; audit: AuditLog; now: () => Date; log: Logger; metrics: CentreMetrics }) {
  const app = Fastify({
    loggerInstance: deps.log.child({ listener: 'city-api' }),
    bodyLimit: 4 * 1024,
    https: { key: deps.tls.key, cert: deps.tls.cert, ca: deps.tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
  });

  const refuse = async (reply: FastifyReply, err: unknown, action: string, actor: string, target?: string) => {
    const e = err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', {}, { cause: err });
    if (e.code === 'INTERNAL') deps.log.error({ err }, 'city api');
    auditRefusal(deps.log, deps.metrics, e, { cityCode: actor.startsWith('city:') ? actor.slice(5) : undefined }, action);
    await deps.audit.record({ at: deps.now().toISOString(), actor, action, target, outcome: 'refused', code: e.code }).catch(() => undefined);
    return reply.code(e.status).send(e.toBody());
  };

  const callerCity = (socket: TLSSocket): CityEntry => {
    const raw = socket.getPeerCertificate()?.raw;
    const city = raw ? deps.directory.cityByFingerprint(createHash('sha256').update(raw).digest('hex')) : undefined;
    if (!city) throw new KonbiniError('FORBIDDEN', { reason: 'certificate-not-pinned' });
    return city;
  };

  app.setErrorHandler(async (err, req, reply) => {
    const e = (err as { validation?: unknown }).validation ? new KonbiniError('MESSAGE_INVALID', { reason: 'schema' }) : err;
    return refuse(reply, e, `card-link${req.url.endsWith('remove') ? '-remove' : '-add'}`, 'unknown');
  });

  for (const [op, path] of Object.entries(CARD_LINK_API)) {
    const action = `card-link-${op}`;
    app.post<{ Body: { serial: string } }>(path, { schema: { body: linkBody } }, async (req, reply) => {
      let actor = 'unknown';
      const target = serialRef(req.body.serial);
      try {
        const city = callerCity(req.raw.socket as TLSSocket);
        actor = `city:${city.code}`;
        const now = deps.now();
        if (op === 'add') {
          const link = await deps.directory.addLink(req.body.serial, city.code, now);
          await deps.audit.record({ at: now.toISOString(), actor, action, target, outcome: 'ok' });
          return { serial: link.serial, cityCode: link.cityCode, validFrom: link.validFrom };
        }
        await deps.directory.removeLink(req.body.serial, city.code, now);
        await deps.audit.record({ at: now.toISOString(), actor, action, target, outcome: 'ok' });
        return { serial: req.body.serial.toLowerCase(), cityCode: city.code, removed: true };
      } catch (err) {
        return refuse(reply, err, action, actor, target);
      }
    });
  }

  return {
    app,
    async listen(at: { host: string; port: number }) {
      await app.listen(at);
    },
    port(): number {
      const a = app.server.address();
      return typeof a === 'object' && a ? a.port : 0;
    },
    close: () => app.close(),
  };
}
