import { createHash, randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import {
  cardSerialHmac,
  encodeDocumentChunk,
  errorMessage,
  isCertType,
  KonbiniError,
  MAX_COPIES,
  MIN_COPIES,
  parseKioskMessage,
  type CentreMessage,
  type IssueLateOutcome,
  type IssueOutcome,
  type IssueRequest,
  type KioskMessage,
  type SessionAuth,
  type SessionStart,
} from '@konbini/protocol';
import type { ChallengeStore } from '../auth/challenge-store.js';
import type { ValidatedCard } from '../auth/card-validator.js';
import type { CardAuthenticator } from '../auth/card-authenticator.js';
import type { CityClient } from '../routing/city-client.js';
import type { CityDirectory, CityEntry, KioskEntry } from '../routing/directory.js';
import { checkHours, isOpen, STANDARD_HOURS, type ServiceHoursMode } from '../routing/service-hours.js';
import type { Ledger } from '../ledger/ledger.js';
import { auditRefusal, type CentreMetrics } from '../http/metrics.js';
import type { KioskRateLimiter } from './rate-limit.js';
import type { CityNotices } from './city-notices.js';
import type { AuditLog } from '../ops/audit.js';

export interface GatewayDeps {
  challenges: ChallengeStore;
  auth: CardAuthenticator;
  directory: CityDirectory;
  cities: CityClient;
  ledger: Ledger;
  now: () => Date;
  log: Logger;
  metrics: CentreMetrics;
  rate: KioskRateLimiter;
  hoursMode: ServiceHoursMode;
  /** Outcome notices to the cities, retried until confirmed; without it, sent once. */
  notices?: CityNotices;
  /** The operator's audit log: a late "printed" after the grace period raises an alarm there. */
  audit?: AuditLog;
}

/** Pause the city stream while this much is queued towards a slow kiosk. */
const HIGH_WATER = 1024 * 1024;

type State =
  | { step: 'idle' }
  | { step: 'challenged'; sessionId: string; card: ValidatedCard }
  | { step: 'authenticated'; sessionId: string; card: ValidatedCard; city: CityEntry }
  | { step: 'issuing'; sessionId: string; card: ValidatedCard; city: CityEntry; issuanceId: string }
  | {
      step: 'delivered';
      sessionId: string;
      card: ValidatedCard;
      city: CityEntry;
      issuanceId: string;
      copies: number;
      /** The kiosk's report, when the ledger could not take it yet: kept for the retry on close. */
      reported?: { outcome: 'printed' | 'failed'; copiesPrinted: number };
    };

/**
 * One kiosk's connection: a strict state machine. Messages are handled one at a
 * time in arrival order, and each step accepts only the message that may follow
 * it, so nothing can be issued before the card has signed this session's
 * challenge, and an outcome can only name the issuance this session received.
 */
export class KioskConnection {
  private state: State = { step: 'idle' };
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly kiosk: KioskEntry,
    private readonly deps: GatewayDeps,
  ) {
    ws.on('message', (data, isBinary) => {
      const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.queue = this.queue.then(() => this.onFrame(frame, isBinary));
    });
    ws.on('close', () => {
      this.closed = true;
      const state = this.state;
      if (state.step === 'challenged') deps.challenges.discard(state.sessionId);
      this.state = { step: 'idle' };
      // The kiosk went away holding a document it never reported on. It may have
      // printed it (the line dropped, or it was killed, after the sheet came out):
      // the issuance stays open for the kiosk's late report from its journal, and
      // is recorded failed (never charged) only once the grace period has passed
      // (CityNotices). A report the kiosk did send (not yet recorded) stands.
      if (state.step === 'delivered') this.queue = this.queue.then(() => (state.reported || !deps.ledger.kioskLeft ? this.abandon(state) : this.leftUnreported(state)));
    });
  }

  private send(msg: CentreMessage): void {
    if (!this.closed) this.ws.send(JSON.stringify(msg));
  }

  private async onFrame(frame: Buffer, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    let msg: KioskMessage;
    try {
      // Counted before parsing: garbage costs the sender as much as a real message.
      if (!this.deps.rate.take(this.kiosk.kioskId)) throw new KonbiniError('KIOSK_RATE_LIMITED');
      if (isBinary) throw new KonbiniError('MESSAGE_INVALID', { reason: 'binary-from-kiosk' });
      msg = parseKioskMessage(frame);
    } catch (err) {
      this.refuse(err);
      return;
    }
    try {
      switch (msg.type) {
        case 'session.start':
          return await this.start(msg);
        case 'session.auth':
          return await this.auth(msg);
        case 'issue.request':
          return await this.issue(msg);
        case 'issue.outcome':
          return await this.outcome(msg);
        case 'issue.late-outcome':
          return await this.lateOutcome(msg);
        case 'session.end':
          this.expectSession(msg.sessionId);
          if (this.state.step === 'issuing') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: this.state.step });
          this.state = { step: 'idle' };
          return;
      }
    } catch (err) {
      const sessionId = 'sessionId' in this.state ? this.state.sessionId : undefined;
      this.refuse(err, sessionId);
    }
  }

  private refuse(err: unknown, sessionId?: string, issuanceId?: string): void {
    const e = err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', {}, { cause: err });
    if (e.code === 'INTERNAL') this.deps.log.error({ err, kioskId: this.kiosk.kioskId }, 'internal error');
    const cityCode = 'city' in this.state ? this.state.city.code : typeof e.detail.cityCode === 'string' ? e.detail.cityCode : undefined;
    auditRefusal(this.deps.log, this.deps.metrics, e, { kioskId: this.kiosk.kioskId, sessionId, issuanceId, cityCode });
    this.send(errorMessage(e, { sessionId, issuanceId }));
    if (e.code === 'MESSAGE_TOO_LARGE') {
      // Nothing a kiosk sends is that large: a broken or hostile peer. Say why, then close.
      this.closed = true;
      this.ws.close(1009, 'MESSAGE_TOO_LARGE');
    }
  }

  private expectSession(sessionId: string): void {
    if (this.state.step === 'idle') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: 'idle' });
    if (this.state.sessionId !== sessionId) throw new KonbiniError('SESSION_UNKNOWN');
  }

  private async start(msg: SessionStart): Promise<void> {
    // A delivered document must be accounted for (printed or failed) before the
    // next resident: otherwise the ledger and the city would keep it open for ever.
    if (this.state.step === 'issuing' || this.state.step === 'delivered') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: this.state.step });
    // A new card replaces whatever session this kiosk had: one resident at a time.
    if (this.state.step === 'challenged') this.deps.challenges.discard(this.state.sessionId);
    this.state = { step: 'idle' };
    const { card, challenge } = this.deps.auth.start(this.kiosk.kioskId, msg.authCert);
    this.deps.metrics.sessions.inc({ stage: 'started' });
    this.state = { step: 'challenged', sessionId: challenge.sessionId, card };
    this.send({
      type: 'session.challenge',
      sessionId: challenge.sessionId,
      nonce: challenge.nonce.toString('base64'),
      expiresAt: new Date(challenge.expiresAt).toISOString(),
    });
  }

  private async auth(msg: SessionAuth): Promise<void> {
    const state = this.state;
    if (state.step !== 'challenged') {
      if (state.step === 'idle') {
        // Still consume, so a replayed or foreign session id gets its precise code.
        this.deps.challenges.consume(msg.sessionId, this.kiosk.kioskId);
      }
      throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: state.step });
    }
    if (state.sessionId !== msg.sessionId) {
      this.deps.challenges.consume(msg.sessionId, this.kiosk.kioskId);
      throw new KonbiniError('SESSION_UNKNOWN');
    }
    this.state = { step: 'idle' };
    const stopTimer = this.deps.metrics.cardValidation.startTimer();
    const card = this.deps.auth.finish(this.kiosk.kioskId, msg.sessionId, state.card, msg.signature);
    stopTimer();
    const now = this.deps.now();
    const city = await this.deps.directory.cityForCard(card.serial, now);
    const hours = city.hours ?? STANDARD_HOURS;
    checkHours(this.deps.hoursMode, hours, city.code, now);
    const menu = await this.deps.cities.menu(city, { cardSerial: card.serial, kioskId: this.kiosk.kioskId });
    if (this.deps.hoursMode === 'enforce' && hours.byType) {
      // A type outside the hours its city sets is shown as refused, with its reason.
      const closed = menu.items.filter((i) => !isOpen(hours, now, i.certType));
      menu.items = menu.items.filter((i) => !closed.includes(i));
      menu.refusals = [...menu.refusals, ...closed.map((i) => ({ certType: i.certType, code: 'CERT_TYPE_OUTSIDE_HOURS' as const }))];
    }
    if (this.closed) return;
    this.state = { step: 'authenticated', sessionId: msg.sessionId, card, city };
    this.deps.metrics.sessions.inc({ stage: 'authenticated' });
    this.deps.log.info({ event: 'authenticated', kioskId: this.kiosk.kioskId, sessionId: msg.sessionId, cityCode: city.code }, 'card authenticated');
    this.send({ type: 'session.menu', sessionId: msg.sessionId, city: menu.city, items: menu.items, refusals: menu.refusals });
  }

  private async issue(msg: IssueRequest): Promise<void> {
    this.expectSession(msg.sessionId);
    const state = this.state;
    if (state.step !== 'authenticated') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: state.step });
    if (!isCertType(msg.certType)) throw new KonbiniError('CERT_TYPE_UNKNOWN');
    if (msg.copies < MIN_COPIES || msg.copies > MAX_COPIES) throw new KonbiniError('COPIES_OUT_OF_RANGE');
    const { card, sessionId } = state;
    // Re-read: the city may have been suspended (on any instance) since the menu.
    const city = this.deps.directory.city(state.city.code) ?? state.city;
    if (city.status !== 'active') throw new KonbiniError('CITY_SUSPENDED', { cityCode: city.code });
    checkHours(this.deps.hoursMode, city.hours ?? STANDARD_HOURS, city.code, this.deps.now(), msg.certType);
    const issuanceId = randomUUID();
    const log = this.deps.log.child({ issuanceId, kioskId: this.kiosk.kioskId, cityCode: city.code });
    const csh = cardSerialHmac(issuanceId, card.serial);
    // The ledger first: if it cannot record, nothing is requested and the session stays at the menu.
    await this.deps.ledger.begin({
      issuanceId,
      cityCode: city.code,
      kioskId: this.kiosk.kioskId,
      storeId: this.kiosk.storeId,
      certType: msg.certType,
      copies: msg.copies,
      cardSerialHmac: csh,
      requestedAt: this.deps.now().toISOString(),
    });
    this.state = { step: 'issuing', sessionId, card, city, issuanceId };
    this.deps.metrics.issuances.inc({ cert_type: msg.certType, outcome: 'requested' });
    const stopDelivery = this.deps.metrics.issuanceDelivery.startTimer();
    try {
      const doc = await this.deps.cities.issue(city, {
        issuanceId,
        cardSerial: card.serial,
        kioskId: this.kiosk.kioskId,
        certType: msg.certType,
        options: msg.options,
        copies: msg.copies,
      });
      this.send({ type: 'issue.accepted', sessionId, issuanceId, certType: msg.certType, copies: msg.copies, fee: doc.fee });
      const sha256 = await this.relay(doc.body, issuanceId, doc.length);
      if (sha256 !== doc.sha256) throw new KonbiniError('DOCUMENT_HASH_MISMATCH', { issuanceId, reason: 'relay' });
      // The line dropped while the last bytes were queued: the kiosk may not have them all.
      if (this.closed) throw new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, reason: 'kiosk-gone' });
      await this.deps.ledger.delivered(issuanceId, sha256, doc.fee, this.deps.now());
      if (this.closed) throw new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, reason: 'kiosk-gone' });
      this.state = { step: 'delivered', sessionId, card, city, issuanceId, copies: msg.copies };
      stopDelivery();
      this.deps.metrics.issuances.inc({ cert_type: msg.certType, outcome: 'delivered' });
      this.send({ type: 'issue.document', sessionId, issuanceId, bytes: doc.length, sha256 });
      log.info({ event: 'delivered', sha256, bytes: doc.length }, 'document relayed');
    } catch (err) {
      // Nothing was printed: back to the menu, record the failure, tell the kiosk and the city.
      if (!this.closed) this.state = { step: 'authenticated', sessionId, card, city };
      try {
        const record = await this.deps.ledger.outcome(issuanceId, 'failed', 0, this.deps.now());
        this.deps.metrics.issuances.inc({ cert_type: msg.certType, outcome: 'failed' });
        this.notifyCity(city, record, log);
      } catch (e) {
        // The database stayed out of reach: the issuance stays open, and is closed as
        // failed (never charged) by the abandoned-issuance sweep once it is back.
        log.error({ code: (e as KonbiniError).code ?? (e as { code?: string }).code ?? 'INTERNAL' }, 'could not record the failed issuance');
      }
      this.refuse(err, sessionId, issuanceId);
    }
  }

  /** Stream the city's body to the kiosk chunk by chunk; nothing is kept. */
  private relay(body: NodeJS.ReadableStream & { destroy(): void }, issuanceId: string, length: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const hash = createHash('sha256');
      let received = 0;
      let paused = false;
      body.on('data', (chunk: Buffer) => {
        if (this.closed) {
          body.destroy();
          reject(new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, reason: 'kiosk-gone' }));
          return;
        }
        received += chunk.length;
        if (received > length) {
          body.destroy();
          reject(new KonbiniError('CITY_PROTOCOL', { issuanceId, reason: 'longer-than-declared' }));
          return;
        }
        hash.update(chunk);
        this.ws.send(encodeDocumentChunk(issuanceId, chunk), () => {
          if (paused && this.ws.bufferedAmount < HIGH_WATER) {
            paused = false;
            body.resume();
          }
        });
        if (this.ws.bufferedAmount >= HIGH_WATER) {
          paused = true;
          body.pause();
        }
      });
      body.on('end', () => {
        if (received !== length) reject(new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, received, length }));
        else resolve(hash.digest('hex'));
      });
      body.on('aborted', () => reject(new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, reason: 'aborted' })));
      body.on('error', (err) => reject(new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId, reason: 'stream-error' }, { cause: err })));
    });
  }

  /** The city's 交付記録 learns the outcome; a failed notice is kept and sent again. */
  private notifyCity(city: CityEntry, record: Pick<import('../ledger/ledger.js').LedgerRecord, 'issuanceId' | 'outcome' | 'copiesPrinted'>, log: Logger): void {
    const outcome = record.outcome === 'printed' ? 'printed' : 'failed';
    const sent = this.deps.notices
      ? this.deps.notices.send(city, record)
      : this.deps.cities.outcome(city, { issuanceId: record.issuanceId, outcome, copiesPrinted: outcome === 'printed' ? record.copiesPrinted : 0 });
    sent.catch((e) => log.warn({ code: (e as KonbiniError).code }, 'city outcome not delivered'));
  }

  private async abandon(state: Extract<State, { step: 'delivered' }>): Promise<void> {
    const log = this.deps.log.child({ issuanceId: state.issuanceId, kioskId: this.kiosk.kioskId });
    try {
      // A report the kiosk did send (the ledger could not take it then) stands; otherwise failed.
      const r = state.reported ?? { outcome: 'failed' as const, copiesPrinted: 0 };
      const record = await this.deps.ledger.outcome(state.issuanceId, r.outcome, r.copiesPrinted, this.deps.now());
      this.deps.metrics.issuances.inc({ cert_type: record.certType, outcome: record.outcome });
      if (state.reported) log.warn({ event: 'outcome', outcome: record.outcome, reason: 'recorded-after-disconnect' }, 'kiosk report recorded after the kiosk left');
      else log.warn({ event: 'outcome', outcome: record.outcome, reason: 'kiosk-disconnected' }, 'kiosk left before reporting: recorded failed, not charged');
      this.notifyCity(state.city, record, log);
    } catch (err) {
      log.error({ code: (err as KonbiniError).code ?? 'INTERNAL' }, 'could not record the abandoned issuance');
    }
  }

  private async leftUnreported(state: Extract<State, { step: 'delivered' }>): Promise<void> {
    const log = this.deps.log.child({ issuanceId: state.issuanceId, kioskId: this.kiosk.kioskId });
    try {
      await this.deps.ledger.kioskLeft!(state.issuanceId, this.deps.now());
      log.warn({ event: 'outcome', outcome: 'unreported', reason: 'kiosk-disconnected' }, 'kiosk left before reporting: open for its late report until the grace period ends');
    } catch (err) {
      // Not marked: the abandoned-issuance sweep still closes it (failed, not charged).
      log.error({ code: (err as KonbiniError).code ?? 'INTERNAL' }, 'could not mark the issuance unreported');
    }
  }

  /**
   * A report from the kiosk's journal, for an issuance of an earlier connection
   * (possibly to another centre instance: the ledger decides, not this process).
   * Between sessions only, and only for this kiosk's own issuances.
   */
  private async lateOutcome(msg: IssueLateOutcome): Promise<void> {
    const log = this.deps.log.child({ issuanceId: msg.issuanceId, kioskId: this.kiosk.kioskId });
    try {
      if (this.state.step === 'issuing' || this.state.step === 'delivered') throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: this.state.step });
      if (!this.deps.ledger.lateOutcome) throw new KonbiniError('ISSUANCE_UNKNOWN', { reason: 'no-late-reports' });
      const now = this.deps.now();
      const { status, record } = await this.deps.ledger.lateOutcome({
        issuanceId: msg.issuanceId,
        kioskId: this.kiosk.kioskId,
        outcome: msg.outcome,
        copiesPrinted: msg.copiesPrinted,
        at: now,
      });
      if (status === 'expired') {
        // The sheet may be in the resident's hand, recorded failed and not charged:
        // the operator must see it. The kiosk drops its entry on this code.
        log.error({ event: 'alarm', reason: 'late-report-after-grace', copiesPrinted: msg.copiesPrinted, cityCode: record.cityCode }, 'late "printed" after the grace period: recorded failed, not charged');
        await this.deps.audit
          ?.record({ at: now.toISOString(), actor: `kiosk:${this.kiosk.kioskId}`, action: 'late-outcome', target: msg.issuanceId, outcome: 'refused', code: 'LATE_OUTCOME_EXPIRED' })
          .catch((e) => log.error({ code: (e as { code?: string }).code ?? 'error' }, 'audit event not written'));
        throw new KonbiniError('LATE_OUTCOME_EXPIRED', { issuanceId: msg.issuanceId, cityCode: record.cityCode });
      }
      if (status === 'recorded') {
        this.deps.metrics.issuances.inc({ cert_type: record.certType, outcome: record.outcome });
        log.info({ event: 'outcome', outcome: record.outcome, copiesPrinted: record.copiesPrinted, reason: 'late-report', failureCode: msg.failureCode }, 'issuance outcome (late report)');
        // Told to the city exactly like a timely outcome (and kept in the ledger until it confirms).
        const city = this.deps.directory.city(record.cityCode);
        if (city) this.notifyCity(city, record, log);
      } else {
        log.info({ event: 'outcome-repeated', outcome: record.outcome }, 'late report already recorded: same answer');
      }
      this.send({ type: 'issue.late-recorded', issuanceId: msg.issuanceId, outcome: record.outcome === 'printed' ? 'printed' : 'failed', charged: record.charged });
    } catch (err) {
      this.refuse(err, undefined, msg.issuanceId);
    }
  }

  private async outcome(msg: IssueOutcome): Promise<void> {
    this.expectSession(msg.sessionId);
    const state = this.state;
    if (state.step !== 'delivered' || state.issuanceId !== msg.issuanceId) {
      throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { step: state.step, issuanceId: msg.issuanceId });
    }
    // "Printed" means 1..copies sheets came out; anything else is a broken kiosk,
    // refused rather than quietly clamped (the city would refuse it and disagree).
    if (msg.outcome === 'printed' && (msg.copiesPrinted < 1 || msg.copiesPrinted > state.copies)) {
      throw new KonbiniError('MESSAGE_INVALID', { reason: 'copies-printed', copiesPrinted: msg.copiesPrinted, copies: state.copies });
    }
    let record;
    try {
      record = await this.deps.ledger.outcome(msg.issuanceId, msg.outcome, msg.copiesPrinted, this.deps.now());
    } catch (err) {
      // Not recorded (the database stayed out of reach): the report is kept, and
      // recorded as the kiosk sent it when the kiosk leaves, not turned into 'failed'.
      if (this.state.step === 'delivered') this.state.reported = { outcome: msg.outcome, copiesPrinted: msg.copiesPrinted };
      throw err;
    }
    this.deps.metrics.issuances.inc({ cert_type: record.certType, outcome: record.outcome });
    this.state = { step: 'authenticated', sessionId: state.sessionId, card: state.card, city: state.city };
    const log = this.deps.log.child({ issuanceId: msg.issuanceId, kioskId: this.kiosk.kioskId });
    log.info({ event: 'outcome', outcome: record.outcome, copiesPrinted: record.copiesPrinted, failureCode: msg.failureCode }, 'issuance outcome');
    this.send({ type: 'issue.recorded', sessionId: state.sessionId, issuanceId: msg.issuanceId, outcome: msg.outcome, charged: record.charged });
    // The city keeps its 交付記録 from this; a lost notice must not block the kiosk.
    this.notifyCity(state.city, record, log);
  }
}
