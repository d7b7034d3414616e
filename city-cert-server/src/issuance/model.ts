import { KonbiniError, type CertOptions } from '@konbini/protocol';
import type { Resident } from '../replica/dataset.js';
import type { CityRecord, HouseholdView } from '../replica/queries.js';
import type { TaxRecord } from '@konbini/protocol';
import type { SealRegistration } from '../replica/seal.js';
import type { RenderPerson, ResidentRecordModel, SealModel, TaxIncomeModel } from '../render/model.js';

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

/** Whom whole-household printing prints: the active members, in household order. */
export function activeHousehold(view: HouseholdView): Resident[] {
  return householdOrder(
    view.members.filter((m) => m.status === 'active'),
    view.household.headId,
  );
}

/**
 * Persons the certificate prints for this request: the holder, the active
 * household, or (scope 'members') exactly the chosen members, by resident id, in
 * household order. The chosen ids were checked against this household before
 * (rules/cert-rules.ts membersChosen); one that is not in it here is never printed,
 * and a choice that leaves nobody is an error, never an empty certificate.
 */
export function printedPersons(holder: Resident, view: HouseholdView, scope: CertOptions['scope'], chosen?: ReadonlySet<string>): Resident[] {
  if (scope === 'household') return activeHousehold(view);
  if (scope === 'members') {
    const persons = activeHousehold(view).filter((m) => chosen?.has(m.id));
    if (persons.length === 0 || persons.length !== chosen!.size) throw new KonbiniError('HOUSEHOLD_MEMBER_GONE', { rule: 'printed-persons' });
    return persons;
  }
  return [holder];
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
    texts.push(r.foreign.nationality, r.foreign.alphabetName, r.foreign.residenceStatus, r.foreign.periodOfStay, r.foreign.residenceCardNumber, r.foreign.category);
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
  /** 住民票の写し (default) or 記載事項証明書. */
  certType?: 'resident-record' | 'resident-entries';
  /** 個人番号 by resident id, present only where the city allows it and it was asked for. */
  myNumbers?: Map<string, string>;
  /** With scope 'members': the resident ids of the chosen members. */
  members?: ReadonlySet<string>;
}

export function residentRecordModel(input: ModelInput, copyNumber = 1): ResidentRecordModel {
  const { city, view, options } = input;
  const head = view.members.find((m) => m.id === view.household.headId);
  const includeMyNumber = options.includeMyNumber === true && input.myNumbers !== undefined;
  return {
    certType: input.certType ?? 'resident-record',
    city: { code: city.code, name: city.name, prefecture: city.prefecture, mayorName: city.mayorName },
    issuanceId: input.issuanceId,
    issuedAt: input.issuedAt,
    copyNumber,
    copies: input.copies,
    address: view.household.address,
    headName: head ? `${head.familyName}　${head.givenName}` : '',
    persons: printedPersons(input.holder, view, options.scope, input.members).map((r) => ({
      ...toRenderPerson(r),
      ...(includeMyNumber ? { myNumber: input.myNumbers!.get(r.id) ?? null } : {}),
    })),
    options: {
      includeRelationship: options.includeRelationship === true,
      includeHonseki: options.includeHonseki === true,
      includeForeignDetails: options.includeForeignDetails === true,
      includeMyNumber,
    },
  };
}

interface HeadInput {
  city: CityRecord;
  issuanceId: string;
  issuedAt: Date;
  copies: number;
}

/** A foreign resident whose only name is the alphabet one: printed once, not twice. */
function alphabetOnly(r: Resident): boolean {
  return r.foreign !== null && `${r.familyName} ${r.givenName}`.trim() === r.foreign.alphabetName;
}

const cityOfModel = (city: CityRecord) => ({ code: city.code, name: city.name, prefecture: city.prefecture, mayorName: city.mayorName });

/** What every certificate of one issuance carries: city, issuance id, date, copies. */
const headOf = (input: HeadInput) => ({ city: cityOfModel(input.city), issuanceId: input.issuanceId, issuedAt: input.issuedAt, copies: input.copies });

/** The holder as printed on a one-person certificate (a name in alphabet only prints as such). */
const holderNameOf = (r: Resident) => ({
  familyName: alphabetOnly(r) ? '' : r.familyName,
  givenName: alphabetOnly(r) ? '' : r.givenName,
  familyNameKana: r.familyNameKana,
  givenNameKana: r.givenNameKana,
  alphabetName: r.foreign?.alphabetName ?? null,
  birthDate: r.birthDate,
});

/** 印鑑登録証明書 of the holder: the registrant's own name, birth date, sex, current address and 印影. */
export function sealModel(input: HeadInput & { holder: Resident; address: string; seal: SealRegistration }): SealModel {
  const { holder: r, seal } = input;
  return {
    certType: 'seal',
    ...headOf(input),
    ...holderNameOf(r),
    sex: r.sex,
    foreign: r.foreign !== null,
    address: input.address,
    sealNumber: seal.sealNumber,
    sealImagePng: seal.imagePng!,
    remarks: '',
  };
}

/** 所得・課税証明書 of the taxpayer for one 年度. */
export function taxIncomeModel(input: HeadInput & { holder: Resident; record: TaxRecord }): TaxIncomeModel {
  const r = input.holder;
  return {
    certType: 'tax-income',
    ...headOf(input),
    ...holderNameOf(r),
    foreign: r.foreign !== null,
    record: input.record,
  };
}
