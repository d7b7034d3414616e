import fp from 'fastify-plugin';
import { pdfMake, unprintable } from '../../render/fonts.js';
import { bindAndSign, renderAndBind } from '../../render/resident-record.js';
import { RenderPool } from '../../pool/pool.js';
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

export const renderPlugin = fp<{ workers?: number }>(
  async (app, opts) => {
    const started = performance.now();
    // parse the fonts once at start, not inside the first resident's request
    pdfMake();
    app.log.info({ startMs: Math.round(performance.now() - started) }, 'renderer fonts ready');
    const signer = app.documentSigner;
    // --render-workers: render in worker threads (pool/), bind and sign here, where the token session is
    let pool: RenderPool | null = null;
    if (opts.workers && opts.workers > 0) {
      const p = new RenderPool({ size: opts.workers, onEvent: (e) => app.log.info({ result: e.event, startMs: e.startMs, code: e.code }, 'render worker') });
      pool = p;
      app.addHook('onClose', async () => p.close());
      await p.ready();
    }
    app.decorate('renderer', {
      residentRecord: pool
        ? async (model, cardSerialHmacHex) => bindAndSign(await pool.render(model), model, cardSerialHmacHex, signer)
        : (model, cardSerialHmacHex) => renderAndBind(model, cardSerialHmacHex, signer),
      unprintable: (text: string) => unprintable(text),
    });
  },
  { name: 'render', fastify: '5.x', dependencies: ['sign'] },
);
