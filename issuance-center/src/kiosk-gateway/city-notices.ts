import type { Logger } from 'pino';
import { KonbiniError } from '@konbini/protocol';
import type { CityClient } from '../routing/city-client.js';
import type { CityDirectory, CityEntry } from '../routing/directory.js';
import type { Ledger, LedgerRecord } from '../ledger/ledger.js';
import type { AuditLog } from '../ops/audit.js';

/** The city's answers that will not change however often the notice is sent. */
const FINAL = new Set(['ISSUANCE_UNKNOWN', 'MESSAGE_OUT_OF_ORDER', 'MESSAGE_INVALID']);

export interface CityNoticeOptions {
  /** How often the due notices are looked for (ms); default 2 s. */
  intervalMs?: number;
  /** An issuance still open after this long is closed as failed (ms); default 15 min, 0 never. */
  abandonAfterMs?: number;
  /**
   * How long a delivered issuance whose kiosk left without a report stays open for
   * the kiosk's late report (ms); default 15 min, the abandoned sweep's.
   */
  reportGraceMs?: number;
  /** Where the operator sees an issuance closed unreported (a sheet may be out uncharged). */
  audit?: AuditLog;
}

export const DEFAULT_REPORT_GRACE_MS = 15 * 60_000;

/**
 * Tells each city the outcome of its issuances, so its 交付記録 agrees with the
 * ledger. The outcome is sent at once; when that fails (the city or its database
 * is down, the line is cut), a durable ledger still holds the notice and this
 * sends it again, with back-off, until the city confirms: the ledger and the
 * city's record converge without anyone restarting anything. Any number of centre
 * instances may run this against one ledger (notices are leased, not shared).
 */
export class CityNotices {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly directory: CityDirectory,
    private readonly cities: CityClient,
    private readonly log: Logger,
    private readonly opts: CityNoticeOptions = {},
  ) {}

  /** Send now; on failure the durable notice is retried later. */
  async send(city: CityEntry, record: Pick<LedgerRecord, 'issuanceId' | 'outcome' | 'copiesPrinted'>): Promise<void> {
    const outcome = record.outcome === 'printed' ? 'printed' : 'failed';
    try {
      await this.cities.outcome(city, { issuanceId: record.issuanceId, outcome, copiesPrinted: outcome === 'printed' ? record.copiesPrinted : 0 });
      await this.ledger.cityNoticeDone?.(record.issuanceId);
    } catch (err) {
      const code = err instanceof KonbiniError ? err.code : 'INTERNAL';
      if (FINAL.has(code)) {
        await this.ledger.cityNoticeDone?.(record.issuanceId).catch(() => undefined);
        this.log.warn({ issuanceId: record.issuanceId, cityCode: city.code, code }, 'city refused the outcome notice: not sent again');
      } else {
        this.log.warn({ issuanceId: record.issuanceId, cityCode: city.code, code }, 'city outcome not delivered: will be sent again');
      }
      throw err;
    }
  }

  start(): void {
    // The in-memory ledger keeps no notices, but its unreported issuances still close after the grace period.
    if ((!this.ledger.claimCityNotices && !this.ledger.closeUnreported) || this.timer) return;
    const tick = () => {
      this.running = this.flush()
        .then(() => undefined, (err) => this.log.warn({ code: (err as KonbiniError).code ?? (err as { code?: string }).code ?? 'error' }, 'city notices: database not reachable, next round later'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs ?? 2000);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs ?? 2000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * A delivered document closed without the kiosk's report: the resident may hold
   * a sheet that was not charged. An audit event the operator console lists.
   */
  private async alarm(r: LedgerRecord): Promise<void> {
    await this.opts.audit
      ?.record({ at: new Date().toISOString(), actor: `kiosk:${r.kioskId}`, action: 'issuance-closed-unreported', target: r.issuanceId, outcome: 'ok' })
      .catch((err) => this.log.error({ issuanceId: r.issuanceId, code: (err as { code?: string }).code ?? 'error' }, 'audit event not written'));
  }

  /** One round: close abandoned issuances, then send every notice that is due. */
  async flush(): Promise<number> {
    const abandonAfter = this.opts.abandonAfterMs ?? 15 * 60_000;
    if (abandonAfter > 0 && this.ledger.closeAbandoned) {
      const closed = await this.ledger.closeAbandoned(abandonAfter);
      for (const r of closed) {
        this.log.warn({ issuanceId: r.issuanceId, cityCode: r.cityCode, event: 'outcome', outcome: r.outcome, reason: 'abandoned' }, 'issuance left open: recorded failed, not charged');
        if (r.deliveredAt) await this.alarm(r);
      }
    }
    if (this.ledger.closeUnreported) {
      const closed = await this.ledger.closeUnreported(this.opts.reportGraceMs ?? DEFAULT_REPORT_GRACE_MS);
      for (const r of closed) {
        this.log.warn({ issuanceId: r.issuanceId, kioskId: r.kioskId, cityCode: r.cityCode, event: 'outcome', outcome: r.outcome, reason: 'kiosk-report-grace-expired' }, 'kiosk never reported a delivered document: recorded failed, not charged');
        await this.alarm(r);
        // Told now, as a timely outcome is; a durable ledger keeps the notice until the city confirms.
        const city = this.directory.city(r.cityCode);
        if (city) await this.send(city, r).catch(() => undefined);
      }
    }
    const due = (await this.ledger.claimCityNotices?.()) ?? [];
    let sent = 0;
    for (const n of due) {
      if (this.stopped) break;
      const city = this.directory.city(n.cityCode);
      if (!city) {
        await this.ledger.cityNoticeFailed?.(n.issuanceId, n.attempts, 'CITY_UNKNOWN');
        continue;
      }
      try {
        await this.send(city, n);
        sent++;
      } catch (err) {
        const code = err instanceof KonbiniError ? err.code : 'INTERNAL';
        if (!FINAL.has(code)) await this.ledger.cityNoticeFailed?.(n.issuanceId, n.attempts, code).catch(() => undefined);
      }
    }
    return sent;
  }
}
