/**
 * The koseki server's dataset (`koseki-<city>.json`): 戸籍 (本籍, 筆頭者, 戸籍事項,
 * persons with their 身分事項 and 除籍 marks) and 戸籍の附票 (address history). The
 * fixtures write it and the city server's koseki role reads it: defined once, here.
 */
export const KOSEKI_DATASET_VERSION = 1;

/** One 身分事項 entry: its heading (出生, 婚姻, 死亡 ...) and the lines printed under it. */
export interface KosekiEvent {
  kind: '出生' | '婚姻' | '死亡' | '入籍' | '転籍';
  /** YYYY-MM-DD of the event. */
  date: string;
  /** Printed lines after the event date, in order: 【出生地】…, 【届出日】… */
  details: { label: string; value: string }[];
}

export interface KosekiPerson {
  /** Link to the 住民票 (住基) record; null for a person not resident in the city. */
  residentId: string | null;
  /** 氏 as recorded in this 戸籍 and 名. */
  familyName: string;
  givenName: string;
  /** 名の振り仮名 (katakana, since 2025-05-26). */
  givenNameKana: string;
  birthDate: string;
  sex: 'male' | 'female';
  father: string;
  mother: string;
  /** 続柄: 長男, 長女, 二男 ... (for the 筆頭者's spouse: 夫 / 妻 is printed by the renderer from sex). */
  relationship: string;
  events: KosekiEvent[];
  /** 除籍 (death, marriage out): the person stays in the register, marked. */
  removed: null | { reason: '死亡' | '婚姻'; on: string };
}

export interface KosekiRecord {
  /** 'K00001', unique within the city. */
  id: string;
  honseki: string;
  /** 筆頭者氏名, as on the 住民票 (「氏　名」). */
  head: string;
  /** 戸籍事項: 編製 (or 改製) with its date. */
  kosekiEvents: { kind: '編製' | '改製' | '転籍'; date: string }[];
  /** A filing (届出) received but not yet entered: no certificate until it is. */
  pendingFiling: null | { kind: string; receivedOn: string };
  persons: KosekiPerson[];
}

export interface FuhyoRecord {
  kosekiId: string;
  /** Index into the 戸籍's persons. */
  person: number;
  /** Addresses in order, oldest first, each with 住所を定めた年月日. */
  addresses: { address: string; since: string }[];
}

export interface KosekiDataset {
  version: typeof KOSEKI_DATASET_VERSION;
  generatedWithSeed: number;
  city: { code: string; name: string; prefecture: string; mayorName: string };
  koseki: KosekiRecord[];
  fuhyo: FuhyoRecord[];
}
