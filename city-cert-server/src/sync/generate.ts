import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/*
 * A synthetic, fictional city of any size in the full-load format (konbini-city),
 * and a realistic stream of 異動 deltas against it. Seeded: the same options give
 * the same bytes. Names are drawn from short lists of common ones; no row describes
 * a real person. The city code 999997 (check digit valid) and 星見市 are fictional.
 */

export interface GenerateOptions {
  residents: number;
  seed?: number;
  cityCode?: string;
  /** Reference date the ages are computed against (YYYY-MM-DD). */
  referenceDate?: string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILY: [string, string][] = [['佐藤', 'サトウ'], ['鈴木', 'スズキ'], ['髙橋', 'タカハシ'], ['田中', 'タナカ'], ['伊藤', 'イトウ'], ['渡辺', 'ワタナベ'], ['山本', 'ヤマモト'], ['中村', 'ナカムラ'], ['小林', 'コバヤシ'], ['加藤', 'カトウ'], ['𠮷田', 'ヨシダ'], ['山田', 'ヤマダ'], ['佐々木', 'ササキ'], ['山口', 'ヤマグチ'], ['松本', 'マツモト'], ['井上', 'イノウエ'], ['木村', 'キムラ'], ['林', 'ハヤシ'], ['斎藤', 'サイトウ'], ['清水', 'シミズ']];
const MALE: [string, string][] = [['太郎', 'タロウ'], ['一郎', 'イチロウ'], ['健', 'ケン'], ['翔', 'ショウ'], ['大輔', 'ダイスケ'], ['蓮', 'レン'], ['悠真', 'ユウマ'], ['誠', 'マコト'], ['浩', 'ヒロシ'], ['湊', 'ミナト']];
const FEMALE: [string, string][] = [['花子', 'ハナコ'], ['美咲', 'ミサキ'], ['陽菜', 'ヒナ'], ['結衣', 'ユイ'], ['さくら', 'サクラ'], ['恵', 'メグミ'], ['由美', 'ユミ'], ['葵', 'アオイ'], ['凛', 'リン'], ['智子', 'トモコ']];
const TOWNS = ['緑町', '港町', '桜町', '北町', '南町', '東町', '西町', '中町', '星ヶ丘', '月見台'];
const KANJI_NUM = ['一', '二', '三', '四', '五', '六', '七', '八', '九'];
const PREVIOUS = ['東京都千代田区丸の内一丁目1番1号', '大阪府大阪市北区梅田三丁目1番1号', '東雲県月影市本町2番地', null];

export const CITY = { name: '星見市', prefecture: '東雲県', mayorName: '星見　太陽' };
const FEES = { 'resident-record': 200, 'resident-entries': 200, seal: 200, 'tax-income': 300 };

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}
function day(r: () => number, fromYear: number, toYear: number): string {
  const y = fromYear + Math.floor(r() * (toYear - fromYear + 1));
  return `${y}-${pad(1 + Math.floor(r() * 12), 2)}-${pad(1 + Math.floor(r() * 28), 2)}`;
}

export interface GeneratedResident {
  id: string;
  householdId: string;
  status: 'active' | 'moved-out' | 'deceased';
  adult: boolean;
  serial: string | null;
  seal: boolean;
}

