/**
 * The certificate-type catalogue (GLOSSARY.md): one code per type, used in
 * schemas, menus, ledgers and on screen.
 */
export const CERT_TYPES = [
  'resident-record',
  'resident-entries',
  'seal',
  'tax-income',
  'koseki-full',
  'koseki-individual',
  'koseki-fuhyo',
] as const;

export type CertType = (typeof CERT_TYPES)[number];

export function isCertType(value: unknown): value is CertType {
  return typeof value === 'string' && (CERT_TYPES as readonly string[]).includes(value);
}

export const CERT_TYPE_NAMES: Record<CertType, { ja: string; en: string }> = {
  'resident-record': { ja: '住民票の写し', en: 'Copy of resident record' },
  'resident-entries': { ja: '住民票記載事項証明書', en: 'Certificate of resident record entries' },
  seal: { ja: '印鑑登録証明書', en: 'Seal registration certificate' },
  'tax-income': { ja: '所得・課税証明書', en: 'Income and tax certificate' },
  'koseki-full': { ja: '戸籍全部事項証明書', en: 'Family register (all entries)' },
  'koseki-individual': { ja: '戸籍個人事項証明書', en: 'Family register (one person)' },
  'koseki-fuhyo': { ja: '戸籍の附票の写し', en: 'Family register address history' },
};

/** Options a resident may choose; which ones apply depends on the type and the city. */
export interface CertOptions {
  /**
   * Only the card holder, the whole household, or the household members named in
   * `members` (resident-record, resident-entries).
   */
  scope?: 'self' | 'household' | 'members';
  /**
   * With scope 'members': the chosen members by the opaque references the city put in
   * the menu (MenuItem.members). Never names: nothing that names a person passes the
   * centre outside the document itself.
   */
  members?: string[];
  /** 世帯主・続柄 */
  includeRelationship?: boolean;
  /** 本籍・筆頭者 (Japanese nationals) */
  includeHonseki?: boolean;
  /** 国籍・地域, 在留資格等, 在留カード番号 (foreign residents) */
  includeForeignDetails?: boolean;
  /** 個人番号, only where the city allows it */
  includeMyNumber?: boolean;
  /** 所得・課税証明書: 年度 */
  fiscalYear?: number;
}

export const CERT_OPTION_KEYS = [
  'scope',
  'members',
  'includeRelationship',
  'includeHonseki',
  'includeForeignDetails',
  'includeMyNumber',
  'fiscalYear',
] as const satisfies readonly (keyof CertOptions)[];

export type CertOptionKey = (typeof CERT_OPTION_KEYS)[number];

/** Most household members a menu lists or a request names. */
export const MAX_HOUSEHOLD_MEMBERS = 20;

export const MIN_COPIES = 1;
export const MAX_COPIES = 10;
