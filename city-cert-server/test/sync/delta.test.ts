import t, { type Test } from 'tap';
import { residentById, sealRefusal, sealRegistrationOf, syncState, type Db } from '../../src/index.js';
import { applyDelta } from '../../src/sync/delta.js';
import { parseDelta } from '../../src/sync/delta-format.js';
import { SERIAL, testDataset } from '../helpers/dataset.js';
import { backends } from '../replica/backends.js';
import { deltaFile, menuFor, nextCertificate, perBackend, refusal } from './helpers.js';

const now = new Date();
const { dataset, today } = testDataset(now);
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const NEW_SERIAL = '1a2b3c4d5e6f00ff';

function newcomer(id: string, householdId: string, relationship: string, birthDate: string) {
  return {
    id, householdId, familyName: '渡辺', givenName: '新', familyNameKana: 'ワタナベ', givenNameKana: 'アラタ', birthDate, sex: 'male', relationship,
    residentSince: '2026-01-05', addressSince: null, notifiedOn: '2026-01-05', previousAddress: '東京都港区芝公園四丁目2番8号',
    honseki: '東京都港区芝公園四丁目2番', kosekiHead: '渡辺　新', foreign: null, status: 'active', flags: [],
  };
}

async function apply(db: Db, text: string, dryRun = false) {
  return applyDelta(db, await parseDelta(text), { dryRun });
}

/** The refusal's code and first reported row, for one assertion. */

perBackend(list, dataset, deltaTests);

