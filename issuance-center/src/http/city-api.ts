import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import {
  ajv,
  CARD_LINK_API,
  CARD_LINK_BATCH_BODY_LIMIT,
  cardLinkBatchRequestSchema,
  cardLinkRequestSchema,
  KonbiniError,
  type CardLinkBatchRequest,
  type CardLinkBatchResponse,
  type CardLinkRequest,
} from '@konbini/protocol';
import type { CityDirectory, CityEntry } from '../routing/directory.js';
import type { LgwanTls } from '../routing/city-client.js';
import type { AuditEvent, AuditLog } from '../ops/audit.js';
import { auditRefusal, type CentreMetrics } from './metrics.js';

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

  // the protocol's own ajv: fastify's would drop unknown fields and coerce "1" to 1, where a
  // city's malformed request is refused, like every other message of the protocol
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));

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
    // fastify's own refusals (schema, body too large, not JSON) in the project's codes, not INTERNAL
    const status = (err as { statusCode?: number }).statusCode;
    const e = (err as { validation?: unknown }).validation
      ? new KonbiniError('MESSAGE_INVALID', { reason: 'schema' })
      : status === 413
        ? new KonbiniError('MESSAGE_TOO_LARGE')
        : status !== undefined && status >= 400 && status < 500
          ? new KonbiniError('MESSAGE_INVALID', { reason: 'body' })
          : err;
    const op = Object.entries(CARD_LINK_API).find(([, path]) => req.url === path)?.[0] ?? 'unknown';
    return refuse(reply, e, `card-link-${op}`, 'unknown');
  });

  for (const op of ['add', 'remove'] as const) {
    const action = `card-link-${op}`;
    app.post<{ Body: CardLinkRequest }>(CARD_LINK_API[op], { schema: { body: cardLinkRequestSchema } }, async (req, reply) => {
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

  /*
   * Up to MAX_CARD_LINK_BATCH changes in their order, in one transaction of the
   * directory: what a full load of a large city sends. Each change is judged and audited
   * as its one-card call would be; the first refused one ends the batch (the answer says
   * which), so the city never has a later change applied before an earlier one.
   */
  app.post<{ Body: CardLinkBatchRequest }>(CARD_LINK_API.batch, { bodyLimit: CARD_LINK_BATCH_BODY_LIMIT, schema: { body: cardLinkBatchRequestSchema } }, async (req, reply) => {
    let actor = 'unknown';
    try {
      const city = callerCity(req.raw.socket as TLSSocket);
      actor = `city:${city.code}`;
      const now = deps.now();
      const { changes } = req.body;
      const plan = await deps.directory.applyLinkBatch(changes, city.code, now);
      const at = now.toISOString();
      const events: AuditEvent[] = plan.effects.map((effect, i) => ({
        at,
        actor,
        action: `card-link-${changes[i]!.op}`,
        target: serialRef(changes[i]!.serial),
        ...(effect === 'not-linked' ? { outcome: 'refused' as const, code: 'CARD_NOT_LINKED' } : { outcome: 'ok' as const }),
      }));
      if (plan.refused) {
        const { index, code } = plan.refused;
        const action = `card-link-${changes[index]!.op}`;
        auditRefusal(deps.log, deps.metrics, new KonbiniError(code, { cityCode: city.code }), { cityCode: city.code }, action);
        events.push({ at, actor, action, target: serialRef(changes[index]!.serial), outcome: 'refused', code });
      }
      await deps.audit.recordMany(events);
      const body: CardLinkBatchResponse = { applied: plan.applied, notLinked: plan.notLinked, ...(plan.refused ? { refused: plan.refused } : {}) };
      return body;
    } catch (err) {
      return refuse(reply, err, 'card-link-batch', actor);
    }
  });

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
