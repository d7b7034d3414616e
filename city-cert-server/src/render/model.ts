/** What the renderers receive: already decided data, no database rows. */

export interface RenderCity {
  code: string;
  name: string;
  prefecture: string;
  mayorName: string;
}

export interface RenderForeignDetails {
  nationality: string;
  alphabetName: string;
  residenceStatus: string;
  periodOfStay: string;
  /** YYYY-MM-DD */
  periodExpiry: string;
  residenceCardNumber: string;
  /** Category of Article 30-45 (e.g. 中長期在留者). */
  category: string;
  /** YYYY-MM-DD: 外国人住民となった年月日 */
  becameResidentOn: string;
}

export interface RenderPerson {
  familyName: string;
  givenName: string;
  familyNameKana: string;
  givenNameKana: string;
  /** YYYY-MM-DD (a calendar date, never shifted by time zone) */
  birthDate: string;
  sex: 'male' | 'female';
  relationship: string;
  /** YYYY-MM-DD */
  residentSince: string;
  /** YYYY-MM-DD, or null: printed 「【空欄】」 */
  addressSince: string | null;
  /** YYYY-MM-DD */
  notifiedOn: string;
  previousAddress: string | null;
  honseki: string | null;
  kosekiHead: string | null;
  foreign: null | RenderForeignDetails;
}

export interface ResidentRecordModel {
  city: RenderCity;
  issuanceId: string;
  issuedAt: Date;
  /**
   * @deprecated Ignored: all copies are rendered into one PDF and each page names its
   * own copy. Optional only so existing callers still type-check.
   */
  copyNumber?: number;
  /** Copies in the one PDF (1-10), each complete, one after another. */
  copies: number;
  address: string;
  headName: string;
  /** Already in household order (head → spouse → children ...), removed persons excluded. */
  persons: RenderPerson[];
  options: {
    includeRelationship: boolean;
    includeHonseki: boolean;
    includeForeignDetails: boolean;
    /** 世帯連記式 (default: up to 4 persons per page) or 個人票 (one page per person). */
    layout?: 'household' | 'individual';
  };
}
