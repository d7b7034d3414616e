import type { HouseholdMember } from '@konbini/protocol';
import type { Resident } from '../replica/dataset.js';
import type { HouseholdView } from '../replica/queries.js';
import { activeHousehold } from './model.js';

/*
 * Household members a resident may choose for a 住民票 / 記載事項証明書 (scope
 * 'members'). The menu names them only by an opaque reference, 続柄 and year of birth:
 * the centre relays the menu and the request, and no name may pass it.
 *
 * The reference is 'm' + the first 16 hex digits of HMAC-SHA-256 of the resident id
 * under the replica's MAC key (FieldCipher.mac, derived by HKDF from the city's data
 * key, which lives in memory only): stable for a person across menu and request (a
 * list position would shift when the household changes in between), the same on
 * every worker sharing the replica, and not reversible to a resident id by anyone
 * without the city's key.
 */

const REF_PURPOSE = 'household-member-ref v1';

/** Keyed digest as FieldCipher.mac gives it (hex). */
export type MacFn = (purpose: string, value: string) => string;

export function memberRef(mac: MacFn, residentId: string): string {
  return `m${mac(REF_PURPOSE, residentId).slice(0, 16)}`;
}

/** One person who could be printed, with the reference the menu shows for them. */
export interface ChoosableMember {
  ref: string;
  resident: Resident;
}

/**
 * The persons whole-household printing would print (active members, household
 * order), each with its reference: choosing members picks from exactly these, so
 * every rule that holds for the whole household holds for a choice from it.
 */
export function choosableMembers(view: HouseholdView, mac: MacFn): ChoosableMember[] {
  return activeHousehold(view).map((resident) => ({ ref: memberRef(mac, resident.id), resident }));
}

/** What the menu says of each member: reference, 続柄, year of birth, whether it is the card holder. */
export function menuMembers(members: readonly ChoosableMember[], holderId: string): HouseholdMember[] {
  return members.map(({ ref, resident }) => ({
    ref,
    relation: resident.relationship,
    birthYear: Number(resident.birthDate.slice(0, 4)),
    self: resident.id === holderId,
  }));
}
