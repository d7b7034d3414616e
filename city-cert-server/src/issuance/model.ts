import type { CertOptions } from '@konbini/protocol';
import type { Resident } from '../replica/dataset.js';
import type { CityRecord, HouseholdView } from '../replica/queries.js';
import type { RenderPerson, ResidentRecordModel } from '../render/model.js';

/*
 * From replica rows to what the renderer prints: who is on the certificate and in
 * which order. Removed persons (died, moved out) are never printed.
 */

const SPOUSE = new Set(['妻', '夫']);
const CHILD = /^(子|長男|長女|[二三四五六七八九]男|[二三四五六七八九]女)$/;
const PARENT = new Set(['父', '母']);

/** head → spouse → children → parents → everyone else. */
function rank(person: Resident, headId: string): number {
  if (person.id === headId || person.relationship === '世帯主') return 0;
  if (SPOUSE.has(person.relationship)) return 1;
  if (CHILD.test(person.relationship)) return 2;
  if (PARENT.has(person.relationship)) return 3;
  return 4;
}

/** Household order as printed; within a group by birth date, then by resident id. */
export function householdOrder(members: readonly Resident[], headId: string): Resident[] {
  return [...members].sort(
    (a, b) =>
      rank(a, headId) - rank(b, headId) ||
      (a.birthDate < b.birthDate ? -1 : a.birthDate > b.birthDate ? 1 : 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Persons the certificate prints for this request: the holder, or the active household. */
export function printedPersons(holder: Resident, view: HouseholdView, scope: CertOptions['scope']): Resident[] {
  if (scope !== 'household') return [holder];
  return householdOrder(
    view.members.filter((m) => m.status === 'active'),
    view.household.headId,
  );
}

export function toRenderPerson(r: Resident): RenderPerson {
  return {
    familyName: r.familyName,
    givenName: r.givenName,
    familyNameKana: r.familyNameKana,
    givenNameKana: r.givenNameKana,
    birthDate: r.birthDate,
    sex: r.sex,
    relationship: r.relationship,
    residentSince: r.residentSince,
    addressSince: r.addressSince,
    notifiedOn: r.notifiedOn,
    previousAddress: r.previousAddress,
    honseki: r.honseki,
    kosekiHead: r.kosekiHead,
    foreign: r.foreign ? { ...r.foreign } : null,
  };
}

/** Text of a person that reaches paper under these options (for the printable-characters check). */
export function printedTexts(r: Resident, options: CertOptions): string[] {
  const texts = [r.familyName, r.givenName, r.familyNameKana, r.givenNameKana];
  if (r.previousAddress) texts.push(r.previousAddress);
  if (options.includeHonseki) {
    if (r.honseki) texts.push(r.honseki);
    if (r.kosekiHead) texts.push(r.kosekiHead);
  }
  if (options.includeForeignDetails && r.foreign) {
    texts.push(r.foreign.nationality, r.foreign.alphabetName, r.foreign.residenceStatus, r.foreign.periodOfStay);
  }
  return texts;
}

export interface ModelInput {
  city: CityRecord;
  issuanceId: string;
  issuedAt: Date;
  copies: number;
  holder: Resident;
  view: HouseholdView;
  options: CertOptions;
}

export function residentRecordModel(input: ModelInput, copyNumber = 1): ResidentRecordModel {
  const { city, view, options } = input;
  const head = view.members.find((m) => m.id === view.household.headId);
  return {
    city: { code: city.code, name: city.name, prefecture: city.prefecture, mayorName: city.mayorName },
    issuanceId: input.issuanceId,
    issuedAt: input.issuedAt,
    copyNumber,
    copies: input.copies,
    address: view.household.address,
    headName: head ? `${head.familyName}　${head.givenName}` : '',
    persons: printedPersons(input.holder, view, options.scope).map(toRenderPerson),
    options: {
      includeRelationship: options.includeRelationship === true,
      includeHonseki: options.includeHonseki === true,
      includeForeignDetails: options.includeForeignDetails === true,
    },
  };
}
