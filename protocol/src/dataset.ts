/**
 * The shape of a city's resident data as the fixtures generator writes it and the
 * city replica loads it (initial full load), plus the centre's directories.
 * Field names follow GLOSSARY.md; Japanese terms are noted where they are the
 * precise term printed on a 住民票.
 */

export type Sex = 'male' | 'female';
export type ResidentStatus = 'active' | 'moved-out' | 'deceased';
/** 転出予定 (moving-out), DV等支援措置 (support-measure): both block kiosk issuance. */
export type ResidentFlag = 'moving-out' | 'support-measure';

export interface ForeignResidentInfo {
  /** 国籍・地域 */
  nationality: string;
  /** Name in the Latin alphabet as on the 在留カード (upper case). */
  alphabetName: string;
  /** 在留資格 */
  residenceStatus: string;
  /** 在留期間, e.g. 「3年」 */
  periodOfStay: string;
  /** 在留期間の満了の日, YYYY-MM-DD (printed in the Western calendar). */
  periodExpiry: string;
  /** 在留カードの番号: 2 letters, 8 digits, 2 letters. */
  residenceCardNumber: string;
  /** The item of Article 30-45 of the Residential Basic Book Act. */
  category: '中長期在留者' | '特別永住者';
  /** 外国人住民となった年月日, YYYY-MM-DD */
  becameResidentOn: string;
}

export interface Resident {
  /** 'R000001', unique within the city. */
  id: string;
  householdId: string;
  familyName: string;
  givenName: string;
  /** Katakana. */
  familyNameKana: string;
  givenNameKana: string;
  /** YYYY-MM-DD */
  birthDate: string;
  sex: Sex;
  /** 続柄 as printed on the 住民票: 世帯主, 妻, 夫, 子, 母, 父, 子の妻, 孫, 妻の母, 同居人 ... */
  relationship: string;
  /** 住民となった年月日, YYYY-MM-DD */
  residentSince: string;
  /** 住所を定めた年月日; null when the person never moved within the city (printed 【空欄】). */
  addressSince: string | null;
  /** 届出の年月日 of the latest entry, YYYY-MM-DD */
  notifiedOn: string;
  /** 転入前住所; null for persons born in the city. */
  previousAddress: string | null;
  /** 本籍 (Japanese nationals only). */
  honseki: string | null;
  /** 筆頭者 (Japanese nationals only). */
  kosekiHead: string | null;
  foreign: ForeignResidentInfo | null;
  status: ResidentStatus;
  flags: ResidentFlag[];
  /** 個人番号, 12 digits with a valid check digit (printed only on request, where allowed). */
  myNumber?: string;
  /** YYYY-MM-DD of death or moving out, for removed persons. */
  removedOn?: string;
}

export interface Household {
  /** 'H00001', unique within the city. */
  id: string;
  /** Full address: 「<prefecture><city><town>一丁目2番3号」 (+ building and room where any). */
  address: string;
  headId: string;
}

export interface CardLink {
  /**
   * The card's user-authentication (利用者証明用) certificate serial: lowercase hex of
   * the DER INTEGER content bytes, exactly as node-forge's cert.serialNumber gives it
   * (see cardSerialOf in card-profile.ts).
   */
  serial: string;
  residentId: string;
  /** First Asia/Tokyo date on which the card may be used at a kiosk (the day after issuance). */
  validFrom: string;
}

export interface ServiceHours {
  /** HH:MM, Asia/Tokyo */
  open: string;
  close: string;
  /** MM-DD days on which the service is closed (年末年始). */
  closedDays: string[];
}

export interface CityInfo {
  /** 地方公共団体コード, 6 digits with check digit. */
  code: string;
  /** City name, e.g. 「星見市」. */
  name: string;
  /** Prefecture name, e.g. 「東雲県」. */
  prefecture: string;
  /** 市長 name, for the attestation 「〇〇県〇〇市長　氏名」. */
  mayorName: string;
  /** Fee in yen per certificate type code (see cert-types.ts). */
  fees: Record<string, number>;
  /** Kiosk service hours; defaults to 06:30-23:00, closed 12/29-1/3. */
  serviceHours?: ServiceHours;
  /** Whether the city prints 個人番号 on a 住民票 at kiosks when asked (default: no). */
  allowMyNumber?: boolean;
}

/** 印鑑登録 (seal registration) as the city's core system holds it. */
export interface SealRegistrationRecord {
  residentId: string;
  /** 印鑑登録番号 */
  sealNumber: string;
  status: 'active' | 'abolished';
  /** YYYY-MM-DD */
  registeredOn: string;
  abolishedOn?: string | null;
  /** The registered 印影 as a PNG, base64. */
  imagePng?: string;
}

