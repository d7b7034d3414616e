import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { KonbiniError } from '@konbini/protocol';

/**
 * The centre's Prometheus metrics, in a registry of its own (several centres may
 * run in one process in tests). Labels are codes and types, never ids.
 */
export class CentreMetrics {
  readonly registry = new Registry();
  readonly kiosksConnected = new Gauge({ name: 'konbini_centre_kiosks_connected', help: 'Kiosk sockets open now', registers: [this.registry] });
  readonly sessions = new Counter({
    name: 'konbini_centre_sessions_total',
    help: 'Resident sessions by stage: started (challenge issued), authenticated (card signature valid, menu sent)',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly issuances = new Counter({
    name: 'konbini_centre_issuances_total',
    help: 'Issuances by certificate type and outcome (requested, delivered, printed, failed)',
    labelNames: ['cert_type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({ name: 'konbini_centre_refusals_total', help: 'Refusals by error code', labelNames: ['code'] as const, registers: [this.registry] });
  readonly cardValidation = new Histogram({
    name: 'konbini_centre_card_validation_seconds',
    help: 'Card check at session.auth: challenge, certificate validators, signature',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });
  readonly cityRequest = new Histogram({
    name: 'konbini_centre_city_request_seconds',
    help: 'Centre to city calls until the response headers (menu, issue, outcome)',
    labelNames: ['call', 'result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly issuanceDelivery = new Histogram({
    name: 'konbini_centre_issuance_delivery_seconds',
    help: 'issue.request to the whole document relayed to the kiosk',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'konbini_centre_' });
  }
}

/** The ids an audit event may carry; nothing else from a request ever reaches it. */
export interface AuditIds {
  kioskId?: string;
  sessionId?: string;
  issuanceId?: string;
  cityCode?: string;
}

/**
 * Every refusal is an audit event (DESIGN §5 invariant 7): what was refused, with
 * which code, to which kiosk/session/issuance, when (the log time), and the
 * refusal counted. Ids and codes only; the detail's `reason` and `step` are
 * the centre's own constants.
 */
export function auditRefusal(log: Logger, metrics: CentreMetrics, err: KonbiniError, ids: AuditIds, action = 'kiosk-request'): void {
  metrics.refusals.inc({ code: err.code });
  const reason = typeof err.detail.reason === 'string' ? err.detail.reason.slice(0, 40) : undefined;
  const step = typeof err.detail.step === 'string' ? err.detail.step : undefined;
  log.info(
    {
      event: 'audit',
      action,
      outcome: 'refused',
      code: err.code,
      kioskId: ids.kioskId?.slice(0, 64),
      sessionId: ids.sessionId,
      issuanceId: ids.issuanceId,
      cityCode: ids.cityCode,
      reason,
      step,
    },
    'refused',
  );
}
