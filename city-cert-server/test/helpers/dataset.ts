import type { CityDataset, Resident } from '@konbini/protocol';
import { tokyoDate } from '../../src/rules/clock.js';

/**
 * A small synthetic city, dated relative to `now` so every case holds on any day.
 * Card serials name the case they exercise.
 */
export const SERIAL = {
  takahashi: '1a2b3c4d5e6f0001',
  yoshida: '1a2b3c4d5e6f0002',
  yoshidaChild14: '1a2b3c4d5e6f0003',
  movingHousehold: '1a2b3c4d5e6f0004',
  support: '1a2b3c4d5e6f0005',
  tomorrow: '1a2b3c4d5e6f0006',
  foreign: '1a2b3c4d5e6f0007',
  deceased: '1a2b3c4d5e6f0008',
  movedInToday: '1a2b3c4d5e6f0009',
  unprintable: '1a2b3c4d5e6f000a',
  movedOut: '1a2b3c4d5e6f000b',
  unknown: 'ffffffffffff0000',
} as const;

export const ADDRESS = {
  takahashi: '東雲県星見市緑町一丁目2番3号',
  yoshida: '東雲県星見市港町三丁目4番5号　港ハイツ101号',
} as const;

function shiftDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function yearsAgo(day: string, years: number, extraDays = 0): string {
  return shiftDays(`${Number(day.slice(0, 4)) - years}${day.slice(4)}`, extraDays);
}

function person(p: Partial<Resident> & Pick<Resident, 'id' | 'householdId' | 'familyName' | 'givenName' | 'birthDate' | 'relationship'>): Resident {
  return {
    familyNameKana: 'タカハシ',
    givenNameKana: 'タロウ',
    sex: 'male',
    residentSince: '2010-04-01',
    addressSince: null,
    notifiedOn: '2010-04-01',
    previousAddress: '東京都千代田区丸の内一丁目1番1号',
    honseki: '東雲県星見市緑町一丁目2番',
    kosekiHead: '髙橋　一郎',
    foreign: null,
    status: 'active',
    flags: [],
    ...p,
  };
}

