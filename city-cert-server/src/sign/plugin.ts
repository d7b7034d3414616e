import fp from 'fastify-plugin';
import { Pkcs11Signer, type DocumentSigner, type Pkcs11SignerConfig } from './signer.js';

/** A PKCS#11 token to sign with, or an explicit decision not to sign (development only). */
export type SignerOption = Pkcs11SignerConfig | { unsigned: true };

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs every issued PDF (PAdES); null when the server was started unsigned. */
    documentSigner: DocumentSigner | null;
  }
}

export const signPlugin = fp<{ signer?: SignerOption }>(
  async (app, opts) => {
    let signer: DocumentSigner | null = null;
    if (!opts.signer) {
      app.log.warn({ result: 'unsigned' }, 'no document signer configured: documents are not signed');
    } else if ('unsigned' in opts.signer) {
      app.log.warn({ result: 'unsigned' }, 'started unsigned on request: documents are not signed');
    } else {
      const started = performance.now();
      // refuses to start (stable code) when the token, its PIN or its key is not right
      signer = Pkcs11Signer.open(opts.signer);
      // only allow-listed fields reach the log (http/logging.ts): the outcome and the time
      app.log.info({ result: 'signed', startMs: Math.round(performance.now() - started) }, 'document signer ready');
      const s = signer;
      app.addHook('onClose', async () => s.close());
    }
    app.decorate('documentSigner', signer);
  },
  { name: 'sign', fastify: '5.x' },
);