async function deltaTests(t: Test, db: Db): Promise<void> {
  t.test('every 異動 kind is applied and reflected in the menu and the next certificate', async (t) => {
    // 転入 into a new household, then its card: offered at once
    let r = await apply(db, deltaFile('b1', [
      { seq: 1, kind: 'move-in', notifiedOn: '2026-01-05', resident: newcomer('R0100', 'H100', '世帯主', '1980-02-02'), household: { id: 'H100', address: '東雲県星見市新町1番地', headId: 'R0100' } },
      { seq: 2, kind: 'card-issue', notifiedOn: '2026-01-05', serial: NEW_SERIAL, residentId: 'R0100', validFrom: '2026-01-06' },
      { seq: 3, kind: 'birth', notifiedOn: '2026-01-07', resident: { ...newcomer('R0101', 'H001', '子', '2026-01-01'), givenName: '光', familyName: '髙橋', previousAddress: null } },
    ]));
    t.match(r, { applied: 3, alreadyApplied: 0, lastSeq: 3, byKind: { 'move-in': 1, 'card-issue': 1, birth: 1 } });
    t.same((await menuFor(db, NEW_SERIAL, now)).offered, ['resident-record'], '転入 + カード発行: the newcomer is served');
    let model = await nextCertificate(db, 'R0001', now);
    t.ok(model.persons.some((p) => p.givenName === '光'), '出生: the baby is on the household certificate');

    // 転居, 氏名変更, 死亡, 世帯変更
    r = await apply(db, deltaFile('b2', [
      { seq: 4, kind: 'address-change', notifiedOn: '2026-02-01', householdId: 'H001', address: '東雲県星見市桜町九丁目8番7号', effectiveOn: '2026-01-30' },
      { seq: 5, kind: 'name-change', notifiedOn: '2026-02-02', residentId: 'R0002', effectiveOn: '2026-02-01', familyName: '山田', familyNameKana: 'ヤマダ' },
      { seq: 6, kind: 'death', notifiedOn: '2026-02-03', residentId: 'R0005', effectiveOn: '2026-02-02' },
      { seq: 7, kind: 'household-change', notifiedOn: '2026-02-04', residentId: 'R0004', householdId: 'H101', relationship: '世帯主', effectiveOn: '2026-02-04', household: { id: 'H101', address: '東雲県星見市桜町九丁目8番7号　離れ', headId: 'R0004' } },
    ]));
    t.equal(r.applied, 4);
    model = await nextCertificate(db, 'R0001', now);
    t.equal(model.address, '東雲県星見市桜町九丁目8番7号', '転居: new address');
    t.ok(model.persons.some((p) => p.familyName === '山田' && p.givenName === '花子'), '氏名変更: new name printed');
    t.notOk(model.persons.some((p) => p.givenName === 'トメ'), '死亡: no longer printed');
    t.notOk(model.persons.some((p) => p.givenName === '美咲'), '世帯変更: left the household');
    t.equal((await residentById(db, 'R0001'))?.addressSince, '2026-01-30');
    t.equal((await nextCertificate(db, 'R0004', now)).address, '東雲県星見市桜町九丁目8番7号　離れ');

    // 転出予定 blocks the whole household at once, and its cancellation clears it
    await apply(db, deltaFile('b3', [{ seq: 8, kind: 'move-out-planned', notifiedOn: '2026-03-01', residentId: 'R0011', effectiveOn: '2026-03-20' }]));
    t.equal((await menuFor(db, SERIAL.yoshida, now)).refusal, 'RESIDENT_MOVING_OUT', '転出予定 of a member: household refused at once');
    await apply(db, deltaFile('b4', [{ seq: 9, kind: 'move-out-cancelled', notifiedOn: '2026-03-02', residentId: 'R0011' }]));
    t.same((await menuFor(db, SERIAL.yoshida, now)).offered, ['resident-record']);

    // 支援措置 set / cleared
    await apply(db, deltaFile('b5', [{ seq: 10, kind: 'support-measure-set', notifiedOn: '2026-03-03', residentId: 'R0010' }]));
    t.equal((await menuFor(db, SERIAL.yoshida, now)).refusal, 'SUPPORT_MEASURE');
    await apply(db, deltaFile('b6', [{ seq: 11, kind: 'support-measure-cleared', notifiedOn: '2026-03-04', residentId: 'R0010' }]));
    t.same((await menuFor(db, SERIAL.yoshida, now)).offered, ['resident-record']);

    // 転出: refused at once
    t.same((await menuFor(db, SERIAL.takahashi, now)).offered, ['resident-record']);
    await apply(db, deltaFile('b7', [{ seq: 12, kind: 'move-out', notifiedOn: '2026-03-05', residentId: 'R0001', effectiveOn: '2026-03-05' }]));
    t.equal((await menuFor(db, SERIAL.takahashi, now)).refusal, 'RESIDENT_MOVED_OUT', 'a moved-out resident is refused at once');

    // 印鑑登録 / 廃止: the registration is refused the moment the abolition is applied
    await apply(db, deltaFile('b8', [{ seq: 13, kind: 'seal-register', notifiedOn: '2026-03-06', residentId: 'R0010', sealNumber: 'S-0001', effectiveOn: '2026-03-06', imagePng: PNG_1PX }]));
    let seal = await sealRegistrationOf(db, 'R0010');
    t.equal(sealRefusal(seal), null);
    t.same(seal?.imagePng, Buffer.from(PNG_1PX, 'base64'), '印影 stored byte for byte');
    await apply(db, deltaFile('b9', [{ seq: 14, kind: 'seal-abolish', notifiedOn: '2026-03-07', residentId: 'R0010', effectiveOn: '2026-03-07' }]));
    seal = await sealRegistrationOf(db, 'R0010');
    t.equal(sealRefusal(seal), 'SEAL_ABOLISHED', 'an abolished seal is refused at once');
    t.equal(sealRefusal(await sealRegistrationOf(db, 'R0050')), 'SEAL_NOT_REGISTERED');

    // カード失効
    await apply(db, deltaFile('b10', [{ seq: 15, kind: 'card-revoke', notifiedOn: '2026-03-08', serial: SERIAL.foreign, effectiveOn: '2026-03-08' }]));
    t.equal((await menuFor(db, SERIAL.foreign, now)).refusal, 'CARD_NOT_LINKED', 'a revoked card is no longer linked');
    t.equal((await syncState(db)).lastSeq, 15);
  });

  t.test('a re-sent batch is harmless; other content under a used number is refused', async (t) => {
    const batch = deltaFile('b11', [
      { seq: 16, kind: 'support-measure-set', notifiedOn: '2026-04-01', residentId: 'R0050' },
      { seq: 17, kind: 'support-measure-cleared', notifiedOn: '2026-04-02', residentId: 'R0050' },
    ]);
    t.match(await apply(db, batch), { applied: 2, lastSeq: 17 });
    t.match(await apply(db, batch), { applied: 0, alreadyApplied: 2, lastSeq: 17 }, 'same batch again: nothing applied twice');
    // overlapping: one old (same content), one new
    t.match(await apply(db, deltaFile('b12', [
      { seq: 17, kind: 'support-measure-cleared', notifiedOn: '2026-04-02', residentId: 'R0050' },
      { seq: 18, kind: 'support-measure-set', notifiedOn: '2026-04-03', residentId: 'R0050' },
    ])), { applied: 1, alreadyApplied: 1, lastSeq: 18 });
    t.match(await refusal(apply(db, deltaFile('b13', [{ seq: 18, kind: 'support-measure-cleared', notifiedOn: '2026-04-03', residentId: 'R0050' }]))), {
      code: 'SYNC_SEQUENCE_CONFLICT', line: 2, field: '/seq',
    });
    t.same((await residentById(db, 'R0050'))?.flags, ['support-measure']);
  });

  t.test('bad batches: each a clear error, nothing half-applied', async (t) => {
    const before = await syncState(db);
    const probe = async () => (await residentById(db, 'R0020'))?.flags;
    const valid = { seq: before.lastSeq + 1, kind: 'move-out-planned', notifiedOn: '2026-05-01', residentId: 'R0020', effectiveOn: '2026-05-10' };

    t.match(await refusal(apply(db, deltaFile('g', [{ ...valid, seq: before.lastSeq + 2 }]))), { code: 'SYNC_GAP', line: 2, field: '/seq' }, 'gap before the batch');
    t.match(await refusal(parseDelta(deltaFile('g2', [valid, { ...valid, seq: valid.seq + 2 }]))), { code: 'SYNC_GAP', line: 3 }, 'gap inside the batch');
    t.match(
      await refusal(apply(db, deltaFile('u', [valid, { seq: valid.seq + 1, kind: 'death', notifiedOn: '2026-05-01', residentId: 'R9999', effectiveOn: '2026-05-01' }]))),
      { code: 'SYNC_UNKNOWN_RECORD', line: 3, field: '/residentId' },
      'unknown resident: the whole batch is refused, its valid first change too',
    );
    const whole = deltaFile('t', [valid, { ...valid, seq: valid.seq + 1, kind: 'move-out-cancelled', effectiveOn: undefined }]);
    t.match(await refusal(parseDelta(whole.slice(0, whole.length - 20))), { code: 'SYNC_TRUNCATED', reason: /cut off/ }, 'cut in the middle of a line');
    t.match(await refusal(parseDelta(deltaFile('t2', [valid], { end: false }))), { code: 'SYNC_TRUNCATED', reason: 'no end record' }, 'cut at a line end');
    t.match(await refusal(parseDelta(deltaFile('t3', [valid], { count: 2 }))), { code: 'SYNC_TRUNCATED', field: '/count' }, 'fewer changes than announced');
    t.match(await refusal(parseDelta(deltaFile('m', [valid]).replace('"change"', '"change",'))), { code: 'SYNC_INPUT_INVALID', line: 2, reason: 'not valid JSON' });
    t.match(await refusal(parseDelta(deltaFile('m2', [{ ...valid, effectiveOn: '2026-02-30' }]))), { code: 'SYNC_INPUT_INVALID', line: 2, field: '/effectiveOn', reason: 'not a calendar date' });
    t.match(await refusal(parseDelta(deltaFile('m3', [{ ...valid, residentId: undefined }]))), { code: 'SYNC_INPUT_INVALID', line: 2, field: '/residentId', reason: 'required' });
    t.match(await refusal(parseDelta(deltaFile('m4', [{ ...valid, kind: 'abduction' }]))), { code: 'SYNC_INPUT_INVALID', field: '/kind' });
    t.match(await refusal(apply(db, deltaFile('c', [valid], { cityCode: '123455' }))), { code: 'SYNC_CITY_MISMATCH' });
    t.match(
      await refusal(apply(db, deltaFile('x', [{ ...valid, kind: 'move-in', residentId: undefined, effectiveOn: undefined, resident: newcomer('R0001', 'H001', '子', '2000-01-01') }]))),
      { code: 'SYNC_RECORD_CONFLICT', field: '/resident/id' },
      'moving in a resident id that exists',
    );
    t.same(await syncState(db), before, 'sequence and last sync unchanged');
    t.same(await probe(), [], 'no change of any refused batch is visible');

    const dry = await apply(db, deltaFile('d', [valid]), true);
    t.match(dry, { dryRun: true, applied: 1, lastSeq: before.lastSeq });
    t.same(await probe(), [], 'a dry run changes nothing');
    t.same(await syncState(db), before);
  });

  t.test('an empty batch is a heartbeat: nothing changes but the last sync time', async (t) => {
    const before = await syncState(db);
    await new Promise((r) => setTimeout(r, 5));
    t.match(await apply(db, deltaFile('hb', [])), { applied: 0, lastSeq: before.lastSeq });
    const after = await syncState(db);
    t.ok(after.lastSyncAt! > before.lastSyncAt!);
  });
  void today;
}
