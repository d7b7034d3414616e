import fp from 'fastify-plugin';
import { KonbiniError } from '@konbini/protocol';
import { applyDelta } from './delta.js';
import { parseDelta } from './delta-format.js';
import '../outbox/plugin.js';

/** The 随時連携 endpoint: the city's core 住基 system posts a delta batch (JSON Lines). */
export const SYNC_API = { delta: '/v1/sync/delta' } as const;

/** A batch may be large (a 印影 per seal registration): its own limit, above the kiosk messages'. */
export const MAX_DELTA_BYTES = 64 * 1024 * 1024;

/**
 * Route config `clientRole: 'sync'` tells the mTLS gate in app.ts to admit only the
 * sync clients here, and to keep them away from every other route (the centre can
 * never post changes, the core system can never ask for a certificate).
 */
export const syncPlugin = fp(
  async (app) => {
    app.addContentTypeParser(['application/x-ndjson', 'application/jsonl'], { parseAs: 'buffer', bodyLimit: MAX_DELTA_BYTES }, (_req, body, done) => done(null, body));
    app.post<{ Querystring: { dryRun?: string } }>(
      SYNC_API.delta,
      {
        bodyLimit: MAX_DELTA_BYTES,
        config: { clientRole: 'sync' },
        schema: { querystring: { type: 'object', additionalProperties: false, properties: { dryRun: { enum: ['true', 'false', '1', '0'] } } } },
      },
      async (req) => {
        const started = performance.now();
        if (!Buffer.isBuffer(req.body)) throw new KonbiniError('MESSAGE_INVALID', { reason: 'content-type: a batch is application/x-ndjson' });
        const batch = await parseDelta(req.body);
        const dryRun = req.query.dryRun === 'true' || req.query.dryRun === '1';
        // the server's clock stamps the sync, the same clock the freshness guard reads
        const result = await applyDelta(app.replica, batch, { dryRun, now: app.eligibility.now() });
        // card links queued for the centre (outbox/): deliver now rather than at the next poll
        if (!result.dryRun && (result.byKind['card-issue'] || result.byKind['card-revoke'])) app.centreOutbox?.wake();
        req.log.info({ batchId: result.batchId, applied: result.applied, alreadyApplied: result.alreadyApplied, lastSeq: result.lastSeq, dryRun: result.dryRun, ms: Math.round(performance.now() - started) }, 'delta batch');
        return result;
      },
    );
  },
  { name: 'sync', fastify: '5.x', dependencies: ['replica', 'rules'] },
);
