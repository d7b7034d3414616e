/**
 * The koseki server's own store: 戸籍 (本籍, 筆頭者, 戸籍事項, persons with their 身分事項
 * and 除籍 marks) and 戸籍の附票 (address history), loaded from its own dataset file
 * (`koseki-<city>.json` from the fixtures). It never sees the 住民票 replica: the link is
 * the 住基 resident id recorded on each person.
 *
 * The shape is protocol's (protocol/src/koseki-dataset.ts), shared with the fixtures.
 */
import { KonbiniError } from '@konbini/protocol';

import { KOSEKI_DATASET_VERSION, type FuhyoRecord, type KosekiDataset, type KosekiRecord } from '@konbini/protocol';

export { KOSEKI_DATASET_VERSION, type FuhyoRecord, type KosekiDataset, type KosekiEvent, type KosekiPerson, type KosekiRecord } from '@konbini/protocol';

export interface KosekiEntry {
  record: KosekiRecord;
  /** Index of the person in record.persons. */
  person: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Shape check at load: a wrong file is refused at start, not in a resident's request. */
export function checkKosekiDataset(d: unknown): KosekiDataset {
  const fail = (why: string): never => {
    throw new Error(`koseki dataset: ${why}`);
  };
  const ds = d as KosekiDataset;
  if (!ds || typeof ds !== 'object') fail('not an object');
  if (ds.version !== KOSEKI_DATASET_VERSION) fail(`version ${String(ds.version)} (expected ${KOSEKI_DATASET_VERSION})`);
  if (!ds.city || !/^\d{6}$/.test(ds.city.code)) fail('city code');
  if (!Array.isArray(ds.koseki) || !Array.isArray(ds.fuhyo)) fail('koseki/fuhyo arrays');
  const ids = new Set<string>();
  for (const k of ds.koseki) {
    if (typeof k.id !== 'string' || ids.has(k.id)) fail(`register id ${String(k.id)}`);
    ids.add(k.id);
    if (typeof k.honseki !== 'string' || typeof k.head !== 'string' || !Array.isArray(k.persons) || k.persons.length === 0) fail(`register ${k.id}`);
    for (const p of k.persons) if (!DATE.test(p.birthDate) || !Array.isArray(p.events)) fail(`person in ${k.id}`);
  }
  for (const f of ds.fuhyo) {
    if (!ids.has(f.kosekiId) || !Array.isArray(f.addresses)) fail(`附票 of ${String(f.kosekiId)}`);
  }
  return ds;
}

/** In-memory, read-only: the koseki system is the source; this server answers from a copy. */
export class KosekiStore {
  private readonly byResident = new Map<string, KosekiEntry>();
  private readonly fuhyo = new Map<string, FuhyoRecord>();

  constructor(readonly dataset: KosekiDataset) {
    for (const record of dataset.koseki) {
      record.persons.forEach((p, person) => {
        // a person removed (除籍) from this register is found in the register they went to, not here
        if (p.residentId && !p.removed) this.byResident.set(p.residentId, { record, person });
      });
    }
    for (const f of dataset.fuhyo) this.fuhyo.set(`${f.kosekiId}#${f.person}`, f);
  }

  get city(): KosekiDataset['city'] {
    return this.dataset.city;
  }

  entryOf(residentId: string): KosekiEntry | null {
    return this.byResident.get(residentId) ?? null;
  }

  fuhyoOf(kosekiId: string, person: number): FuhyoRecord | null {
    return this.fuhyo.get(`${kosekiId}#${person}`) ?? null;
  }

  /** The 附票 records of a register, in the register's order. */
  fuhyoOfRecord(record: KosekiRecord): FuhyoRecord[] {
    return record.persons.map((_, i) => this.fuhyoOf(record.id, i)).filter((f): f is FuhyoRecord => f !== null);
  }
}

export function notServed(residentId: string): KonbiniError {
  return new KonbiniError('KOSEKI_NOT_SERVED', { reason: 'no-register', residentIdSha: residentId.length });
}
