import fp from 'fastify-plugin';
import { pdfMake, unprintable } from '../../render/fonts.js';
import { renderAndBind } from '../../render/resident-record.js';
import type { RenderResidentRecord } from '../../issuance/service.js';
import type {} from '../../sign/plugin.js'; // app.documentSigner

export interface Renderer {
  residentRecord: RenderResidentRecord;
  /** Characters (or variation sequences) of text the certificate font cannot print exactly. */
  unprintable: (text: string) => string[];
}

declare module 'fastify' {
  interface FastifyInstance {
    renderer: Renderer;
  }
}

export const renderPlugin = fp(
  async (app) => {
    const started = performance.now();
    // parse the fonts once at start, not inside the first resident's request
    pdfMake();
    app.log.info({ startMs: Math.round(performance.now() - started) }, 'renderer fonts ready');
    const signer = app.documentSigner;
    app.decorate('renderer', {
      residentRecord: (model, cardSerialHmacHex) => renderAndBind(model, cardSerialHmacHex, signer),
      unprintable: (text: string) => unprintable(text),
    });
  },
  { name: 'render', fastify: '5.x', dependencies: ['sign'] },
);
