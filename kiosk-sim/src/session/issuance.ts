import { X509Certificate } from 'node:crypto';
import {
  cardSerialOf,
  challengeDigest,
  isCertType,
  KonbiniError,
  verifyBinding,
  type CertOptions,
  type CityRef,
  type MenuItem,
  type MenuRefusal,
} from '@konbini/protocol';
import type { CardReader } from '../reader/card-reader.js';
import { EF_AUTH_CERT, JpkiClient } from '../reader/jpki-client.js';
import type { CentreConnection } from '../centre/connection.js';
import type { Printer } from '../printer/printer.js';
import { DocumentBuffer } from './document-buffer.js';
import { devDocumentTrust, verifyDocumentSignature, type DocumentTrust } from './verify-signature.js';
import type { OutcomeJournal } from './journal.js';

/** What the kiosk shows and asks; the headless CLI and the screen each implement it. */
export interface KioskUi {
  /** Progress for the resident: a step name and ids only. */
  step(name: IssuanceStep, info?: Record<string, string | number>): void;
  /** The resident enters the PIN (4 digits); `wrong` is the previous attempt's PIN_WRONG. */
  pin(triesLeft: number, wrong?: KonbiniError): Promise<string>;
  /** The resident chooses from the menu. */
  choose(menu: { city: CityRef; items: MenuItem[]; refusals: MenuRefusal[] }): Promise<{ certType: string; options: CertOptions; copies: number }>;
  /** Take payment; resolves with what was paid (≥ fee) or rejects PAYMENT_SHORT. */
  pay(fee: number): Promise<{ paid: number; change: number }>;
}

export type IssuanceStep =
  | 'reading-card'
  | 'authenticating'
  | 'menu'
  | 'requesting'
  | 'receiving'
  | 'verified'
  | 'paid'
  | 'remove-card'
  | 'printing'
  | 'printed'
  | 'wiped';

export interface IssuanceConfig {
  kioskId: string;
  /** The centre origin as this kiosk is configured: part of what the card signs. */
  centreOrigin: string;
  /**
   * Whose document signatures the kiosk accepts (the LGPKI-sim CA). Default: the dev
   * PKI's (var/pki, or KONBINI_PKI_DIR); without one, nothing prints.
   */
  documentTrust?: DocumentTrust;
  /**
   * The kiosk's journal of outcomes the centre has not acknowledged (ids and counts
   * only): written before printing, sent on the next connection when the line or
   * the kiosk failed before the centre heard the outcome. Without it, a sheet
   * printed while the line was down is never charged.
   */
  journal?: OutcomeJournal;
}

/** Test hooks into one issuance (none in production). */
export interface IssuanceHooks {
  /**
   * The buffer the document will be received into, as soon as it exists (before the
   * first byte): tests call `trackAllocations()` on it and check afterwards that
   * every byte the kiosk held was zeroed, on every path out.
   */
  document?(doc: DocumentBuffer): void;
}

export interface IssuanceResult {
  issuanceId: string;
  certType: string;
  copies: number;
  fee: number;
  /** What the centre recorded as charged (0 when it could not be told). */
  charged: number;
  /** The centre was told the outcome (false: the line dropped after printing; the journal sends it on the next connection). */
  reported: boolean;
  sheets: string[];
}

/**
 * One resident's issuance at the kiosk, DESIGN §4 steps 2-12. The document is
 * checked against this session's own issuance id and card before anything is
 * paid or printed, printing waits for the card to be removed, and every path out
 * of here wipes the document.
 */
