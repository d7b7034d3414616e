import { createHash } from 'node:crypto';
import {
  KonbiniError,
  MAX_HOUSEHOLD_MEMBERS,
  cardSerialHmac,
  type Binding,
  type CertType,
  type ErrorCode,
  type TaxRecord,
  type CityIssueRequest,
  type CityMenuRequest,
  type CityMenuResponse,
  type CityOutcomeRequest,
  type CityOutcomeResponse,
} from '@konbini/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Db, Queryable } from '../replica/db.js';
import {
  cardLinkBySerial,
  cityOf,
  feeTable,
  householdOfResident,
  issuanceIdUsed,
  releaseIssuance,
  recordDocument,
  reserveIssuance,
  residentById,
  type CityRecord,
} from '../replica/queries.js';
import type { Resident } from '../replica/dataset.js';
import { cityAllowsMyNumber, myNumberOf, taxRecordOf, taxYearsOf } from '../replica/cert-queries.js';
import { sealRegistrationOf } from '../replica/seal.js';
import type { CertificateModel } from '../render/model.js';
import { REQUEST_CHECKS, RESIDENT_RECORD_TYPES, allowedOptions, runTypeRules, type TypeContext } from '../rules/cert-rules.js';
import { cipherOf } from '../crypto/replica-keys.js';
import { choosableMembers, menuMembers } from './members.js';
import { tokyoDate } from '../rules/clock.js';
import { buildMenu, checkIssueShape, type TypeOffer } from '../rules/offer.js';
import { runResidentRules, type RuleContext, type RuleRefusal } from '../rules/resident-rules.js';
import { cardSerialSha256 } from '../http/logging.js';
import { printedPersons, printedTexts, residentRecordModel, sealModel, taxIncomeModel } from './model.js';
import type { KosekiClient } from '../koseki/client.js';
import { KOSEKI_CERT_TYPES, isKosekiCertType } from '../koseki/model.js';
import { RENDERED_TYPES } from '../rules/offer.js';
import { contentSha256, makeMark, newVerificationNumber, type MarkSigner } from '../verify/mark.js';
import { insertMark } from '../verify/store.js';

/** Render, bind (and sign) one certificate of any type this server issues. */
export type RenderCertificate = (model: CertificateModel, cardSerialHmacHex: string) => Promise<{ pdf: Buffer; binding: Binding }>;
/** @deprecated the renderer takes every type now: use RenderCertificate. */
export type RenderResidentRecord = RenderCertificate;

export interface IssuanceDeps {
  db: Db;
  printable: (text: string) => boolean;
  now: () => Date;
  render: RenderCertificate;
  log: FastifyBaseLogger;
  /** The koseki server the koseki types are forwarded to; absent = koseki types not offered. */
  koseki?: KosekiClient | null;
  /** Anti-forgery marks (地紋, 2D code, 確認番号) on every document; the server always sets it. */
  antiForgery?: boolean;
  /** Signs the 2D code's text (the city's document signer); null when unsigned. */
  markSigner?: MarkSigner;
}

/** What this server offers: what it renders, plus the koseki types when it can forward them. */
function servedTypes(deps: IssuanceDeps): readonly CertType[] {
  return deps.koseki ? [...RENDERED_TYPES, ...KOSEKI_CERT_TYPES] : RENDERED_TYPES;
}

/** 本籍 in this city (the koseki server serves only the city's own registers); Japanese nationals only. */
function honsekiServed(city: CityRecord, holder: Resident): boolean {
  return !holder.foreign && !!holder.honseki && holder.honseki.startsWith(`${city.prefecture}${city.name}`);
}

