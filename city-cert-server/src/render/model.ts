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
  /** 個人番号: present only when asked for and the city allows it. */
  myNumber?: string | null;
}

export interface ResidentRecordModel {
  /** 住民票の写し (default) or 住民票記載事項証明書: same data, other title, attestation and fields. */
  certType?: 'resident-record' | 'resident-entries';
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
  /** Anti-forgery marks (see DocumentHead). */
  antiForgery?: import('./verification-page.js').VerificationMark;
  address: string;
  headName: string;
  /** Already in household order (head → spouse → children ...), removed persons excluded. */
  persons: RenderPerson[];
  options: {
    includeRelationship: boolean;
    includeHonseki: boolean;
    includeForeignDetails: boolean;
    /** 個人番号 (only where the city allows it; the model then carries it per person). */
    includeMyNumber?: boolean;
    /** 世帯連記式 (default: up to 4 persons per page) or 個人票 (one page per person). */
    layout?: 'household' | 'individual';
  };
}

/** What every certificate document carries besides its body. */
export interface DocumentHead {
  city: RenderCity;
  issuanceId: string;
  issuedAt: Date;
  /** Copies in the one PDF (1-10), each complete, one after another. */
  copies: number;
  /**
   * Anti-forgery (issue 6 item 5): the 地紋 with けん制文字 on every page and a back page
   * per copy with the 2D code and 確認番号. Absent: plain pages (layout tests).
   */
  antiForgery?: import('./verification-page.js').VerificationMark;
}

/** 印鑑登録証明書 */
export interface SealModel extends DocumentHead {
  certType: 'seal';
  familyName: string;
  givenName: string;
  familyNameKana: string;
  givenNameKana: string;
  /** For foreign residents: the alphabet name (and 通称 if any) are printed too. */
  alphabetName: string | null;
  /** YYYY-MM-DD */
  birthDate: string;
  sex: 'male' | 'female';
  /** Printed in the Western calendar for foreign residents. */
  foreign: boolean;
  address: string;
  sealNumber: string;
  /** The registered 印影 (PNG). */
  sealImagePng: Buffer;
  remarks: string;
}

/** 所得・課税証明書 (or 非課税証明書) for one 年度. */
export interface TaxIncomeModel extends DocumentHead {
  certType: 'tax-income';
  familyName: string;
  givenName: string;
  familyNameKana: string;
  givenNameKana: string;
  alphabetName: string | null;
  birthDate: string;
  foreign: boolean;
  record: import('@konbini/protocol').TaxRecord;
}

/** One person of a 戸籍 as printed (戸籍に記録されている者). */
export interface KosekiRenderPerson {
  familyName: string;
  givenName: string;
  givenNameKana: string;
  /** YYYY-MM-DD */
  birthDate: string;
  sex: 'male' | 'female';
  father: string;
  mother: string;
  relationship: string;
  /** 配偶者区分 (夫 / 妻) for a married couple's members, else null. */
  spouseMark: string | null;
  events: { kind: string; date: string; details: { label: string; value: string }[] }[];
  /** 除籍: printed with its mark. */
  removed: null | { reason: string; on: string };
}

/** 戸籍全部事項証明書 / 戸籍個人事項証明書. */
export interface KosekiModel extends DocumentHead {
  certType: 'koseki-full' | 'koseki-individual';
  honseki: string;
  head: string;
  kosekiEvents: { kind: string; date: string }[];
  /** All persons of the register (full) or the one asked for (individual), in register order. */
  persons: KosekiRenderPerson[];
}

/** 戸籍の附票の写し: per person the address history. */
export interface FuhyoModel extends DocumentHead {
  certType: 'koseki-fuhyo';
  honseki: string;
  head: string;
  /** 全部 (every person of the register with a 附票) or 一部. */
  partial: boolean;
  persons: {
    familyName: string;
    givenName: string;
    birthDate: string;
    sex: 'male' | 'female';
    addresses: { address: string; since: string }[];
    removed: null | { reason: string; on: string };
  }[];
}

export type CertificateModel = ResidentRecordModel | SealModel | TaxIncomeModel | KosekiModel | FuhyoModel;