/** 所得の種類 printed in 所得の内訳. */
export type IncomeKind = 'salary' | 'pension' | 'business' | 'real-estate' | 'dividend' | 'miscellaneous';
/** 所得控除の種類 printed in 所得控除の内訳. */
export type DeductionKind =
  | 'social-insurance'
  | 'life-insurance'
  | 'earthquake-insurance'
  | 'medical'
  | 'spouse'
  | 'dependents'
  | 'disability'
  | 'basic';

/** One levy (市民税 or 県民税): 所得割 + 均等割 = 年税額, in yen. */
export interface LevyAmounts {
  incomeLevy: number;
  perCapitaLevy: number;
  total: number;
}

/**
 * 所得・課税証明書 data for one taxpayer and one 年度 (fiscal year N taxes the income of
 * calendar year N-1). Amounts in yen.
 */
export interface TaxRecord {
  residentId: string;
  /** 年度, Western year (2026 = 令和8年度). */
  fiscalYear: number;
  /** Address on the assessment date (January 1 of the fiscal year). */
  assessmentAddress: string;
  /** false: 非課税 (the certificate is titled 非課税証明書). */
  taxed: boolean;
  income: { kind: IncomeKind; revenue: number; income: number }[];
  /** 合計所得金額 */
  totalIncome: number;
  deductions: { kind: DeductionKind; amount: number }[];
  /** 所得控除合計 */
  totalDeductions: number;
  /** 扶養人数 */
  dependents: { general: number; specific: number; elderly: number; elderlyParentsLivingTogether: number; under16: number };
  /** 課税標準額 (rounded down to 1,000 yen) */
  taxableIncome: number;
  /** 市民税 (市町村民税) */
  municipal: LevyAmounts;
  /** 県民税 (道府県民税) */
  prefectural: LevyAmounts;
  remarks?: string;
}

export interface CityDataset {
  version: 1;
  generatedWithSeed: number;
  city: CityInfo;
  households: Household[];
  residents: Resident[];
  cardLinks: CardLink[];
  /** 印鑑登録 (absent in datasets made before seals were generated). */
  seals?: SealRegistrationRecord[];
  /** 所得・課税 records by fiscal year (absent in older datasets). */
  taxRecords?: TaxRecord[];
  /** The date the ages and histories were generated against (YYYY-MM-DD). */
  referenceDate?: string;
}

export interface CentreDirectory {
  version: 1;
  cities: {
    code: string;
    name: string;
    prefecture: string;
    fees: Record<string, number>;
    /** SHA-256 (hex lowercase) of the city's LGWAN certificate DER: the centre pins it. */
    lgwanCertSha256?: string;
    serviceHours?: ServiceHours;
  }[];
  cards: { serial: string; cityCode: string; validFrom: string }[];
  kiosks: { kioskId: string; storeId: string; storeOperator: string; status: 'active' | 'revoked' }[];
}

export const DEFAULT_SERVICE_HOURS: ServiceHours = {
  open: '06:30',
  close: '23:00',
  closedDays: ['12-29', '12-30', '12-31', '01-01', '01-02', '01-03'],
};

/** 地方公共団体コード check digit (FORMS.md): r = (6a+5b+4c+3d+2e) mod 11; last digit of 11 - r. */
export function cityCodeCheckDigit(first5: string): number {
  if (!/^\d{5}$/.test(first5)) throw new RangeError('city code body must be 5 digits');
  const w = [6, 5, 4, 3, 2];
  let sum = 0;
  for (let i = 0; i < 5; i++) sum += w[i] * Number(first5[i]);
  return (11 - (sum % 11)) % 10;
}

export function isValidCityCode(code: string): boolean {
  return /^\d{6}$/.test(code) && cityCodeCheckDigit(code.slice(0, 5)) === Number(code[5]);
}

/** 個人番号 check digit: weights 6,5,4,3,2,7,6,5,4,3,2 from the left; r = sum mod 11; r <= 1 ? 0 : 11 - r. */
export function myNumberCheckDigit(first11: string): number {
  if (!/^\d{11}$/.test(first11)) throw new RangeError('個人番号 body must be 11 digits');
  const w = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  let sum = 0;
  for (let i = 0; i < 11; i++) sum += w[i] * Number(first11[i]);
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

export function isValidMyNumber(n: string): boolean {
  return /^\d{12}$/.test(n) && myNumberCheckDigit(n.slice(0, 11)) === Number(n[11]);
}