/** The koseki server's answer for the menu; an unreachable server refuses the koseki types only. */
async function kosekiOffers(deps: IssuanceDeps, city: CityRecord, holder: Resident): Promise<Map<CertType, TypeOffer>> {
  const out = new Map<CertType, TypeOffer>();
  if (!deps.koseki) return out;
  const refuse = (code: ErrorCode, rule: string) => {
    for (const t of KOSEKI_CERT_TYPES) out.set(t, { refusal: { rule, code }, options: [] });
  };
  if (!honsekiServed(city, holder)) {
    refuse('KOSEKI_NOT_SERVED', 'honseki-served');
    return out;
  }
  try {
    const status = await deps.koseki.status(holder.id);
    for (const t of KOSEKI_CERT_TYPES) {
      const answer = status.types.find((x) => x.certType === t);
      const code = answer ? answer.code : 'KOSEKI_NOT_SERVED';
      out.set(t, { refusal: code ? { rule: 'koseki-side', code } : null, options: allowedOptions(t, holder, false) });
    }
  } catch (err) {
    refuse(err instanceof KonbiniError ? err.code : 'CITY_UNREACHABLE', 'koseki-status');
  }
  return out;
}

interface Snapshot {
  city: CityRecord;
  fees: Map<string, number>;
  ctx: RuleContext;
  /** What the type rules need of the holder (null when no resident was found). */
  typeData: Omit<TypeContext, 'certType' | 'holder' | 'today'> | null;
}

/**
 * Everything one decision needs, read in one transaction so a concurrent full load
 * is seen entirely or not at all (DESIGN §5 invariant 4).
 */
async function snapshot(deps: IssuanceDeps, cardSerial: string): Promise<Snapshot> {
  const today = tokyoDate(deps.now());
  return deps.db.transaction(async (tx: Queryable) => {
    const city = await cityOf(tx);
    if (!city) throw new KonbiniError('REPLICA_STALE', { reason: 'empty-replica' });
    const fees = await feeTable(tx);
    const link = await cardLinkBySerial(tx, cardSerial);
    const resident = link ? await residentById(tx, link.residentId) : null;
    const household = resident ? await householdOfResident(tx, resident) : null;
    const typeData = resident
      ? {
          seal: await sealRegistrationOf(tx, resident.id),
          taxYears: await taxYearsOf(tx, resident.id),
          allowMyNumber: await cityAllowsMyNumber(tx),
          members: household ? choosableMembers(household, (purpose, value) => cipherOf(tx).mac(purpose, value)) : [],
        }
      : null;
    return { city, fees, ctx: { today, link, resident, household, printable: deps.printable }, typeData };
  });
}

export async function menu(deps: IssuanceDeps, req: CityMenuRequest): Promise<CityMenuResponse> {
  const snap = await snapshot(deps, req.cardSerial);
  const refusal: RuleRefusal | null = runResidentRules(snap.ctx);
  const koseki = !refusal && snap.ctx.resident ? await kosekiOffers(deps, snap.city, snap.ctx.resident) : new Map<CertType, TypeOffer>();
  deps.log.info(
    { kioskId: req.kioskId, cardSerialSha256: cardSerialSha256(req.cardSerial), rule: refusal?.rule, code: refusal?.code },
    'menu',
  );
  return buildMenu(snap.city, snap.fees, snap.ctx.resident, refusal, (certType, holder) => koseki.get(certType) ?? offerOf(snap, certType, holder), servedTypes(deps));
}

function typeContext(snap: Snapshot, certType: CertType, holder: Resident): TypeContext {
  return { certType, today: snap.ctx.today, holder, ...snap.typeData! };
}

function offerOf(snap: Snapshot, certType: CertType, holder: Resident): TypeOffer {
  const ctx = typeContext(snap, certType, holder);
  const refusal = runTypeRules(ctx);
  // a member under DV等支援措置 is never offered for choosing (membersNotUnderSupportMeasure)
  const household = (ctx.members ?? []).filter((m) => !m.resident.flags.includes('support-measure'));
  // more members than a menu may list (MAX_HOUSEHOLD_MEMBERS): the whole household or the counter
  const choose = RESIDENT_RECORD_TYPES.includes(certType) && household.length > 1 && household.length <= MAX_HOUSEHOLD_MEMBERS;
  return {
    refusal,
    options: allowedOptions(certType, holder, ctx.allowMyNumber, choose ? household.length : 1),
    ...(certType === 'tax-income' && !refusal ? { fiscalYears: [...ctx.taxYears] } : {}),
    ...(choose && !refusal ? { members: menuMembers(household, holder.id) } : {}),
  };
}