/** Rows of the city in load order; `onResident` sees each resident (the delta generator keeps state with it). */
export function* cityRows(o: GenerateOptions, onResident?: (r: GeneratedResident) => void): Generator<object> {
  const r = mulberry32(o.seed ?? 1);
  const refYear = Number((o.referenceDate ?? '2026-04-01').slice(0, 4));
  const code = o.cityCode ?? '999997';
  yield { type: 'header', format: 'konbini-city', version: 1, city: { code, ...CITY, fees: FEES }, seq: 0, seed: o.seed ?? 1, referenceDate: o.referenceDate ?? '2026-04-01' };
  const counts = { households: 0, residents: 0, cardLinks: 0, seals: 0 };
  let made = 0;
  let h = 0;
  while (made < o.residents) {
    h++;
    const size = Math.min(o.residents - made, 1 + Math.floor(r() * r() * 5));
    const hid = `H${pad(h, 7)}`;
    const [family, familyKana] = FAMILY[Math.floor(r() * FAMILY.length)]!;
    const town = TOWNS[Math.floor(r() * TOWNS.length)]!;
    const address = `${CITY.prefecture}${CITY.name}${town}${KANJI_NUM[Math.floor(r() * 9)]}丁目${1 + Math.floor(r() * 30)}番${1 + Math.floor(r() * 20)}号`;
    const headId = `R${pad(made + 1, 8)}`;
    yield { type: 'household', id: hid, address, headId };
    counts.households++;
    const honseki = `${CITY.prefecture}${CITY.name}${town}${1 + Math.floor(r() * 99)}番地`;
    for (let i = 0; i < size; i++) {
      made++;
      const id = `R${pad(made, 8)}`;
      const female = i === 1 ? true : r() < 0.5;
      const [given, givenKana] = (female ? FEMALE : MALE)[Math.floor(r() * 10)]!;
      const relationship = i === 0 ? '世帯主' : i === 1 ? '妻' : '子';
      const birthDate = i < 2 ? day(r, refYear - 85, refYear - 22) : day(r, refYear - 20, refYear - 1);
      const adult = refYear - Number(birthDate.slice(0, 4)) >= 16;
      // the head stays active, so every household has someone to issue to
      const status = i === 0 ? 'active' : r() < 0.02 ? 'deceased' : r() < 0.02 ? 'moved-out' : 'active';
      const residentSince = day(r, 1990, refYear - 1);
      const flags: string[] = status === 'active' && r() < 0.003 ? ['support-measure'] : [];
      yield {
        type: 'resident', id, householdId: hid, familyName: family, givenName: given, familyNameKana: familyKana, givenNameKana: givenKana,
        birthDate, sex: female ? 'female' : 'male', relationship, residentSince, addressSince: r() < 0.3 ? residentSince : null, notifiedOn: residentSince,
        previousAddress: PREVIOUS[Math.floor(r() * PREVIOUS.length)] ?? null, honseki, kosekiHead: `${family}　${given}`, foreign: null, status, flags,
        ...(status !== 'active' ? { removedOn: day(r, refYear - 1, refYear - 1) } : {}),
      };
      counts.residents++;
      let serial: string | null = null;
      if (status === 'active' && adult && r() < 0.6) {
        serial = `5e${pad(made, 10)}`;
        yield { type: 'card-link', serial, residentId: id, validFrom: day(r, 2016, refYear - 1) };
        counts.cardLinks++;
      }
      const seal = status === 'active' && adult && r() < 0.3;
      if (seal) {
        yield { type: 'seal', residentId: id, sealNumber: `S${pad(made, 9)}`, registeredOn: day(r, 2000, refYear - 1) };
        counts.seals++;
      }
      onResident?.({ id, householdId: hid, status, adult, serial, seal });
    }
  }
  yield { type: 'end', counts };
}

/**
 * A stream of `n` deltas (one batch) against the city `o` describes, from sequence
 * `fromSeq`: every kind, each valid against the state the previous ones leave.
 */
