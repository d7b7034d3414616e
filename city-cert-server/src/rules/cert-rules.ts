import {
  CERT_OPTION_KEYS,
  MAX_COPIES,
  MIN_COPIES,
  isCertType,
  type CertOptions,
  type CertType,
  type ErrorCode,
} from '@konbini/protocol';
import type { Resident } from '../replica/dataset.js';
import type { SealRegistration } from '../replica/seal.js';
import { ageOn } from './clock.js';

/**
 * Eligibility per certificate type, after the resident rules (resident-rules.ts) have
 * passed for the holder: small named rules, each answering with a stable code or null.
 * Run in a fixed order; the first refusal wins.
 */

/** Types this city server renders (the koseki types come from the koseki server, not here). */
export const RENDERED_CERT_TYPES: readonly CertType[] = ['resident-record', 'resident-entries', 'seal', 'tax-income'];

export interface TypeContext {
  certType: CertType;
  /** Today in Asia/Tokyo, YYYY-MM-DD. */
  today: string;
  holder: Resident;
  /** The holder's seal registration (read in the same snapshot), if any. */
  seal: SealRegistration | null;
  /** Fiscal years the city keeps for the holder, newest first. */
  taxYears: readonly number[];
  /** City setting: 個人番号 may be printed on request. */
  allowMyNumber: boolean;
  /**
   * The holder's household as whole-household printing would print it (active
   * members, household order), each with the opaque reference the menu shows.
   * Absent = the holder alone.
   */
  members?: readonly { ref: string; resident: Resident }[];
}

export interface TypeRule {
  name: string;
  /** Types the rule applies to. */
  types: readonly CertType[];
  check: (ctx: TypeContext) => ErrorCode | null;
}

export const SEAL_MIN_AGE = 15;

export const sealRegistered: TypeRule = {
  name: 'seal-registered',
  types: ['seal'],
  check: (ctx) => (ctx.seal ? null : 'SEAL_NOT_REGISTERED'),
};

/** 印鑑登録廃止: an abolished registration is never certified. */
export const sealActive: TypeRule = {
  name: 'seal-active',
  types: ['seal'],
  check: (ctx) => (ctx.seal?.status === 'active' ? null : 'SEAL_ABOLISHED'),
};

/**
 * Only the registrant, 15 or older, and with a registered 印影 to print; anything
 * else is a matter for the counter.
 */
export const sealRegistrantEligible: TypeRule = {
  name: 'seal-registrant-eligible',
  types: ['seal'],
  check: (ctx) => {
    const s = ctx.seal!;
    if (s.residentId !== ctx.holder.id) return 'SEAL_REGISTRANT_INELIGIBLE';
    if (ageOn(ctx.holder.birthDate, ctx.today) < SEAL_MIN_AGE) return 'SEAL_REGISTRANT_INELIGIBLE';
    if (!s.imagePng || s.imagePng.length === 0) return 'SEAL_REGISTRANT_INELIGIBLE';
    return null;
  },
};

/** The taxpayer has a record in a year the city keeps. */
export const taxRecordKept: TypeRule = {
  name: 'tax-record-kept',
  types: ['tax-income'],
  check: (ctx) => (ctx.taxYears.length > 0 ? null : 'TAX_RECORD_MISSING'),
};

export const TYPE_RULES: readonly TypeRule[] = [sealRegistered, sealActive, sealRegistrantEligible, taxRecordKept];

export interface TypeRefusal {
  rule: string;
  code: ErrorCode;
}

export function runTypeRules(ctx: TypeContext, rules: readonly TypeRule[] = TYPE_RULES): TypeRefusal | null {
  for (const rule of rules) {
    if (!rule.types.includes(ctx.certType)) continue;
    const code = rule.check(ctx);
    if (code) return { rule: rule.name, code };
  }
  return null;
}

/** The two types printed from the resident record, for the whole household or chosen members. */
export const RESIDENT_RECORD_TYPES: readonly CertType[] = ['resident-record', 'resident-entries'];

/**
 * Option keys this holder may set for this type (what the menu offers). Choosing
 * members ('members', with scope 'members') is offered when the household has more
 * than one person to choose from (`householdSize`: active members).
 */
export function allowedOptions(certType: CertType, holder: Resident, allowMyNumber: boolean, householdSize = 1): (keyof CertOptions)[] {
  switch (certType) {
    case 'resident-record':
    case 'resident-entries': {
      const keys: (keyof CertOptions)[] = holder.foreign
        ? ['scope', 'includeRelationship', 'includeForeignDetails']
        : ['scope', 'includeRelationship', 'includeHonseki'];
      if (householdSize > 1) keys.splice(1, 0, 'members');
      if (allowMyNumber) keys.push('includeMyNumber');
      return keys;
    }
    case 'tax-income':
      return ['fiscalYear'];
    case 'koseki-fuhyo':
      // 附票: the holder (一部) or every person of the register (全部)
      return ['scope'];
    default:
      return [];
  }
}

