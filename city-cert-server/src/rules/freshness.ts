import fp from 'fastify-plugin';
import { CITY_API, DEFAULT_SERVICE_HOURS, KonbiniError, type ServiceHours } from '@konbini/protocol';
import type { Queryable } from '../replica/db.js';
import { syncState } from '../replica/sync-state.js';

/**
 * Freshness guard (DESIGN §5 invariant 4): a replica that has not heard from the
 * core system (a full load, a delta batch, or an empty heartbeat batch) for longer
 * than the configured limit refuses to issue with REPLICA_STALE. A stale replica
 * would certify an abolished seal or a moved-out resident.
 */
export interface Freshness {
  stale: boolean;
  /** Milliseconds since the last sync; null when the replica never synced. */
  ageMs: number | null;
  lastSyncAt: string | null;
}

export function freshnessOf(lastSyncAt: string | null, now: Date, maxAgeMs: number): Freshness {
  if (!lastSyncAt) return { stale: true, ageMs: null, lastSyncAt };
  const ageMs = now.getTime() - Date.parse(lastSyncAt);
  return { stale: ageMs > maxAgeMs, ageMs, lastSyncAt };
}

const tokyoClock = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** Whether `at` falls in the kiosk service hours (Asia/Tokyo): alerts are raised only then. */
export function inServiceHours(at: Date, hours: ServiceHours = DEFAULT_SERVICE_HOURS): boolean {
  const parts = Object.fromEntries(tokyoClock.formatToParts(at).map((p) => [p.type, p.value]));
  if (hours.closedDays.includes(`${parts.month}-${parts.day}`)) return false;
  const hm = `${parts.hour}:${parts.minute}`;
  return hm >= hours.open && hm < hours.close;
}

export async function replicaFreshness(db: Queryable, now: Date, maxAgeMs: number): Promise<Freshness> {
  return freshnessOf((await syncState(db)).lastSyncAt, now, maxAgeMs);
}

export interface FreshnessGuard {
  /** Throws REPLICA_STALE when the replica is too old; logs an alert when it turns stale. */
  check(): Promise<void>;
  readonly maxAgeMs: number | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    freshness: FreshnessGuard;
  }
}

export interface FreshnessPluginOptions {
  /** Oldest replica that may issue; absent = no guard. */
  maxAgeMs?: number;
  /** How often the replica age is checked for the alert when nobody asks (default 60 s). */
  alertIntervalMs?: number;
}

/** Routes that issue or promise to issue: the guard runs before them. */
const GUARDED = new Set<string>([CITY_API.menu, CITY_API.issue]);

export const freshnessPlugin = fp<FreshnessPluginOptions>(
  async (app, opts) => {
    const maxAgeMs = opts.maxAgeMs ?? null;
    let alerting = false;
    const observe = (f: Freshness, inHours: boolean) => {
      if (f.stale && !alerting && inHours) {
        alerting = true;
        // the alert city staff watch for: ids and times only
        app.log.error({ alert: 'replica-stale', lastSyncAt: f.lastSyncAt, ageS: f.ageMs === null ? null : Math.round(f.ageMs / 1000), maxAgeS: Math.round(maxAgeMs! / 1000) }, 'replica stale: issuance refused');
      } else if (!f.stale && alerting) {
        alerting = false;
        app.log.warn({ alert: 'replica-fresh', lastSyncAt: f.lastSyncAt }, 'replica fresh again: issuance resumed');
      }
    };
    const check = async () => {
      if (maxAgeMs === null) return;
      const now = app.eligibility.now();
      const f = await replicaFreshness(app.replica, now, maxAgeMs);
      observe(f, true);
      if (f.stale) throw new KonbiniError('REPLICA_STALE', { reason: 'replica-age', ageS: f.ageMs === null ? undefined : Math.round(f.ageMs / 1000) });
    };
    app.decorate('freshness', { check, maxAgeMs });
    app.addHook('preHandler', async (req) => {
      if (req.routeOptions.url && GUARDED.has(req.routeOptions.url)) await check();
    });
    if (maxAgeMs !== null) {
      const timer = setInterval(() => {
        const now = app.eligibility.now();
        replicaFreshness(app.replica, now, maxAgeMs).then(
          (f) => observe(f, inServiceHours(now)),
          () => undefined,
        );
      }, opts.alertIntervalMs ?? 60_000);
      timer.unref();
      app.addHook('onClose', async () => clearInterval(timer));
    }
  },
  { name: 'freshness', fastify: '5.x', dependencies: ['replica', 'rules'] },
);
