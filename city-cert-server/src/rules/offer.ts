import {
  CERT_TYPES,
  KonbiniError,
  MAX_COPIES,
  MIN_COPIES,
  isCertType,
  type CertOptions,
  type CertType,
  type CityIssueRequest,
  type CityMenuResponse,
  type HouseholdMember,
  type MenuItem,
  type MenuRefusal,
} from '@konbini/protocol';
import type { Resident } from '../replica/dataset.js';
import type { CityRecord } from '../replica/queries.js';
import { RENDERED_CERT_TYPES, allowedOptions, type TypeRefusal } from './cert-rules.js';
import type { RuleRefusal } from './resident-rules.js';

/**
 * What this city server renders; the koseki types are listed as refusals
 * (CERT_TYPE_NOT_OFFERED) so the kiosk can say why they are missing.
 */
export const RENDERED_TYPES: readonly CertType[] = RENDERED_CERT_TYPES;

/** What the menu knows of one type for this holder (from the type rules). */
export interface TypeOffer {
  refusal: TypeRefusal | null;
  options: (keyof CertOptions)[];
  fiscalYears?: number[];
  /** 住民票 types, household of more than one: who may be chosen (references, 続柄, birth year; no names). */
  members?: HouseholdMember[];
}

/** Options the holder may set for resident-record, by nationality. */
export function residentRecordOptions(holder: Resident): (keyof CertOptions)[] {
  return holder.foreign
    ? ['scope', 'includeRelationship', 'includeForeignDetails']
    : ['scope', 'includeRelationship', 'includeHonseki'];
}

/** Offered: a type this server renders, or forwards (koseki, when a koseki server is configured), with a fee. */
function offered(certType: CertType, fees: Map<string, number>, served: readonly CertType[] = RENDERED_TYPES): boolean {
  return served.includes(certType) && fees.has(certType);
}

export function buildMenu(
  city: CityRecord,
  fees: Map<string, number>,
  holder: Resident | null,
  refusal: RuleRefusal | null,
  offerOf: (certType: CertType, holder: Resident) => TypeOffer = (certType, h) => ({ refusal: null, options: allowedOptions(certType, h, false) }),
  served: readonly CertType[] = RENDERED_TYPES,
): CityMenuResponse {
  const items: MenuItem[] = [];
  const refusals: MenuRefusal[] = [];
  for (const certType of CERT_TYPES) {
    if (!offered(certType, fees, served)) refusals.push({ certType, code: 'CERT_TYPE_NOT_OFFERED' });
    else if (refusal || !holder) refusals.push({ certType, code: refusal?.code ?? 'RESIDENT_NOT_FOUND' });
    else {
      const offer = offerOf(certType, holder);
      if (offer.refusal) refusals.push({ certType, code: offer.refusal.code });
      else {
        items.push({
          certType,
          fee: fees.get(certType)!,
          options: offer.options,
          ...(offer.fiscalYears ? { fiscalYears: offer.fiscalYears } : {}),
          ...(offer.members ? { members: offer.members } : {}),
        });
      }
    }
  }
  return { city: { code: city.code, name: city.name, prefecture: city.prefecture }, items, refusals };
}

/** Checks on the request itself, before anything is looked up. */
export function checkIssueShape(req: CityIssueRequest, fees: Map<string, number>, served: readonly CertType[] = RENDERED_TYPES): { certType: CertType; feePerCopy: number } {
  if (!isCertType(req.certType)) throw new KonbiniError('CERT_TYPE_UNKNOWN', { issuanceId: req.issuanceId });
  if (!offered(req.certType, fees, served)) {
    throw new KonbiniError('CERT_TYPE_NOT_OFFERED', { issuanceId: req.issuanceId, certType: req.certType });
  }
  if (!Number.isInteger(req.copies) || req.copies < MIN_COPIES || req.copies > MAX_COPIES) {
    throw new KonbiniError('COPIES_OUT_OF_RANGE', { issuanceId: req.issuanceId, copies: req.copies });
  }
  return { certType: req.certType, feePerCopy: fees.get(req.certType)! };
}

/** Every option key sent must be one the menu offered this holder (never trust the menu was used). */
export function checkOptions(req: CityIssueRequest, holder: Resident): void {
  const allowed = new Set<string>(residentRecordOptions(holder));
  for (const key of Object.keys(req.options)) {
    if (!allowed.has(key)) throw new KonbiniError('OPTION_NOT_ALLOWED', { issuanceId: req.issuanceId, option: key });
  }
}