export interface IssuedDocument {
  issuanceId: string;
  pdf: Buffer;
  sha256: string;
  fee: number;
}

export async function issue(deps: IssuanceDeps, req: CityIssueRequest): Promise<IssuedDocument> {
  const ids = { issuanceId: req.issuanceId, kioskId: req.kioskId };
  const fees = await feeTable(deps.db);
  const { certType, feePerCopy } = checkIssueShape(req, fees, servedTypes(deps));
  // a cheap early answer; the reservation below is what actually guarantees it
  if (await issuanceIdUsed(deps.db, req.issuanceId)) throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { ...ids, reason: 'duplicate' });

  // the menu is never trusted: every rule runs again
  const snap = await snapshot(deps, req.cardSerial);
  const refusal = runResidentRules(snap.ctx);
  if (refusal) throw new KonbiniError(refusal.code, { ...ids, rule: refusal.rule });
  const holder = snap.ctx.resident!;
  const view = snap.ctx.household!;
  const typeCtx = typeContext(snap, certType, holder);
  for (const check of REQUEST_CHECKS) {
    const code = check.check(req, typeCtx);
    if (code) throw new KonbiniError(code, { ...ids, rule: check.name });
  }
  const typeRefusal = runTypeRules(typeCtx);
  if (typeRefusal) throw new KonbiniError(typeRefusal.code, { ...ids, rule: typeRefusal.rule });
  if (isKosekiCertType(certType)) return forwardKoseki(deps, req, snap, certType, feePerCopy);
  const residentFamily = certType === 'resident-record' || certType === 'resident-entries';
  // chosen references → resident ids (membersChosen has checked each names a current member)
  const chosen = req.options.scope === 'members'
    ? new Set((typeCtx.members ?? []).filter((m) => req.options.members!.includes(m.ref)).map((m) => m.resident.id))
    : undefined;
  const persons = residentFamily ? printedPersons(holder, view, req.options.scope, chosen) : [holder];
  // what reaches paper: the persons' printed fields, or the holder's name alone (seal, tax)
  const texts = residentFamily
    ? persons.flatMap((p) => printedTexts(p, req.options))
    : [holder.familyName, holder.givenName, holder.familyNameKana, holder.givenNameKana, ...(holder.foreign ? [holder.foreign.alphabetName] : [])];
  texts.push(view.household.address);
  let taxRecord: TaxRecord | null = null;
  if (certType === 'tax-income') {
    const year = req.options.fiscalYear ?? typeCtx.taxYears[0]!;
    taxRecord = await taxRecordOf(deps.db, holder.id, year);
    if (!taxRecord) throw new KonbiniError('TAX_RECORD_MISSING', { ...ids, rule: 'tax-record-read' });
    texts.push(taxRecord.assessmentAddress);
  }
  if (!texts.every((t) => deps.printable(t))) {
    throw new KonbiniError('UNPRINTABLE_CHARACTERS', { ...ids, rule: 'printed-texts' });
  }
  let myNumbers: Map<string, string> | undefined;
  if (residentFamily && req.options.includeMyNumber === true && typeCtx.allowMyNumber) {
    myNumbers = new Map();
    for (const p of persons) {
      const n = await myNumberOf(deps.db, p.id);
      // a 個人番号 asked for and allowed but not held: not printed silently blank
      if (!n) throw new KonbiniError('OPTION_NOT_ALLOWED', { ...ids, rule: 'my-number-held' });
      myNumbers.set(p.id, n);
    }
  }

  const fee = feePerCopy * req.copies;
  const hmac = cardSerialHmac(req.issuanceId, req.cardSerial);
  const claimed = await reserveIssuance(deps.db, {
    issuanceId: req.issuanceId,
    kioskId: req.kioskId,
    certType,
    copies: req.copies,
    fee,
    cardSerialHmac: hmac,
  });
  if (!claimed) throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { ...ids, reason: 'duplicate' });

  const issuedAt = deps.now();
  const head = { city: snap.city, issuanceId: req.issuanceId, issuedAt, copies: req.copies };
  let model: CertificateModel;
  if (certType === 'seal') {
    model = sealModel({ ...head, holder, address: view.household.address, seal: typeCtx.seal! });
  } else if (certType === 'tax-income') {
    model = taxIncomeModel({ ...head, holder, record: taxRecord! });
  } else {
    model = residentRecordModel({ ...head, holder, view, options: req.options, certType: certType as 'resident-record' | 'resident-entries', ...(myNumbers ? { myNumbers } : {}), ...(chosen ? { members: chosen } : {}) });
  }
  let pdf: Buffer;
  const started = performance.now();
  try {
    if (deps.antiForgery) {
      const verificationNumber = newVerificationNumber();
      const hash = contentSha256(model);
      await insertMark(deps.db, req.issuanceId, verificationNumber, hash);
      model.antiForgery = makeMark({ cityCode: snap.city.code, issuanceId: req.issuanceId, verificationNumber, contentSha256: hash }, deps.markSigner ?? null);
    }
    ({ pdf } = await deps.render(model, hmac));
  } catch (err) {
    await releaseIssuance(deps.db, req.issuanceId);
    throw err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', { ...ids, reason: 'render' }, { cause: err });
  }
  const sha256 = createHash('sha256').update(pdf).digest('hex');
  if (!(await recordDocument(deps.db, req.issuanceId, sha256))) throw closedWhileRendering(ids);
  deps.log.info(
    { ...ids, certType, copies: req.copies, fee, documentSha256: sha256, bytes: pdf.length, renderMs: Math.round(performance.now() - started) },
    'issued',
  );
  return { issuanceId: req.issuanceId, pdf, sha256, fee };
}

