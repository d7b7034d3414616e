import fp from 'fastify-plugin';
import {
  CITY_API,
  DOCUMENT_HEADERS,
  cityIssueRequestSchema,
  cityMenuRequestSchema,
  cityMenuResponseSchema,
  cityOutcomeRequestSchema,
  cityOutcomeResponseSchema,
  type CityIssueRequest,
  type CityMenuRequest,
  type CityOutcomeRequest,
} from '@konbini/protocol';
import { issue, menu, outcome, type IssuanceDeps } from '../../issuance/service.js';
import { replicaState } from '../../replica/queries.js';
import { markSignerOf } from '../../verify/mark.js';

export const routesPlugin = fp(
  async (app) => {
    const deps = (log: IssuanceDeps['log']): IssuanceDeps => ({
      db: app.replica,
      printable: app.eligibility.printable,
      now: app.eligibility.now,
      render: app.renderer.residentRecord,
      log,
      koseki: app.kosekiClient,
      antiForgery: true,
      markSigner: markSignerOf(app.documentSigner),
    });

    app.post<{ Body: CityMenuRequest }>(
      CITY_API.menu,
      { schema: { body: cityMenuRequestSchema, response: { 200: cityMenuResponseSchema } } },
      async (req) => menu(deps(req.log), req.body),
    );

    app.post<{ Body: CityIssueRequest }>(
      CITY_API.issue,
      { schema: { body: cityIssueRequestSchema } },
      async (req, reply) => {
        const doc = await issue(deps(req.log), req.body);
        // The city keeps no copy: once the bytes are handed to the socket, wipe them.
        let wiped = false;
        const wipe = () => {
          if (!wiped) {
            wiped = true;
            doc.pdf.fill(0);
          }
        };
        reply.raw.once('finish', wipe);
        reply.raw.once('close', wipe);
        return reply
          .code(200)
          .header('content-type', 'application/pdf')
          .header('content-length', doc.pdf.length)
          .header('cache-control', 'no-store')
          .header(DOCUMENT_HEADERS.issuanceId, doc.issuanceId)
          .header(DOCUMENT_HEADERS.sha256, doc.sha256)
          .header(DOCUMENT_HEADERS.fee, String(doc.fee))
          .send(doc.pdf);
      },
    );

    app.post<{ Body: CityOutcomeRequest }>(
      CITY_API.outcome,
      { schema: { body: cityOutcomeRequestSchema, response: { 200: cityOutcomeResponseSchema } } },
      async (req) => outcome(deps(req.log), req.body),
    );

    app.get(CITY_API.health, async () => {
      const state = await replicaState(app.replica);
      return {
        status: state ? 'ok' : 'empty',
        cityCode: state?.cityCode ?? null,
        datasetSeed: state?.datasetSeed ?? null,
        loadedAt: state?.loadedAt ?? null,
      };
    });
  },
  { name: 'routes', fastify: '5.x', dependencies: ['replica', 'rules', 'render'] },
);
