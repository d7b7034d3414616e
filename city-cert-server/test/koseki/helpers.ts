import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CityDataset } from '@konbini/protocol';
import type { KosekiDataset } from '../../src/koseki/dataset.js';

/** LGWAN-sim for the koseki path: the replica (client and server), the centre, the koseki server and an impostor of it. */
export interface KosekiPki {
  ca: string;
  replica: { key: string; cert: string };
  centre: { key: string; cert: string };
  koseki: { key: string; cert: string };
  /** Same CN and CA as the koseki server, another key: the pin must refuse it. */
  impostor: { key: string; cert: string };
  cleanup(): void;
}

export function makeKosekiPki(): KosekiPki {
  const dir = mkdtempSync(join(tmpdir(), 'koseki-pki-'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/O=LGWAN-sim/CN=Test LGWAN CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const both = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
  const issue = (name: string, cn: string) => {
    writeFileSync(join(dir, `${name}.ext`), both);
    ssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=LGWAN-sim/CN=${cn}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8') };
  };
  const out = {
    replica: issue('replica', 'city-999997'),
    centre: issue('centre', 'issuance-center'),
    koseki: issue('koseki', 'koseki-999997'),
    impostor: issue('impostor', 'koseki-999997'),
  };
  return { ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), ...out, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The 髙橋 register (served, three living persons and one 除籍) and the 𠮷田 register (a filing pending). */
export function kosekiDatasetFor(city: CityDataset): KosekiDataset {
  const born = (date: string) => ({ kind: '出生', date, details: [{ label: '出生地', value: '東雲県星見市' }, { label: '届出日', value: date }, { label: '届出人', value: '父' }] });
  const married = { kind: '婚姻', date: '2002-05-05', details: [{ label: '届出日', value: '2002-05-05' }, { label: '配偶者氏名', value: '髙橋　花子' }] };
  return {
    version: 1,
    generatedWithSeed: 1,
    city: { code: city.city.code, name: city.city.name, prefecture: city.city.prefecture, mayorName: city.city.mayorName },
    koseki: [
      {
        id: 'K00001',
        honseki: '東雲県星見市緑町一丁目2番',
        head: '髙橋　一郎',
        kosekiEvents: [{ kind: '編製', date: '2002-05-05' }],
        pendingFiling: null,
        persons: [
          { residentId: 'R0001', familyName: '髙橋', givenName: '一郎', givenNameKana: 'イチロウ', birthDate: '1975-04-01', sex: 'male', father: '髙橋　源蔵', mother: 'トメ', relationship: '長男', events: [born('1975-04-01'), married], removed: null },
          { residentId: 'R0002', familyName: '髙橋', givenName: '花子', givenNameKana: 'ハナコ', birthDate: '1978-06-10', sex: 'female', father: '中村　進', mother: '和子', relationship: '長女', events: [born('1978-06-10'), { ...married, details: [{ label: '届出日', value: '2002-05-05' }, { label: '配偶者氏名', value: '髙橋　一郎' }, { label: '従前戸籍', value: '東雲県月見市本町1番地　中村　進' }] }], removed: null },
          { residentId: 'R0009', familyName: '髙橋', givenName: '長子', givenNameKana: 'ナガコ', birthDate: '2001-01-01', sex: 'female', father: '髙橋　一郎', mother: '花子', relationship: '長女', events: [born('2001-01-01'), { kind: '死亡', date: '2010-02-02', details: [{ label: '死亡地', value: '東雲県星見市' }, { label: '届出日', value: '2010-02-03' }] }], removed: { reason: '死亡', on: '2010-02-02' } },
          { residentId: 'R0004', familyName: '髙橋', givenName: '美咲', givenNameKana: 'ミサキ', birthDate: '2003-08-08', sex: 'female', father: '髙橋　一郎', mother: '花子', relationship: '二女', events: [born('2003-08-08')], removed: null },
          { residentId: 'R0003', familyName: '髙橋', givenName: '次郎', givenNameKana: 'ジロウ', birthDate: '2005-03-03', sex: 'male', father: '髙橋　一郎', mother: '花子', relationship: '長男', events: [born('2005-03-03')], removed: null },
        ],
      },
      {
        id: 'K00002',
        honseki: '東雲県星見市港町三丁目4番',
        head: '𠮷田　太郎',
        kosekiEvents: [{ kind: '改製', date: '1994-12-03' }],
        pendingFiling: { kind: '婚姻', receivedOn: '2026-11-20' },
        persons: [{ residentId: 'R0010', familyName: '𠮷田', givenName: '太郎', givenNameKana: 'タロウ', birthDate: '1980-09-09', sex: 'male', father: '𠮷田　一', mother: '二三', relationship: '長男', events: [born('1980-09-09')], removed: null }],
      },
    ],
    fuhyo: [
      { kosekiId: 'K00001', person: 0, addresses: [{ address: '東京都千代田区丸の内一丁目1番1号', since: '1998-04-01' }, { address: '東雲県星見市緑町一丁目2番3号', since: '2010-04-01' }] },
      { kosekiId: 'K00001', person: 1, addresses: [{ address: '東雲県星見市緑町一丁目2番3号', since: '2010-04-01' }] },
    ],
  };
}