export function* deltaRows(o: GenerateOptions, n: number, fromSeq = 1, batchId = `gen-${fromSeq}`): Generator<object> {
  const people: GeneratedResident[] = [];
  for (const _ of cityRows(o, (p) => people.push(p))) void _;
  const r = mulberry32((o.seed ?? 1) * 7919 + fromSeq);
  const active = people.filter((p) => p.status === 'active');
  let nextResident = people.length;
  let nextHousehold = 10_000_000;
  yield { type: 'header', format: 'konbini-delta', version: 1, cityCode: o.cityCode ?? '999997', batchId };
  const notifiedOn = o.referenceDate ?? '2026-04-01';
  const pick = () => active[Math.floor(r() * active.length)]!;
  const movingOut = new Set<string>();
  for (let i = 0; i < n; i++) {
    const seq = fromSeq + i;
    const base = { type: 'change', seq, notifiedOn };
    const x = r();
    const p = pick();
    if (p.status !== 'active') {
      i--;
      continue;
    }
    if (x < 0.15) {
      nextResident++;
      nextHousehold++;
      const id = `R${pad(nextResident, 8)}`;
      const hid = `H${pad(nextHousehold, 8)}`;
      const np: GeneratedResident = { id, householdId: hid, status: 'active', adult: true, serial: null, seal: false };
      yield { ...base, kind: 'move-in', household: { id: hid, address: `${CITY.prefecture}${CITY.name}新町${1 + (nextHousehold % 50)}番地`, headId: id }, resident: {
        id, householdId: hid, familyName: '新井', givenName: '来', familyNameKana: 'アライ', givenNameKana: 'ライ', birthDate: '1990-05-05', sex: 'male', relationship: '世帯主',
        residentSince: notifiedOn, addressSince: null, notifiedOn, previousAddress: '東京都千代田区丸の内一丁目1番1号', honseki: '東京都千代田区丸の内一丁目1番', kosekiHead: '新井　来', foreign: null, status: 'active', flags: [] } };
      active.push(np);
      people.push(np);
    } else if (x < 0.25) {
      nextResident++;
      const id = `R${pad(nextResident, 8)}`;
      yield { ...base, kind: 'birth', resident: {
        id, householdId: p.householdId, familyName: '星野', givenName: '光', familyNameKana: 'ホシノ', givenNameKana: 'ヒカル', birthDate: notifiedOn, sex: 'female', relationship: '子',
        residentSince: notifiedOn, addressSince: null, notifiedOn, previousAddress: null, honseki: '東雲県星見市緑町1番地', kosekiHead: '星野　一', foreign: null, status: 'active', flags: [] } };
      const np: GeneratedResident = { id, householdId: p.householdId, status: 'active', adult: false, serial: null, seal: false };
      active.push(np);
      people.push(np);
    } else if (x < 0.35) {
      yield { ...base, kind: 'address-change', householdId: p.householdId, address: `${CITY.prefecture}${CITY.name}桜町${1 + Math.floor(r() * 99)}番地`, effectiveOn: notifiedOn };
    } else if (x < 0.45) {
      yield { ...base, kind: 'name-change', residentId: p.id, effectiveOn: notifiedOn, familyName: '改田', familyNameKana: 'カイダ' };
    } else if (x < 0.52) {
      if (movingOut.has(p.id) && r() < 0.3) {
        yield { ...base, kind: 'move-out-cancelled', residentId: p.id };
        movingOut.delete(p.id);
      } else if (movingOut.has(p.id)) {
        yield { ...base, kind: 'move-out', residentId: p.id, effectiveOn: notifiedOn };
        p.status = 'moved-out';
        movingOut.delete(p.id);
      } else {
        yield { ...base, kind: 'move-out-planned', residentId: p.id, effectiveOn: notifiedOn };
        movingOut.add(p.id);
      }
    } else if (x < 0.55) {
      yield { ...base, kind: 'death', residentId: p.id, effectiveOn: notifiedOn };
      p.status = 'deceased';
      p.seal = false;
      movingOut.delete(p.id);
    } else if (x < 0.62) {
      if (p.seal) yield { ...base, kind: 'seal-abolish', residentId: p.id, effectiveOn: notifiedOn };
      else yield { ...base, kind: 'seal-register', residentId: p.id, sealNumber: `G${pad(seq, 9)}`, effectiveOn: notifiedOn };
      p.seal = !p.seal;
    } else if (x < 0.74) {
      if (p.serial) {
        yield { ...base, kind: 'card-revoke', serial: p.serial, effectiveOn: notifiedOn };
        p.serial = null;
      } else {
        p.serial = `6e${pad(seq, 10)}`;
        yield { ...base, kind: 'card-issue', serial: p.serial, residentId: p.id, validFrom: notifiedOn };
      }
    } else if (x < 0.82) {
      nextHousehold++;
      const hid = `H${pad(nextHousehold, 8)}`;
      yield { ...base, kind: 'household-change', residentId: p.id, householdId: hid, relationship: '世帯主', effectiveOn: notifiedOn, household: { id: hid, address: `${CITY.prefecture}${CITY.name}分町${1 + (nextHousehold % 40)}番地`, headId: p.id } };
      p.householdId = hid;
    } else if (x < 0.91) {
      yield { ...base, kind: 'support-measure-set', residentId: p.id };
    } else {
      yield { ...base, kind: 'support-measure-cleared', residentId: p.id };
    }
  }
  yield { type: 'end', count: n, lastSeq: fromSeq + n - 1 };
}

/** Writes rows as JSON Lines with back-pressure (a million residents never sit in memory). */
export async function writeJsonLines(path: string, rows: Iterable<object>): Promise<number> {
  const out = createWriteStream(path, { mode: 0o600 });
  let n = 0;
  let buf = '';
  for (const row of rows) {
    buf += `${JSON.stringify(row)}\n`;
    n++;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return n;
}