/**
 * Koseki types: the replica decided who the holder is and that the resident rules
 * pass; the koseki server decides the rest (its hours, a pending filing, its
 * register), renders and signs. The replica reserves the issuance, relays the PDF
 * and keeps its hash in the 交付記録 like any other.
 */
async function forwardKoseki(deps: IssuanceDeps, req: CityIssueRequest, snap: Snapshot, certType: CertType & `koseki-${string}`, feePerCopy: number): Promise<IssuedDocument> {
  const ids = { issuanceId: req.issuanceId, kioskId: req.kioskId };
  const holder = snap.ctx.resident!;
  if (!honsekiServed(snap.city, holder)) throw new KonbiniError('KOSEKI_NOT_SERVED', { ...ids, rule: 'honseki-served' });
  const fee = feePerCopy * req.copies;
  const hmac = cardSerialHmac(req.issuanceId, req.cardSerial);
  const claimed = await reserveIssuance(deps.db, { issuanceId: req.issuanceId, kioskId: req.kioskId, certType, copies: req.copies, fee, cardSerialHmac: hmac });
  if (!claimed) throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { ...ids, reason: 'duplicate' });
  let pdf: Buffer;
  const started = performance.now();
  try {
    let mark;
    ({ pdf, mark } = await deps.koseki!.issue({
      issuanceId: req.issuanceId,
      kioskId: req.kioskId,
      certType: certType as 'koseki-full' | 'koseki-individual' | 'koseki-fuhyo',
      copies: req.copies,
      residentId: holder.id,
      cardSerialHmac: hmac,
      // the 附票 is for the holder or the whole register; 'members' is not a koseki option
      ...(req.options.scope === 'self' || req.options.scope === 'household' ? { scope: req.options.scope } : {}),
    }));
    // the koseki server printed the marks; the replica answers verification for every type
    if (mark) await insertMark(deps.db, req.issuanceId, mark.verificationNumber, mark.contentSha256);
  } catch (err) {
    await releaseIssuance(deps.db, req.issuanceId);
    throw err instanceof KonbiniError ? err : new KonbiniError('INTERNAL', { ...ids, reason: 'koseki' }, { cause: err });
  }
  const sha256 = createHash('sha256').update(pdf).digest('hex');
  if (!(await recordDocument(deps.db, req.issuanceId, sha256))) throw closedWhileRendering(ids);
  deps.log.info({ ...ids, certType, copies: req.copies, fee, documentSha256: sha256, bytes: pdf.length, renderMs: Math.round(performance.now() - started) }, 'issued (koseki server)');
  return { issuanceId: req.issuanceId, pdf, sha256, fee };
}

