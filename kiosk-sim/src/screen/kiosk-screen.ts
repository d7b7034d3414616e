import { EventEmitter } from 'node:events';
import {
  ERRORS,
  KonbiniError,
  MAX_COPIES,
  MIN_COPIES,
  type CertOptions,
  type CityRef,
  type HouseholdMember,
  type MenuItem,
  type MenuRefusal,
} from '@konbini/protocol';
import type { CardReader } from '../reader/card-reader.js';
import type { CentreConnection } from '../centre/connection.js';
import type { Printer, PrintResult } from '../printer/printer.js';
import { printPlan } from '../printer/print-plan.js';
import { runIssuance, type IssuanceConfig, type IssuanceResult, type IssuanceStep, type KioskUi } from '../session/issuance.js';
import type { DocumentBuffer } from '../session/document-buffer.js';
import { COINS, LANGUAGES, type Lang, type ScreenAction, type ScreenName, type ScreenState } from './state.js';

export interface KioskScreenOptions {
  issuance: IssuanceConfig;
  reader: CardReader;
  /** Opens the kiosk's line to the centre; one connection per resident session. */
  connect: () => Promise<CentreConnection>;
  printer: Printer;
  /** Idle time-out on every screen that waits for the resident, ms (default 60 s). */
  idleMs?: number;
  /** How long printing one copy takes on screen, ms (default 800). */
  printMsPerCopy?: number;
  /** Test hook: each document buffer as it is made (see IssuanceHooks). */
  onDocument?: (doc: DocumentBuffer) => void;
  /** Ids and codes only: what happened, for the operator's log. */
  log?: (event: string, fields: Record<string, string | number>) => void;
}

/** Screens that wait for the resident, and so run the idle time-out. */
const IDLE_SCREENS = new Set<ScreenName>([
  'place-card', 'pin', 'menu', 'options', 'members', 'copies', 'confirm', 'received', 'pay', 'remove-card', 'take', 'error', 'end-remove-card',
]);

/** Actions that commit a step: they only count when tapped on the screen now shown (a double tap is one tap). */
const COMMITS = new Set<ScreenAction['action']>([
  'start', 'back', 'cancel', 'pin-ok', 'choose-type', 'options-ok', 'members-ok', 'copies-ok', 'confirm', 'to-pay', 'pay', 'done',
]);

const MAX_INSERTED = 20_000;

/** Refusals of the document itself: each raises an alarm for the operator. */
const ALARMS = new Set<string>(['DOCUMENT_HASH_MISMATCH', 'DOCUMENT_BINDING_MISMATCH', 'DOCUMENT_SIGNATURE_INVALID']);

/** Once a session has ended (paper out, error, cancelled), its menu and choices leave the state at once. */
const FORGET: Partial<ScreenState> = { menu: undefined, choice: undefined, pay: undefined, pin: undefined, printing: undefined };

/**
 * The household members a resident may pick one by one for this type: only where the
 * scope can be chosen and the city listed more than one member (a household of one
 * has nothing to pick).
 */
export function choosableMembers(item: MenuItem | undefined): HouseholdMember[] | null {
  if (!item || !item.options.includes('scope') || !item.members || item.members.length < 2) return null;
  return item.members;
}

type Pending =
  | { kind: 'pin'; resolve: (pin: string) => void; reject: (e: unknown) => void }
  | { kind: 'choose'; resolve: (c: { certType: string; options: CertOptions; copies: number }) => void; reject: (e: unknown) => void }
  | { kind: 'pay'; resolve: (p: { paid: number; change: number }) => void; reject: (e: unknown) => void };

interface Session {
  abort: AbortController;
  endReason: 'timeout' | 'cancelled' | null;
  cardRemoved: boolean;
  paidStep: boolean;
  /** The paper came out: whatever fails after, the resident takes it. */
  printed: boolean;
  /** Coins in the machine, not yet taken as payment. */
  inserted: number;
  /** Taken as payment; given back if nothing prints. */
  paid: number;
  menu: { city: CityRef; items: MenuItem[]; refusals: MenuRefusal[] } | null;
}

