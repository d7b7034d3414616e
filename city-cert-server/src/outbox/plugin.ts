import fp from 'fastify-plugin';
import { CentreNotifier, type CentreNotifierOptions } from './centre-notifier.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Delivers card link changes to the centre's card directory; null when no centre city API is configured. */
    centreOutbox: CentreNotifier | null;
  }
}

/**
 * The outbox delivery loop, started when the server is ready and stopped before the
 * replica closes (plugins close in reverse order). Without `centre` the rows stay
 * queued (a server configured later delivers them; `city-cert status` shows them).
 */
export const outboxPlugin = fp<{ centre?: Omit<CentreNotifierOptions, 'tls'> & { tls?: CentreNotifierOptions['tls'] }; tls: CentreNotifierOptions['tls'] }>(
  async (app, opts) => {
    if (!opts.centre) {
      app.decorate('centreOutbox', null);
      return;
    }
    const notifier = new CentreNotifier(app.replica, { ...opts.centre, tls: opts.centre.tls ?? opts.tls }, app.log);
    app.decorate('centreOutbox', notifier);
    app.addHook('onReady', async () => notifier.start());
    app.addHook('onClose', async () => notifier.stop());
  },
  { name: 'centre-outbox', fastify: '5.x', dependencies: ['replica'] },
);
