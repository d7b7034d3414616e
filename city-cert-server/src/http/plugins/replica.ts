import fp from 'fastify-plugin';
import { openPgliteDb, type Db } from '../../replica/db.js';
import { migrate } from '../../replica/migrations.js';
import { loadDatasetIfChanged } from '../../replica/load.js';
import type { CityDataset } from '../../replica/dataset.js';
import type { KeyWrapper } from '../../crypto/key-wrapper.js';

declare module 'fastify' {
  interface FastifyInstance {
    replica: Db;
  }
}

export interface ReplicaPluginOptions {
  /** PGlite data directory; absent = in memory. Or an already open Db (then the caller closes it). */
  db?: { dataDir?: string } | { instance: Db };
  /** Loaded at start when the replica is empty or holds another city or seed. */
  dataset?: CityDataset;
  /**
   * Wraps the replica's data key: the city's PKCS#11 token in service (buildApp passes
   * the signer's token). Absent: the development wrapper (protects nothing).
   */
  keyWrapper?: KeyWrapper;
}

export const replicaPlugin = fp<ReplicaPluginOptions>(
  async (app, opts) => {
    const started = performance.now();
    const given = opts.db && 'instance' in opts.db ? opts.db.instance : null;
    const db = given ?? (await openPgliteDb({ ...(opts.db && 'dataDir' in opts.db ? { dataDir: opts.db.dataDir } : {}), keyWrapper: opts.keyWrapper }));
    // an instance opened without a wrapper of its own takes the server's (before migrate unlocks it)
    if (given && opts.keyWrapper && db.keys && !db.keys.cipher && db.keys.wrapper.id === 'development') db.keys.wrapper = opts.keyWrapper;
    try {
      // migrate also unlocks the data key: REPLICA_KEY_UNAVAILABLE here refuses the start
      const migrations = await migrate(db);
      const loaded = opts.dataset ? await loadDatasetIfChanged(db, opts.dataset) : null;
      app.log.info(
        {
          migrations: migrations.length,
          startMs: Math.round(performance.now() - started),
          ...(loaded ? { cityCode: opts.dataset!.city.code, datasetSeed: opts.dataset!.generatedWithSeed, ...loaded } : {}),
        },
        loaded ? 'replica ready (dataset loaded)' : 'replica ready',
      );
    } catch (err) {
      if (!given) await db.close();
      throw err;
    }
    app.decorate('replica', db);
    if (!given) app.addHook('onClose', async () => db.close());
  },
  { name: 'replica', fastify: '5.x' },
);