export type ActionResult = { ok: true } | { ok: false; reason: 'stale' | 'not-now' | 'invalid' };

/**
 * The kiosk's touch screen as a state machine: it is the KioskUi that runIssuance
 * talks to, and it holds the one state every connected page draws. The PIN is kept
 * here digit by digit and never leaves in the state; everything of a session is
 * forgotten when it ends, however it ends.
 */
export class KioskScreen extends EventEmitter {
  private s: ScreenState = { seq: 0, screen: 'start', lang: 'ja', idleDeadline: null, cardPresent: false };
  private session: Session | null = null;
  private running: Promise<void> | null = null;
  private pending: Pending | null = null;
  private pinDigits: string[] = [];
  /** A card stayed on the reader after its session ended: it must be taken away before another starts. */
  private leftBehind = false;
  /** What the start screen says once the card of a cancelled session is taken. */
  private afterRemoval: Partial<ScreenState> = {};
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleMs: number;
  private readonly printMsPerCopy: number;
  private closed = false;
  /**
   * Test hook: the last document buffer handed to the printer, held weakly, so a
   * test can check every byte of it was zeroed after the session.
   */
  lastPrintedDocument: WeakRef<Buffer> | null = null;
  /** Counters for maintenance staff: numbers only, never who or what. */
  readonly counters = {
    sessions: 0,
    printed: 0,
    failed: 0,
    timeouts: 0,
    cancelled: 0,
    /** Documents refused as not this session's or not authentic (each also logged as 'alarm'). */
    alarms: 0,
    /** Printed while the centre could not be told at once (see `unreported`). */
    unreported: 0,
    printer: { jobs: 0, copies: 0, jams: 0, outOfPaper: 0 },
    errors: {} as Record<string, number>,
  };
  /** Test hook: the results of finished issuances (ids and counts only). */
  readonly results: { issuanceId: string; copies: number; charged: number; fee: number; reported: boolean }[] = [];
  /**
   * Printed, but the line to the centre dropped before the centre recorded it: the
   * outcome journal sends it as a late report on the next connection (charged if the
   * centre's grace period has not run out). Ids for the operator, also in the log
   * ('outcome-unreported'); maintenance staff see the count only.
   */
  readonly unreported: { issuanceId: string; copies: number; at: string }[] = [];

  constructor(private readonly opts: KioskScreenOptions) {
    super();
    this.idleMs = opts.idleMs ?? 60_000;
    this.printMsPerCopy = opts.printMsPerCopy ?? 800;
    this.s.cardPresent = opts.reader.cardPresent;
    opts.reader.on('inserted', this.onInserted);
    opts.reader.on('removed', this.onRemoved);
  }

  get state(): ScreenState {
    return this.s;
  }

