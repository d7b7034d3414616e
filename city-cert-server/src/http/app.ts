import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { KonbiniError } from '@konbini/protocol';
import type { Db } from '../replica/db.js';
import type { CityDataset } from '../replica/dataset.js';
import type { LogOptions } from './logging.js';
import { lgwanServer } from './server.js';
import { renderPlugin } from './plugins/render.js';
import { replicaPlugin } from './plugins/replica.js';
import { pkcs11KeyWrapper } from '../crypto/key-wrapper.js';
import { routesPlugin } from './plugins/routes.js';
import { rulesPlugin } from './plugins/rules.js';
import { freshnessPlugin } from '../rules/freshness.js';
import { syncPlugin } from '../sync/http.js';
import { outboxPlugin } from '../outbox/plugin.js';
import type { CentreNotifierOptions } from '../outbox/centre-notifier.js';
import { signPlugin, type SignerOption } from '../sign/plugin.js';
import { KosekiClient, type KosekiClientOptions } from '../koseki/client.js';

export interface CityCertServerOptions {
  /** PEM strings: this server's key and certificate, and the CA its clients' certificates chain to (LGWAN-sim). */
  tls: { key: string; cert: string; ca: string };
  /** Client certificate CNs served; everyone else gets 403 FORBIDDEN. */
  allowedClients?: string[];
  /** Replica database: a PGlite data directory (absent = in memory), or an open Db the caller owns. */
  db?: { dataDir?: string } | { instance: Db };
  /** Full load at start when the replica is empty or holds another city/seed. */
  dataset?: CityDataset;
  /** Font whose glyphs define the printable characters (IPAmj Mincho by default). */
  fontPath?: string;
  /** Clock for eligibility and document dates (tests). */
  now?: () => Date;
  log?: LogOptions;
  /** Client certificate CNs (the city's core 住基 system) that may post 異動 deltas; only they, and only there. */
  syncClients?: string[];
  /** Freshness guard: oldest replica (since its last sync) that may issue; absent = no guard. */
  replicaMaxAgeMs?: number;
  /**
   * Who signs the issued PDFs (PAdES): a PKCS#11 token (module, token label, PIN
   * source), or `{ unsigned: true }` to issue unsigned documents deliberately.
   * Absent: unsigned, with a warning (the CLI refuses to start that way).
   */
  signer?: SignerOption;
  /** Render in this many worker threads (pool/); 0 or absent: in the main thread. */
  renderWorkers?: number;
  /** The koseki server (role koseki) the koseki types are forwarded to; absent = not offered. */
  koseki?: KosekiClientOptions;
  /**
   * The centre's city API (issuance-center `cityApi`): card-issue / card-revoke changes
   * of applied delta batches are delivered there from the replica's outbox, with this
   * server's own key and certificate (`tls`), the centre's certificate pinned. Absent:
   * they stay queued (`city-cert status` shows them).
   */
  centre?: Omit<CentreNotifierOptions, 'tls'>;
}

export const DEFAULT_ALLOWED_CLIENTS = ['issuance-center'];

declare module 'fastify' {
  interface FastifyInstance {
    /** Forwards koseki requests to the koseki server; null when none is configured. */
    kosekiClient: KosekiClient | null;
  }
}

function peerCommonName(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate?.()?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? undefined : cn; // several CNs: ambiguous, refuse
}

/** The city certificate server as a fastify instance, not yet listening. */
export async function buildApp(options: CityCertServerOptions): Promise<FastifyInstance> {
  const allowed = new Set(options.allowedClients ?? DEFAULT_ALLOWED_CLIENTS);
  const syncAllowed = new Set(options.syncClients ?? []);
  const app = lgwanServer(options.tls, options.log);

  // TLS already proved the chain; this decides which of the CA's holders may ask.
  app.addHook('onRequest', async (req) => {
    const socket = req.raw.socket as TLSSocket;
    const cn = socket.authorized ? peerCommonName(socket) : undefined;
    const sync = (req.routeOptions.config as { clientRole?: string } | undefined)?.clientRole === 'sync';
    if (!cn || !(sync ? syncAllowed : allowed).has(cn)) throw new KonbiniError('FORBIDDEN', { reason: 'client-cn' });
  });

  // the replica's data key is wrapped by the signer's token (a dedicated AES key on it), when there is one
  const keyWrapper = options.signer && !('unsigned' in options.signer) ? pkcs11KeyWrapper(options.signer) : undefined;
  await app.register(replicaPlugin, { db: options.db, dataset: options.dataset, keyWrapper });
  await app.register(signPlugin, { signer: options.signer });
  await app.register(renderPlugin, { workers: options.renderWorkers });
  await app.register(rulesPlugin, { fontPath: options.fontPath, now: options.now });
  app.decorate('kosekiClient', options.koseki ? new KosekiClient(options.koseki) : null);
  await app.register(routesPlugin);
  await app.register(freshnessPlugin, { maxAgeMs: options.replicaMaxAgeMs });
  await app.register(outboxPlugin, { centre: options.centre, tls: options.tls });
  await app.register(syncPlugin);
  // callers need listen/inject/close, not the https-specific generics
  return app as unknown as FastifyInstance;
}
