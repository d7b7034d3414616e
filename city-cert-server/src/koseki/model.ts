import type { FuhyoModel, KosekiModel, KosekiRenderPerson, RenderCity } from '../render/model.js';
import type { KosekiEntry, KosekiPerson, KosekiStore } from './dataset.js';

export type KosekiCertType = 'koseki-full' | 'koseki-individual' | 'koseki-fuhyo';
export const KOSEKI_CERT_TYPES: readonly KosekiCertType[] = ['koseki-full', 'koseki-individual', 'koseki-fuhyo'];

export function isKosekiCertType(t: unknown): t is KosekiCertType {
  return typeof t === 'string' && (KOSEKI_CERT_TYPES as readonly string[]).includes(t);
}

interface Head {
  city: RenderCity;
  issuanceId: string;
  issuedAt: Date;
  copies: number;
}

function renderPerson(p: KosekiPerson, married: boolean): KosekiRenderPerson {
  return {
    familyName: p.familyName,
    givenName: p.givenName,
    givenNameKana: p.givenNameKana,
    birthDate: p.birthDate,
    sex: p.sex,
    father: p.father,
    mother: p.mother,
    relationship: p.relationship,
    spouseMark: married ? (p.sex === 'male' ? '夫' : '妻') : null,
    events: p.events.map((e) => ({ kind: e.kind, date: e.date, details: e.details.map((d) => ({ ...d })) })),
    removed: p.removed ? { ...p.removed } : null,
  };
}

const marriedIn = (p: KosekiPerson) => p.events.some((e) => e.kind === '婚姻');

/** 全部 (every person, 除籍 included, in register order) or 個人 (the holder alone). */
export function kosekiModel(head: Head, entry: KosekiEntry, certType: 'koseki-full' | 'koseki-individual'): KosekiModel {
  const { record } = entry;
  const persons = certType === 'koseki-full' ? record.persons : [record.persons[entry.person]!];
  return {
    ...head,
    certType,
    honseki: record.honseki,
    head: record.head,
    kosekiEvents: record.kosekiEvents.map((e) => ({ ...e })),
    persons: persons.map((p) => renderPerson(p, marriedIn(p))),
  };
}

/** 附票: the holder (一部, default) or every person of the register with a 附票 (全部). */
export function fuhyoModel(head: Head, entry: KosekiEntry, store: KosekiStore, whole: boolean): FuhyoModel {
  const { record } = entry;
  const records = whole ? store.fuhyoOfRecord(record) : [store.fuhyoOf(record.id, entry.person)].filter((f) => f !== null);
  return {
    ...head,
    certType: 'koseki-fuhyo',
    honseki: record.honseki,
    head: record.head,
    partial: !whole,
    persons: records.map((f) => {
      const p = record.persons[f!.person]!;
      return { familyName: p.familyName, givenName: p.givenName, birthDate: p.birthDate, sex: p.sex, addresses: f!.addresses.map((a) => ({ ...a })), removed: p.removed ? { ...p.removed } : null };
    }),
  };
}