/* ---- checks on a request (the menu is never trusted) ---- */

export interface RequestCheck {
  name: string;
  check: (req: { certType: unknown; copies: unknown; options: CertOptions }, ctx: TypeContext | null) => ErrorCode | null;
}

export const certTypeKnown: RequestCheck = {
  name: 'cert-type-known',
  check: (req) => (isCertType(req.certType) ? null : 'CERT_TYPE_UNKNOWN'),
};

export const copiesInRange: RequestCheck = {
  name: 'copies-in-range',
  check: (req) => (Number.isInteger(req.copies) && (req.copies as number) >= MIN_COPIES && (req.copies as number) <= MAX_COPIES ? null : 'COPIES_OUT_OF_RANGE'),
};

/**
 * Every option sent must be one this holder may set for this type; an option set to
 * false or to its default is still an option the type must know. 本籍 for a foreign
 * resident, 在留資格 for a Japanese national, 個人番号 where the city does not allow
 * it, a fiscal year for a 住民票: all refused.
 */
export const optionsAllowed: RequestCheck = {
  name: 'options-allowed',
  check: (req, ctx) => {
    if (!ctx) return null;
    const allowed = new Set<string>(allowedOptions(ctx.certType, ctx.holder, ctx.allowMyNumber));
    // a choice of members is judged by membersChosen: a member who left since the menu
    // (the household may be one person now) is a different answer from a bad option
    if (RESIDENT_RECORD_TYPES.includes(ctx.certType)) allowed.add('members');
    for (const key of Object.keys(req.options)) {
      if (!(CERT_OPTION_KEYS as readonly string[]).includes(key) || !allowed.has(key)) return 'OPTION_NOT_ALLOWED';
    }
    return null;
  },
};

/**
 * Chosen members (scope 'members'): only on the 住民票 types, the scope and the list
 * together, a non-empty list without repeats, and every reference one of the
 * holder's current household. A reference that names nobody in it now (the member
 * moved out, died or changed household after the menu, or a reference from another
 * household) is HOUSEHOLD_MEMBER_GONE, so the kiosk can say why and start again.
 */
export const membersChosen: RequestCheck = {
  name: 'members-chosen',
  check: (req, ctx) => {
    if (!ctx) return null;
    const { scope, members } = req.options;
    if (scope !== 'members' && members === undefined) return null;
    if (!RESIDENT_RECORD_TYPES.includes(ctx.certType)) return 'OPTION_NOT_ALLOWED';
    if (scope !== 'members' || !Array.isArray(members) || members.length === 0) return 'OPTION_NOT_ALLOWED';
    if (new Set(members).size !== members.length) return 'OPTION_NOT_ALLOWED';
    const current = new Set((ctx.members ?? []).map((m) => m.ref));
    return members.every((ref) => current.has(ref)) ? null : 'HOUSEHOLD_MEMBER_GONE';
  },
};

/**
 * DV等支援措置 on another member of the household: the holder's own flag refuses
 * everything (resident-rules), but a member under the measure must not be printed at
 * a kiosk either, so the whole household, or a choice that includes them, is
 * SUPPORT_MEASURE (the counter decides). The menu does not list such a member, so a
 * resident who chooses from it never meets this; it guards the whole-household
 * scope and a request that did not come from the menu.
 */
export const membersNotUnderSupportMeasure: RequestCheck = {
  name: 'members-not-under-support-measure',
  check: (req, ctx) => {
    if (!ctx || !RESIDENT_RECORD_TYPES.includes(ctx.certType)) return null;
    const { scope, members } = req.options;
    const printed = scope === 'household' ? (ctx.members ?? []) : scope === 'members' ? (ctx.members ?? []).filter((m) => members?.includes(m.ref)) : [];
    return printed.some((m) => m.resident.flags.includes('support-measure')) ? 'SUPPORT_MEASURE' : null;
  },
};

/** A requested 年度 must be one the city keeps for this taxpayer. */
export const fiscalYearKept: RequestCheck = {
  name: 'fiscal-year-kept',
  check: (req, ctx) => {
    if (!ctx || ctx.certType !== 'tax-income' || req.options.fiscalYear === undefined) return null;
    return ctx.taxYears.includes(req.options.fiscalYear) ? null : 'TAX_RECORD_MISSING';
  },
};

export const REQUEST_CHECKS: readonly RequestCheck[] = [certTypeKnown, copiesInRange, optionsAllowed, membersChosen, membersNotUnderSupportMeasure, fiscalYearKept];