export function testDataset(now: Date): { dataset: CityDataset; today: string } {
  const today = tokyoDate(now);
  const tomorrow = shiftDays(today, 1);
  const residents: Resident[] = [
    // 髙橋 household: 5 active members in scrambled order, and a deceased father
    person({ id: 'R0005', householdId: 'H001', familyName: '髙橋', givenName: 'トメ', givenNameKana: 'トメ', sex: 'female', birthDate: '1948-01-01', relationship: '母' }),
    person({ id: 'R0003', householdId: 'H001', familyName: '髙橋', givenName: '次郎', givenNameKana: 'ジロウ', birthDate: '2005-03-03', relationship: '子' }),
    person({ id: 'R0001', householdId: 'H001', familyName: '髙橋', givenName: '一郎', givenNameKana: 'イチロウ', birthDate: '1975-04-01', relationship: '世帯主' }),
    person({ id: 'R0004', householdId: 'H001', familyName: '髙橋', givenName: '美咲', givenNameKana: 'ミサキ', sex: 'female', birthDate: '2003-08-08', relationship: '子' }),
    person({ id: 'R0002', householdId: 'H001', familyName: '髙橋', givenName: '花子', givenNameKana: 'ハナコ', sex: 'female', birthDate: '1978-06-10', relationship: '妻' }),
    person({ id: 'R0006', householdId: 'H001', familyName: '髙橋', givenName: '源蔵', givenNameKana: 'ゲンゾウ', birthDate: '1945-02-02', relationship: '父', status: 'deceased', removedOn: '2024-01-15' }),
    // 𠮷田: holder and a child who is 15 tomorrow (14 today)
    person({ id: 'R0010', householdId: 'H002', familyName: '𠮷田', givenName: '太郎', familyNameKana: 'ヨシダ', birthDate: '1980-09-09', relationship: '世帯主', honseki: '東雲県星見市港町三丁目4番', kosekiHead: '𠮷田　太郎' }),
    person({ id: 'R0011', householdId: 'H002', familyName: '𠮷田', givenName: '健', familyNameKana: 'ヨシダ', givenNameKana: 'ケン', birthDate: yearsAgo(today, 15, 1), relationship: '子' }),
    // household where another member has filed a moving-out notice
    person({ id: 'R0020', householdId: 'H003', familyName: '佐藤', givenName: '一', familyNameKana: 'サトウ', birthDate: '1970-01-01', relationship: '世帯主' }),
    person({ id: 'R0021', householdId: 'H003', familyName: '佐藤', givenName: '二', familyNameKana: 'サトウ', birthDate: '1972-01-01', relationship: '妻', flags: ['moving-out'] }),
    // DV等支援措置
    person({ id: 'R0030', householdId: 'H004', familyName: '鈴木', givenName: '守', familyNameKana: 'スズキ', birthDate: '1985-05-05', relationship: '世帯主', flags: ['support-measure'] }),
    // card issued today: usable from tomorrow
    person({ id: 'R0040', householdId: 'H005', familyName: '田中', givenName: '新', familyNameKana: 'タナカ', birthDate: '1990-10-10', relationship: '世帯主' }),
    // foreign resident
    person({
      id: 'R0050', householdId: 'H006', familyName: 'SMITH', givenName: 'JOHN', familyNameKana: 'スミス', givenNameKana: 'ジョン',
      birthDate: '1988-12-12', relationship: '世帯主', honseki: null, kosekiHead: null,
      foreign: { nationality: '英国', alphabetName: 'SMITH JOHN', residenceStatus: '技術・人文知識・国際業務', periodOfStay: '3年', periodExpiry: '2027-03-31', residenceCardNumber: 'AB12345678CD', category: '中長期在留者', becameResidentOn: '2019-04-01' },
    }),
    // moved in today
    person({ id: 'R0060', householdId: 'H007', familyName: '山本', givenName: '来', familyNameKana: 'ヤマモト', birthDate: '1995-07-07', relationship: '世帯主', residentSince: today, notifiedOn: today }),
    // a legacy 外字 in the private use area: no kiosk can print it
    person({ id: 'R0070', householdId: 'H008', familyName: '\u{E000}川', givenName: '正', familyNameKana: 'ハシカワ', birthDate: '1960-06-06', relationship: '世帯主' }),
    // moved out of the city
    person({ id: 'R0080', householdId: 'H009', familyName: '森', givenName: '去', familyNameKana: 'モリ', birthDate: '1965-03-03', relationship: '世帯主', status: 'moved-out', removedOn: '2025-01-10' }),
  ];
  const dataset: CityDataset = {
    version: 1,
    generatedWithSeed: 42,
    city: { code: '999997', name: '星見市', prefecture: '東雲県', mayorName: '星見　太陽', fees: { 'resident-record': 200, seal: 200, 'tax-income': 300 } },
    households: [
      { id: 'H001', address: ADDRESS.takahashi, headId: 'R0001' },
      { id: 'H002', address: ADDRESS.yoshida, headId: 'R0010' },
      { id: 'H003', address: '東雲県星見市北町1番地', headId: 'R0020' },
      { id: 'H004', address: '東雲県星見市南町2番地', headId: 'R0030' },
      { id: 'H005', address: '東雲県星見市東町3番地', headId: 'R0040' },
      { id: 'H006', address: '東雲県星見市西町4番地', headId: 'R0050' },
      { id: 'H007', address: '東雲県星見市中町5番地', headId: 'R0060' },
      { id: 'H008', address: '東雲県星見市上町6番地', headId: 'R0070' },
      { id: 'H009', address: '東雲県星見市下町7番地', headId: 'R0080' },
    ],
    residents,
    cardLinks: [
      { serial: SERIAL.takahashi, residentId: 'R0001', validFrom: '2020-01-01' },
      { serial: SERIAL.yoshida, residentId: 'R0010', validFrom: '2020-01-01' },
      { serial: SERIAL.yoshidaChild14, residentId: 'R0011', validFrom: '2020-01-01' },
      { serial: SERIAL.movingHousehold, residentId: 'R0020', validFrom: '2020-01-01' },
      { serial: SERIAL.support, residentId: 'R0030', validFrom: '2020-01-01' },
      { serial: SERIAL.tomorrow, residentId: 'R0040', validFrom: tomorrow },
      { serial: SERIAL.foreign, residentId: 'R0050', validFrom: '2020-01-01' },
      { serial: SERIAL.deceased, residentId: 'R0006', validFrom: '2020-01-01' },
      { serial: SERIAL.movedInToday, residentId: 'R0060', validFrom: '2020-01-01' },
      { serial: SERIAL.unprintable, residentId: 'R0070', validFrom: '2020-01-01' },
      { serial: SERIAL.movedOut, residentId: 'R0080', validFrom: '2020-01-01' },
    ],
  };
  return { dataset, today };
}