  /** Resolves when the session in progress (if any) has completely ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearIdle();
    this.opts.reader.off('inserted', this.onInserted);
    this.opts.reader.off('removed', this.onRemoved);
    if (this.session) {
      this.session.endReason = 'cancelled';
      this.session.abort.abort(new KonbiniError('SESSION_UNKNOWN', { reason: 'shutdown' }));
      this.rejectPending(new KonbiniError('SESSION_UNKNOWN', { reason: 'shutdown' }));
    }
    await this.running?.catch(() => {});
  }

  // ------------------------------------------------------------ state

  private set(screen: ScreenName, patch: Partial<ScreenState> = {}): void {
    // Everything of the session carries from screen to screen; toStart() forgets it all.
    this.s = { ...this.s, cardPresent: this.opts.reader.cardPresent, ...patch, seq: this.s.seq + 1, screen, idleDeadline: null };
    if (screen !== 'start') delete this.s.notice;
    this.armIdle();
    this.emit('state', this.s);
  }

  private update(patch: Partial<ScreenState>): void {
    this.set(this.s.screen, patch);
  }

  private armIdle(): void {
    this.clearIdle();
    const waits = IDLE_SCREENS.has(this.s.screen) || (this.s.screen === 'start' && (this.s.lang !== 'ja' || this.s.notice !== undefined));
    if (!waits || this.closed) return;
    this.s.idleDeadline = Date.now() + this.idleMs;
    this.idleTimer = setTimeout(() => this.onIdle(), this.idleMs);
    this.idleTimer.unref?.();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private toStart(patch: Partial<ScreenState> = {}): void {
    this.pinDigits.fill('');
    this.pinDigits = [];
    this.s = { seq: this.s.seq, screen: 'start', lang: this.s.lang, idleDeadline: null, cardPresent: this.opts.reader.cardPresent };
    this.set('start', patch);
  }

  // ------------------------------------------------------------ events from the reader and the clock

  private readonly onInserted = (): void => {
    if (this.s.screen === 'place-card' && !this.s.replaceCard) this.set('reading');
    else this.update({});
  };

  private readonly onRemoved = (): void => {
    this.leftBehind = false;
    const ses = this.session;
    if (ses && !ses.paidStep) {
      ses.cardRemoved = true;
      this.rejectPending(new KonbiniError('CARD_REMOVED'));
    }
    if (this.s.screen === 'end-remove-card') this.toStart(this.afterRemoval);
    else this.update({});
  };

  private onIdle(): void {
    this.idleTimer = null;
    const ses = this.session;
    this.opts.log?.('idle-timeout', { screen: this.s.screen });
    if (ses && this.s.screen !== 'take') {
      ses.endReason = 'timeout';
      // Waits on the reader end through the signal, waits on the resident through `pending`.
      ses.abort.abort(new KonbiniError('KIOSK_IDLE_TIMEOUT'));
      this.rejectPending(new KonbiniError('KIOSK_IDLE_TIMEOUT'));
      return;
    }
    if (this.s.screen === 'start' || this.s.screen === 'take') this.toStart({ lang: 'ja' });
    else this.toStart({ lang: 'ja', notice: 'timeout' });
  }

  private rejectPending(err: unknown): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  // ------------------------------------------------------------ what the resident taps

  act(a: ScreenAction & { seq?: number }): ActionResult {
    if (this.closed) return { ok: false, reason: 'not-now' };
    if (COMMITS.has(a.action) && a.seq !== undefined && a.seq !== this.s.seq) return { ok: false, reason: 'stale' };
    // Every accepted tap changes the state, and so restarts the idle time-out.
    return this.apply(a);
  }

  private apply(a: ScreenAction): ActionResult {
    const s = this.s;
    const ses = this.session;
    switch (a.action) {
      case 'lang':
        if (!(LANGUAGES as readonly string[]).includes(a.lang)) return { ok: false, reason: 'invalid' };
        this.update({ lang: a.lang });
        return { ok: true };
      case 'start':
        if (s.screen !== 'start' || this.running) return { ok: false, reason: 'not-now' };
        this.running = this.runSession().finally(() => {
          this.running = null;
        });
        return { ok: true };
      case 'cancel':
        if (!ses || !this.pending && s.screen !== 'place-card') return { ok: false, reason: 'not-now' };
        ses.endReason = 'cancelled';
        ses.abort.abort(new KonbiniError('RESIDENT_CANCELLED'));
        this.rejectPending(new KonbiniError('RESIDENT_CANCELLED'));
        return { ok: true };
      case 'done':
        if (s.screen === 'take' || s.screen === 'error') {
          if (this.opts.reader.cardPresent && s.screen === 'error') {
            this.afterRemoval = {};
            this.set('end-remove-card');
          }
          else this.toStart();
          return { ok: true };
        }
        return { ok: false, reason: 'not-now' };
      case 'digit':
        if (s.screen !== 'pin' || !/^[0-9]$/.test(a.digit)) return { ok: false, reason: 'invalid' };
        if (this.pinDigits.length >= 4) return { ok: false, reason: 'not-now' };
        this.pinDigits.push(a.digit);
        this.update({ pin: { ...s.pin!, length: this.pinDigits.length } });
        return { ok: true };
      case 'pin-delete':
      case 'pin-clear':
        if (s.screen !== 'pin') return { ok: false, reason: 'not-now' };
        if (a.action === 'pin-clear') this.pinDigits = [];
        else this.pinDigits.pop();
        this.update({ pin: { ...s.pin!, length: this.pinDigits.length } });
        return { ok: true };
      case 'pin-ok': {
        if (s.screen !== 'pin' || this.pending?.kind !== 'pin' || this.pinDigits.length !== 4) return { ok: false, reason: 'not-now' };
        const pin = this.pinDigits.join('');
        this.pinDigits.fill('');
        this.pinDigits = [];
        const p = this.pending;
        this.pending = null;
        this.set('checking', { pin: undefined });
        p.resolve(pin);
        return { ok: true };
      }
      case 'choose-type': {
        if (s.screen !== 'menu' || !ses?.menu) return { ok: false, reason: 'not-now' };
        const item = ses.menu.items.find((i) => i.certType === a.certType);
        if (!item || ses.menu.refusals.some((r) => r.certType === a.certType)) return { ok: false, reason: 'invalid' };
        const options: CertOptions = {};
        for (const k of item.options) {
          if (k === 'scope') options.scope = 'self';
          else if (k === 'members') continue;
          else if (k === 'fiscalYear') {
            if (item.fiscalYears?.length) options.fiscalYear = Math.max(...item.fiscalYears);
          } else options[k] = false;
        }
        const choice = { certType: item.certType, options, copies: 1, feePerCopy: item.fee };
        this.set(item.options.length ? 'options' : 'copies', { choice });
        return { ok: true };
      }
      case 'set-option': {
        if (s.screen !== 'options' || !s.choice || !ses?.menu) return { ok: false, reason: 'not-now' };
        const item = ses.menu.items.find((i) => i.certType === s.choice!.certType)!;
        if (!item.options.includes(a.key)) return { ok: false, reason: 'invalid' };
        const options = { ...s.choice.options };
        if (a.key === 'scope') {
          if (a.value !== 'self' && a.value !== 'household' && !(a.value === 'members' && choosableMembers(item))) return { ok: false, reason: 'invalid' };
          options.scope = a.value;
          // Members go to the city only with scope 'members', and never an empty list.
          delete options.members;
          if (a.value === 'members' && s.choice.picked?.length) options.members = [...s.choice.picked];
        } else if (a.key === 'fiscalYear') {
          if (typeof a.value !== 'number' || !item.fiscalYears?.includes(a.value)) return { ok: false, reason: 'invalid' };
          options.fiscalYear = a.value;
        } else if (a.key !== 'members') {
          if (typeof a.value !== 'boolean') return { ok: false, reason: 'invalid' };
          options[a.key] = a.value;
        }
        this.update({ choice: { ...s.choice, options } });
        return { ok: true };
      }
      case 'options-ok':
        if (s.screen !== 'options' || !s.choice) return { ok: false, reason: 'not-now' };
        this.set(s.choice.options.scope === 'members' ? 'members' : 'copies');
        return { ok: true };
      case 'set-member': {
        if (s.screen !== 'members' || !s.choice || !ses?.menu) return { ok: false, reason: 'not-now' };
        const members = choosableMembers(ses.menu.items.find((i) => i.certType === s.choice!.certType));
        if (!members || typeof a.ref !== 'string' || typeof a.on !== 'boolean' || !members.some((m) => m.ref === a.ref)) return { ok: false, reason: 'invalid' };
        const was = new Set(s.choice.picked ?? []);
        if (a.on) was.add(a.ref);
        else was.delete(a.ref);
        // The menu's order, whatever order they were tapped in.
        const picked = members.filter((m) => was.has(m.ref)).map((m) => m.ref);
        const options = { ...s.choice.options };
        delete options.members;
        if (picked.length) options.members = picked;
        this.update({ choice: { ...s.choice, picked, options } });
        return { ok: true };
      }
      case 'members-ok':
        if (s.screen !== 'members' || !s.choice) return { ok: false, reason: 'not-now' };
        // At least one member: the button is disabled until then, and a tap that gets here anyway changes nothing.
        if (!s.choice.options.members?.length) return { ok: false, reason: 'invalid' };
        this.set('copies');
        return { ok: true };
      case 'copies':
        if (s.screen !== 'copies' || !s.choice || !Number.isInteger(a.copies) || a.copies < MIN_COPIES || a.copies > MAX_COPIES) {
          return { ok: false, reason: 'invalid' };
        }
        this.update({ choice: { ...s.choice, copies: a.copies } });
        return { ok: true };
      case 'copies-ok':
        if (s.screen !== 'copies') return { ok: false, reason: 'not-now' };
        this.set('confirm');
        return { ok: true };
      case 'back': {
        const item = ses?.menu?.items.find((i) => i.certType === s.choice?.certType);
        if (s.screen === 'options') this.set('menu', { choice: undefined });
        else if (s.screen === 'members') this.set('options');
        else if (s.screen === 'copies' && s.choice?.options.scope === 'members') this.set('members');
        else if (s.screen === 'copies') this.set(item?.options.length ? 'options' : 'menu', item?.options.length ? {} : { choice: undefined });
        else if (s.screen === 'confirm') this.set('copies');
        else return { ok: false, reason: 'not-now' };
        return { ok: true };
      }
      case 'confirm': {
        if (s.screen !== 'confirm' || this.pending?.kind !== 'choose' || !s.choice) return { ok: false, reason: 'not-now' };
        if (s.choice.options.scope === 'members' && !s.choice.options.members?.length) return { ok: false, reason: 'invalid' };
        const p = this.pending;
        this.pending = null;
        const { certType, options, copies } = s.choice;
        this.set('requesting');
        p.resolve({ certType, options, copies });
        return { ok: true };
      }
      case 'to-pay':
        if (s.screen !== 'received' || !s.pay) return { ok: false, reason: 'not-now' };
        this.set('pay');
        return { ok: true };
      case 'coin': {
        if (s.screen !== 'pay' || !ses || !s.pay || !(COINS as readonly number[]).includes(a.yen)) return { ok: false, reason: 'invalid' };
        if (ses.inserted + a.yen > MAX_INSERTED) return { ok: false, reason: 'not-now' };
        ses.inserted += a.yen;
        this.update({ pay: { ...s.pay, inserted: ses.inserted, short: null } });
        return { ok: true };
      }
      case 'pay': {
        if (s.screen !== 'pay' || this.pending?.kind !== 'pay' || !ses || !s.pay) return { ok: false, reason: 'not-now' };
        if (ses.inserted < s.pay.fee) {
          // Not enough: say how much is missing and stay; nothing is taken.
          this.update({ pay: { ...s.pay, short: s.pay.fee - ses.inserted } });
          return { ok: true };
        }
        const p = this.pending;
        this.pending = null;
        ses.paid = ses.inserted;
        ses.inserted = 0;
        const change = ses.paid - s.pay.fee;
        this.set('remove-card', { change, pay: { ...s.pay, inserted: ses.paid, short: null } });
        p.resolve({ paid: ses.paid, change });
        return { ok: true };
      }
    }
    return { ok: false, reason: 'invalid' };
  }

  // ------------------------------------------------------------ one resident's session

  private async runSession(): Promise<void> {
    const ses: Session = { abort: new AbortController(), endReason: null, cardRemoved: false, paidStep: false, printed: false, inserted: 0, paid: 0, menu: null };
    this.session = ses;
    this.counters.sessions += 1;
    let centre: CentreConnection | null = null;
    try {
      if (this.opts.reader.cardPresent && this.leftBehind) {
        // A card left on the reader never starts a session: it must be placed again.
        this.set('place-card', { replaceCard: true });
        await this.opts.reader.waitForRemoval(ses.abort.signal);
        ses.cardRemoved = false;
      }
      this.set('place-card', { replaceCard: false });
      centre = await this.opts.connect();
      const result = await runIssuance(this.opts.issuance, this.opts.reader, centre, this.progressPrinter(), this.ui(ses), ses.abort.signal, {
        ...(this.opts.onDocument ? { document: this.opts.onDocument } : {}),
      });
      this.finished(result);
    } catch (err) {
      const e = err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', {}, { cause: err });
      this.failed(ses, e);
    } finally {
      this.leftBehind = this.opts.reader.cardPresent;
      centre?.close();
      this.pending = null;
      ses.menu = null;
      this.pinDigits.fill('');
      this.pinDigits = [];
      this.session = null;
    }
  }

  private finished(r: IssuanceResult): void {
    this.counters.printed += 1;
    this.results.push({ issuanceId: r.issuanceId, copies: r.copies, charged: r.charged, fee: r.fee, reported: r.reported });
    this.opts.log?.('printed', { issuanceId: r.issuanceId, copies: r.copies });
    if (!r.reported) {
      this.counters.unreported += 1;
      this.unreported.push({ issuanceId: r.issuanceId, copies: r.copies, at: new Date().toISOString() });
      this.opts.log?.('outcome-unreported', { issuanceId: r.issuanceId, copies: r.copies });
    }
  }

  private failed(ses: Session, e: KonbiniError): void {
    // Nothing printed: every coin goes back.
    const refunded = ses.inserted + ses.paid;
    ses.inserted = 0;
    ses.paid = 0;
    this.opts.log?.('ended', { code: e.code, reason: ses.endReason ?? 'error' });
    if (ALARMS.has(e.code)) {
      // A document that is not what this session asked for, or not authentic: the
      // operator must look (DESIGN §4 step 11: error screen and an alarm).
      this.counters.alarms += 1;
      this.opts.log?.('alarm', { code: e.code, ...(typeof e.detail.issuanceId === 'string' ? { issuanceId: e.detail.issuanceId } : {}), ...(typeof e.detail.reason === 'string' ? { reason: e.detail.reason } : {}) });
    }
    if (ses.endReason === 'timeout') this.counters.timeouts += 1;
    else if (ses.endReason === 'cancelled') this.counters.cancelled += 1;
    else {
      this.counters.failed += 1;
      this.counters.errors[e.code] = (this.counters.errors[e.code] ?? 0) + 1;
    }
    if (this.closed) return;
    if (ses.printed) {
      // Printed, then the centre could not be told: the certificate is the resident's
      // (the journal reports it on the next connection).
      if (this.s.screen !== 'take') this.set('take', FORGET);
      return;
    }
    if (ses.endReason === 'timeout') {
      this.toStart({ lang: 'ja', notice: 'timeout', ...(refunded ? { refunded } : {}) });
      return;
    }
    if (ses.endReason === 'cancelled') {
      this.afterRemoval = { notice: 'cancelled' };
      if (this.opts.reader.cardPresent) this.set('end-remove-card', { ...FORGET, error: undefined, ...(refunded ? { refunded } : {}) });
      else this.toStart({ notice: 'cancelled', ...(refunded ? { refunded } : {}) });
      return;
    }
    const triesLeft = typeof e.detail.triesLeft === 'number' ? e.detail.triesLeft : undefined;
    this.set('error', {
      ...FORGET,
      error: { code: e.code, ja: ERRORS[e.code].ja, en: ERRORS[e.code].en, ...(triesLeft !== undefined ? { triesLeft } : {}) },
      refunded: refunded || undefined,
      pin: undefined,
      pay: undefined,
    });
  }

  private ui(ses: Session): KioskUi {
    const gone = () => {
      if (ses.cardRemoved) throw new KonbiniError('CARD_REMOVED');
      if (ses.abort.signal.aborted) throw ses.abort.signal.reason;
    };
    return {
      step: (name: IssuanceStep, info) => {
        this.opts.log?.('step', { step: name, ...(info?.issuanceId ? { issuanceId: info.issuanceId } : {}) });
        switch (name) {
          case 'reading-card':
            if (this.s.screen !== 'place-card') this.set('place-card', { replaceCard: false });
            if (this.opts.reader.cardPresent) this.set('reading');
            break;
          case 'authenticating':
            this.set('reading');
            break;
          case 'paid':
            ses.paidStep = true;
            break;
          case 'printing': {
            const total = this.s.choice?.copies ?? 1;
            this.set('printing', { printing: { done: 0, total, front: { done: 0, total: 0 }, back: { done: 0, total: 0 } } });
            break;
          }
          case 'printed':
            // The paper is out: from here nothing is owed back.
            ses.paid = 0;
            ses.printed = true;
            if (this.s.screen !== 'take') this.set('take', FORGET);
            break;
          default:
            break;
        }
      },
      pin: (triesLeft, wrong) => {
        gone();
        this.pinDigits = [];
        return new Promise<string>((resolve, reject) => {
          this.pending = { kind: 'pin', resolve, reject };
          this.set('pin', { pin: { length: 0, triesLeft, wrong: wrong !== undefined } });
        });
      },
      choose: (menu) => {
        gone();
        ses.menu = menu;
        return new Promise((resolve, reject) => {
          this.pending = { kind: 'choose', resolve, reject };
          const refusals = menu.refusals.map((r) => ({ certType: r.certType, code: r.code, ja: ERRORS[r.code].ja, en: ERRORS[r.code].en }));
          this.set('menu', { menu: { cityName: menu.city.name, items: menu.items, refusals }, choice: undefined });
        });
      },
      pay: (fee) => {
        gone();
        return new Promise((resolve, reject) => {
          this.pending = { kind: 'pay', resolve, reject };
          this.set('received', { pay: { fee, inserted: 0, short: null } });
        });
      },
    };
  }

  /** The printer, with the progress a resident sees while the sheets come out. */
  private progressPrinter(): Printer {
    return {
      print: async (issuanceId: string, pdf: Buffer, copies: number): Promise<PrintResult> => {
        this.lastPrintedDocument = new WeakRef(pdf);
        // Page by page, as the sheets come out: fronts, and each copy's back on the reverse of its last sheet.
        const plan = printPlan(pdf, copies);
        const side = { front: { done: 0, total: plan.fronts }, back: { done: 0, total: plan.backs } };
        const show = (done: number) => {
          if (this.s.screen === 'printing') this.update({ printing: { done, total: copies, front: { ...side.front }, back: { ...side.back } } });
        };
        show(0);
        const msPerPage = this.printMsPerCopy / Math.max(1, plan.pages.length / copies);
        for (let i = 0; i < plan.pages.length; i++) {
          await new Promise((r) => setTimeout(r, msPerPage));
          const page = plan.pages[i]!;
          side[page.side].done += 1;
          // a copy is done when its last page is
          const next = plan.pages[i + 1];
          show(next && next.copy === page.copy ? page.copy - 1 : page.copy);
        }
        const c = this.counters.printer;
        c.jobs += 1;
        let result: PrintResult;
        try {
          result = await this.opts.printer.print(issuanceId, pdf, copies);
        } catch (err) {
          if (err instanceof KonbiniError && err.code === 'PRINTER_JAM') c.jams += 1;
          if (err instanceof KonbiniError && err.code === 'PRINTER_OUT_OF_PAPER') c.outOfPaper += 1;
          throw err;
        }
        c.copies += result.copiesPrinted;
        show(copies);
        return result;
      },
      // The journal asks the real printer about a job a restart interrupted.
      ...(this.opts.printer.recover ? { recover: this.opts.printer.recover.bind(this.opts.printer) } : {}),
    };
  }
}
