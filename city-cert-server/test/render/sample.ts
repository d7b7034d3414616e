import type { RenderPerson, ResidentRecordModel } from '../../src/render/model.js';

/** 葛 with the Moji_Joho selector E0102 (a registered non-default variant in IPAmj). */
export const KATSURA_VARIANT = '\u845B\u{E0102}';
/** 邉 with selector E0110. */
export const BE_VARIANT = '\u9089\u{E0110}';

/**
 * Fictional places only (青嵐県, 翠峰県, 東雲市, 白砂市 with its wards 潮見区 and 汐入区, 霧ヶ丘町):
 * none is a real prefecture, municipality or ward. The code 992011 carries a valid
 * check digit and a prefecture part (99) no real prefecture has.
 */
export const CITY = { code: '992011', name: '東雲市', prefecture: '青嵐県', mayorName: '朝比奈　誠' };

function jp(p: Partial<RenderPerson> & Pick<RenderPerson, 'familyName' | 'givenName' | 'familyNameKana' | 'givenNameKana' | 'birthDate' | 'sex' | 'relationship'>): RenderPerson {
  return {
    residentSince: '2015-04-01',
    addressSince: null,
    notifiedOn: '2015-04-03',
    previousAddress: '青嵐県白砂市潮見区汐見台二丁目8番1号',
    honseki: '青嵐県東雲市本町一丁目1番地',
    kosekiHead: '髙橋　一郎',
    foreign: null,
    ...p,
  };
}

/** Seven persons: two pages in the household layout. */
export function bigHousehold(issuanceId = 'iss-20261122-0001'): ResidentRecordModel {
  return {
    city: CITY,
    issuanceId,
    issuedAt: new Date('2026-11-21T23:30:00Z'), // 2026-11-22 08:30 in Tokyo
    copies: 1,
    address: '青嵐県東雲市本町一丁目2番3号　東雲ハイツ101号',
    headName: '髙橋　一郎',
    persons: [
      jp({ familyName: '髙橋', givenName: '一郎', familyNameKana: 'タカハシ', givenNameKana: 'イチロウ', birthDate: '1963-09-25', sex: 'male', relationship: '世帯主' }),
      jp({ familyName: '髙橋', givenName: '花子', familyNameKana: 'タカハシ', givenNameKana: 'ハナコ', birthDate: '1966-02-11', sex: 'female', relationship: '妻', addressSince: '2019-05-01' }),
      jp({ familyName: '髙橋', givenName: '𠮷之助', familyNameKana: 'タカハシ', givenNameKana: 'キチノスケ', birthDate: '1989-01-08', sex: 'male', relationship: '子', previousAddress: null, residentSince: '1989-01-08', notifiedOn: '1989-01-12' }),
      jp({ familyName: '髙橋', givenName: `${KATSURA_VARIANT}子`, familyNameKana: 'タカハシ', givenNameKana: 'カツコ', birthDate: '1992-07-07', sex: 'female', relationship: '子', previousAddress: null }),
      jp({ familyName: '山﨑', givenName: 'トメ', familyNameKana: 'ヤマザキ', givenNameKana: 'トメ', birthDate: '1938-03-03', sex: 'female', relationship: '妻の母', honseki: '青嵐県白砂市潮見区元浜町103番地の2', kosekiHead: '山﨑　正' }),
      jp({ familyName: '𠮷田', givenName: '渡', familyNameKana: 'ヨシダ', givenNameKana: 'ワタル', birthDate: '1989-01-07', sex: 'male', relationship: '同居人', honseki: '翠峰県霧ヶ丘町北1条西2丁目', kosekiHead: '𠮷田　渡' }),
      jp({ familyName: `渡${BE_VARIANT}`, givenName: '葵', familyNameKana: 'ワタナベ', givenNameKana: 'アオイ', birthDate: '2019-04-30', sex: 'female', relationship: '同居人', honseki: '青嵐県白砂市汐入区湊橋一丁目3番20号', kosekiHead: `渡${BE_VARIANT}　健` }),
    ],
    options: { includeRelationship: true, includeHonseki: true, includeForeignDetails: true },
  };
}

/** Two persons, one of them a foreign resident: one page. */
export function mixedHousehold(issuanceId = 'iss-20261122-0002'): ResidentRecordModel {
  return {
    city: CITY,
    issuanceId,
    issuedAt: new Date('2026-11-22T01:00:00Z'),
    copies: 1,
    address: '青嵐県東雲市港町四丁目5番6号',
    headName: '佐藤　美咲',
    persons: [
      jp({ familyName: '佐藤', givenName: '美咲', familyNameKana: 'サトウ', givenNameKana: 'ミサキ', birthDate: '1985-12-01', sex: 'female', relationship: '世帯主', kosekiHead: '佐藤　美咲', honseki: '青嵐県東雲市港町四丁目5番地' }),
      {
        familyName: '',
        givenName: '',
        familyNameKana: 'スミス',
        givenNameKana: 'ジョン',
        birthDate: '1963-09-25',
        sex: 'male',
        relationship: '夫',
        residentSince: '2020-10-01',
        addressSince: null,
        notifiedOn: '2020-10-05',
        previousAddress: 'アメリカ合衆国',
        honseki: null,
        kosekiHead: null,
        foreign: {
          nationality: '米国',
          alphabetName: 'SMITH JOHN',
          residenceStatus: '日本人の配偶者等',
          periodOfStay: '3年',
          periodExpiry: '2027-09-30',
          residenceCardNumber: 'AB12345678CD',
          category: '中長期在留者',
          becameResidentOn: '2020-10-01',
        },
      },
    ],
    options: { includeRelationship: true, includeHonseki: true, includeForeignDetails: true },
  };
}