/**
 * The centre closed the request (its "failed" came) while this server still rendered:
 * the document is dropped unsent, and the record stays failed as the centre has it.
 */
function closedWhileRendering(ids: { issuanceId: string; kioskId: string }): KonbiniError {
  return new KonbiniError('MESSAGE_OUT_OF_ORDER', { ...ids, reason: 'outcome-recorded' });
}

/**
 * 交付記録 of the outcome. Idempotent by issuance id: the first outcome stands.
 *
 * A record reserved whose document never left (no document hash: the worker was
 * killed, or still renders, after the reservation) takes the centre's "failed": the
 * centre recorded the issuance failed, not charged, and the 交付記録 must agree rather
 * than say "issued" for ever. Nothing can have been printed from a document that
 * never left, so such a record never takes "printed"; and a record already printed
 * is never turned into anything else.
 */
export async function outcome(deps: IssuanceDeps, req: CityOutcomeRequest): Promise<CityOutcomeResponse> {
  const result = await deps.db.transaction(async (tx) => {
    const rows = await tx.query<{ status: string; copies: number; sent: boolean }>(
      `SELECT status, copies, document_sha256 IS NOT NULL AS sent FROM issuance_records
       WHERE issuance_id = $1 FOR UPDATE`,
      [req.issuanceId],
    );
    const r = rows[0];
    if (!r) return 'unknown' as const;
    if (!r.sent) {
      if (req.outcome !== 'failed') return 'not-sent' as const;
      if (r.status !== 'issued') return 'already-recorded' as const;
      await tx.query(
        `UPDATE issuance_records SET status = 'failed', copies_printed = 0, outcome_at = now() WHERE issuance_id = $1`,
        [req.issuanceId],
      );
      return 'closed-unsent' as const;
    }
    if (r.status !== 'issued') return 'already-recorded' as const;
    if (req.copiesPrinted > r.copies || (req.outcome === 'printed' && req.copiesPrinted < 1)) return 'invalid' as const;
    await tx.query(
      `UPDATE issuance_records SET status = $2, copies_printed = $3, outcome_at = now() WHERE issuance_id = $1`,
      [req.issuanceId, req.outcome, req.copiesPrinted],
    );
    return 'recorded' as const;
  });
  deps.log.info({ issuanceId: req.issuanceId, outcome: req.outcome, copiesPrinted: req.copiesPrinted, result }, 'outcome');
  switch (result) {
    case 'unknown':
      throw new KonbiniError('ISSUANCE_UNKNOWN', { issuanceId: req.issuanceId });
    case 'not-sent':
      throw new KonbiniError('MESSAGE_OUT_OF_ORDER', { issuanceId: req.issuanceId, reason: 'not-sent' });
    case 'invalid':
      throw new KonbiniError('MESSAGE_INVALID', { issuanceId: req.issuanceId, reason: 'copies-printed' });
    default:
      return { issuanceId: req.issuanceId, recorded: true };
  }
}
