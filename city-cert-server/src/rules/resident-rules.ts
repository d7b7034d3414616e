import type { ErrorCode } from '@konbini/protocol';
import type { CardLink, Resident } from '../replica/dataset.js';
import type { HouseholdView } from '../replica/queries.js';
import { ageOn } from './clock.js';

/**
 * Eligibility of a card holder for kiosk issuance, as small named rules run in a
 * fixed order; the first refusal wins, so the kiosk shows the most basic reason.
 * Each rule may rely on the ones before it having passed.
 */
export interface RuleContext {
  /** Today in Asia/Tokyo, YYYY-MM-DD. */
  today: string;
  link: CardLink | null;
  resident: Resident | null;
  household: HouseholdView | null;
  /** True when a kiosk can print the text exactly (see printable.ts). */
  printable: (text: string) => boolean;
}

export interface ResidentRule {
  name: string;
  check: (ctx: RuleContext) => ErrorCode | null;
}

export const MIN_AGE = 15;

export const cardLinked: ResidentRule = {
  name: 'card-linked',
  check: (ctx) => (ctx.link ? null : 'CARD_NOT_LINKED'),
};

/** A new card may be used from the day after it was issued. */
export const cardLinkValid: ResidentRule = {
  name: 'card-link-valid',
  check: (ctx) => (ctx.link && ctx.link.validFrom <= ctx.today ? null : 'CARD_LINK_NOT_YET_VALID'),
};

export const residentFound: ResidentRule = {
  name: 'resident-found',
  check: (ctx) => (ctx.resident && ctx.household ? null : 'RESIDENT_NOT_FOUND'),
};

export const residentStatus: ResidentRule = {
  name: 'resident-status',
  check: (ctx) => {
    switch (ctx.resident?.status) {
      case 'active':
        return null;
      case 'moved-out':
        return 'RESIDENT_MOVED_OUT';
      case 'deceased':
        return 'RESIDENT_DECEASED';
      default:
        return 'RESIDENT_NOT_FOUND';
    }
  },
};

/**
 * DV等支援措置 on the holder; 転出予定 on the holder or anyone still in the household
 * (members already removed no longer make the household a moving one).
 */
export const residentFlags: ResidentRule = {
  name: 'resident-flags',
  check: (ctx) => {
    if (ctx.resident!.flags.includes('support-measure')) return 'SUPPORT_MEASURE';
    if (ctx.resident!.flags.includes('moving-out')) return 'RESIDENT_MOVING_OUT';
    const moving = ctx.household!.members.some((m) => m.status === 'active' && m.flags.includes('moving-out'));
    return moving ? 'RESIDENT_MOVING_OUT' : null;
  },
};

export const minimumAge: ResidentRule = {
  name: 'minimum-age',
  check: (ctx) => (ageOn(ctx.resident!.birthDate, ctx.today) >= MIN_AGE ? null : 'UNDER_15'),
};

/** The record of a move-in is not final on the day it is filed. */
export const notMovedInToday: ResidentRule = {
  name: 'not-moved-in-today',
  check: (ctx) => (ctx.resident!.residentSince === ctx.today ? 'MOVED_IN_TODAY' : null),
};

/** The holder's own name and the household address; issue time checks every printed person too. */
export const printableCharacters: ResidentRule = {
  name: 'printable-characters',
  check: (ctx) => {
    const r = ctx.resident!;
    const texts = [r.familyName, r.givenName, r.familyNameKana, r.givenNameKana, ctx.household!.household.address];
    return texts.every((t) => ctx.printable(t)) ? null : 'UNPRINTABLE_CHARACTERS';
  },
};

export const RESIDENT_RULES: readonly ResidentRule[] = [
  cardLinked,
  cardLinkValid,
  residentFound,
  residentStatus,
  residentFlags,
  minimumAge,
  notMovedInToday,
  printableCharacters,
];

export interface RuleRefusal {
  rule: string;
  code: ErrorCode;
}

export function runResidentRules(ctx: RuleContext, rules: readonly ResidentRule[] = RESIDENT_RULES): RuleRefusal | null {
  for (const rule of rules) {
    const code = rule.check(ctx);
    if (code) return { rule: rule.name, code };
  }
  return null;
}