export async function runIssuance(
  config: IssuanceConfig,
  reader: CardReader,
  centre: CentreConnection,
  printer: Printer,
  ui: KioskUi,
  signal?: AbortSignal,
  hooks: IssuanceHooks = {},
): Promise<IssuanceResult> {
  const journal = config.journal;
  // Before any new session: what the centre has not heard from earlier ones
  // (this connection may be the first after the line dropped or a restart).
  await journal?.reportPending(centre, printer);
  ui.step('reading-card');
  await reader.waitForCard(signal);
  const removed = new AbortController();
  const onRemoved = () => removed.abort(new KonbiniError('CARD_REMOVED'));
  reader.on('removed', onRemoved);
  // While the card must stay on the reader, every wait (the resident typing the PIN,
  // choosing, the centre answering, the document arriving) ends at once when it is taken.
  const whileCardPresent = <T>(p: Promise<T>): Promise<T> => raceAbort(p, removed.signal);
  let doc: DocumentBuffer | null = null;
  let sessionId: string | null = null;
  let delivered: { issuanceId: string } | null = null;
  try {
    const jpki = new JpkiClient(reader);
    await jpki.selectJpki();
    const certDer = await jpki.readAuthCertificate();
    const cardSerial = cardSerialOf(certDer);
    // The card's own certificate check is the centre's job; a parse here only catches a broken read.
    try {
      new X509Certificate(certDer);
    } catch {
      throw new KonbiniError('CARD_UNREADABLE', { reason: 'certificate' });
    }

    ui.step('authenticating');
    centre.send({ type: 'session.start', authCert: certDer.toString('base64') });
    const challenge = await whileCardPresent(centre.next(['session.challenge']));
    sessionId = challenge.sessionId;
    await verifyPin(jpki, ui, whileCardPresent);
    const digest = challengeDigest(config.centreOrigin, config.kioskId, Buffer.from(challenge.nonce, 'base64'));
    const signature = await jpki.signWithAuthKey(digest);
    centre.send({ type: 'session.auth', sessionId, signature: signature.toString('base64') });
    const menu = await whileCardPresent(centre.next(['session.menu']));

    ui.step('menu', { city: menu.city.code });
    const choice = await whileCardPresent(ui.choose(menu));
    if (!isCertType(choice.certType)) throw new KonbiniError('CERT_TYPE_UNKNOWN');
    // The city already said why this resident cannot have this type: tell them now
    // rather than after a round trip (the city would refuse the request the same way).
    const refused = menu.refusals.find((r) => r.certType === choice.certType);
    if (refused) throw new KonbiniError(refused.code, { certType: refused.certType });
    if (removed.signal.aborted) throw removed.signal.reason;

    ui.step('requesting', { certType: choice.certType });
    centre.send({ type: 'issue.request', sessionId, certType: choice.certType, options: choice.options, copies: choice.copies });
    const accepted = await whileCardPresent(centre.next(['issue.accepted']));
    doc = new DocumentBuffer(accepted.issuanceId);
    hooks.document?.(doc);
    centre.expectDocument(accepted.issuanceId, doc);
    ui.step('receiving', { issuanceId: accepted.issuanceId });
    const announced = await whileCardPresent(centre.next(['issue.document']));
    centre.stopExpecting();
    if (announced.issuanceId !== accepted.issuanceId) throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { reason: 'announced-id' });
    delivered = { issuanceId: accepted.issuanceId };
    // From here the centre holds the issuance delivered: if this kiosk dies, its next
    // start tells the centre it never printed, instead of leaving it to the grace period.
    await journal?.record({ issuanceId: accepted.issuanceId, state: 'received', copies: accepted.copies, copiesPrinted: 0 });
    const pdf = doc.complete(announced);
    // The city's signature first (is this an authentic, unaltered document?), then
    // the binding (is it the one this session asked for, for this card?).
    verifyDocumentSignature(pdf, config.documentTrust ?? devDocumentTrust());
    verifyBinding(pdf, { issuanceId: accepted.issuanceId, cardSerial }, { requireSignature: true });
    // Ask the card itself before taking money: a reader reports removal only when it
    // next polls (pcscd: 400 ms), and a card pulled before the document came ends here.
    await whileCardPresent(jpki.selectEf(EF_AUTH_CERT));
    if (removed.signal.aborted) throw removed.signal.reason;
    ui.step('verified', { issuanceId: accepted.issuanceId });

    await ui.pay(accepted.fee);
    ui.step('paid', { fee: accepted.fee });

    // As at real kiosks: nothing prints while the card is still on the reader.
    reader.off('removed', onRemoved);
    ui.step('remove-card');
    await reader.waitForRemoval(signal);

    // On disk before the printer has the job: a kill -9 from here on leaves "printing",
    // which the next start settles by asking the printer about this issuance's job.
    await journal?.record({ issuanceId: accepted.issuanceId, state: 'printing', copies: accepted.copies, copiesPrinted: 0 });
    ui.step('printing', { issuanceId: accepted.issuanceId });
    let printed;
    try {
      printed = await printer.print(accepted.issuanceId, pdf, accepted.copies);
    } finally {
      doc.wipe();
      ui.step('wiped', { issuanceId: accepted.issuanceId });
    }
    // The paper is out: from here on nothing may be reported as failed.
    delivered = null;
    try {
      await journal?.record({ issuanceId: accepted.issuanceId, state: 'printed', copies: accepted.copies, copiesPrinted: printed.copiesPrinted });
    } catch {
      /* left at "printing": the next start asks the printer, which says the sheets are out */
    }
    ui.step('printed', { issuanceId: accepted.issuanceId, copies: printed.copiesPrinted });
    let recorded: { charged: number } | null = null;
    try {
      centre.send({ type: 'issue.outcome', sessionId, issuanceId: accepted.issuanceId, outcome: 'printed', copiesPrinted: printed.copiesPrinted });
      recorded = await centre.next(['issue.recorded'], 10_000);
      await journal?.remove(accepted.issuanceId).catch(() => undefined);
      centre.send({ type: 'session.end', sessionId });
    } catch {
      // The line dropped after printing. The resident has the paper; the centre,
      // which lost the session before hearing "printed", keeps the issuance open
      // for a grace period, and the journal's entry reaches it on the next
      // connection (issue.late-outcome). Without a journal, or after the grace
      // period, it is recorded failed and not charged (DESIGN §5 invariant 6).
    }
    return {
      issuanceId: accepted.issuanceId,
      certType: accepted.certType,
      copies: printed.copiesPrinted,
      fee: accepted.fee,
      charged: recorded?.charged ?? 0,
      reported: recorded !== null,
      sheets: printed.sheets,
    };
  } catch (err) {
    const e = err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', {}, { cause: err });
    if (sessionId && delivered) {
      // The centre must learn nothing was printed, so nothing is charged.
      const entry = await journal?.get(delivered.issuanceId);
      await journal
        ?.record({ issuanceId: delivered.issuanceId, state: 'failed', copies: entry?.copies ?? 1, copiesPrinted: 0, failureCode: e.code })
        .catch(() => undefined);
      try {
        centre.send({ type: 'issue.outcome', sessionId, issuanceId: delivered.issuanceId, outcome: 'failed', copiesPrinted: 0, failureCode: e.code });
        await centre.next(['issue.recorded'], 10_000);
        await journal?.remove(delivered.issuanceId).catch(() => undefined);
      } catch {
        /* the journal's entry tells the centre on the next connection; else it closes it failed (not charged) after the grace period */
      }
    }
    throw e;
  } finally {
    reader.off('removed', onRemoved);
    centre.stopExpecting();
    doc?.wipe();
  }
}

/**
 * PIN entry: the card counts the tries (3, then locked). After a wrong PIN the UI
 * is asked again with the tries left; a UI that will not ask again (the headless
 * CLI) rethrows the PIN_WRONG it is given.
 */
async function verifyPin(jpki: JpkiClient, ui: KioskUi, whileCardPresent: <T>(p: Promise<T>) => Promise<T>): Promise<void> {
  let tries = await jpki.authPinTriesLeft();
  let wrong: KonbiniError | undefined;
  while (tries > 0) {
    const pin = await whileCardPresent(ui.pin(tries, wrong));
    if (!/^[0-9]{4}$/.test(pin)) throw new KonbiniError('PIN_FORMAT');
    try {
      await jpki.verifyAuthPin(pin);
      return;
    } catch (err) {
      if (!(err instanceof KonbiniError) || err.code !== 'PIN_WRONG') throw err;
      wrong = err;
      tries = typeof err.detail.triesLeft === 'number' ? err.detail.triesLeft : tries - 1;
    }
  }
  throw new KonbiniError('PIN_LOCKED');
}

/** `p`, or the signal's reason as soon as it aborts (p's own outcome is then ignored). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
