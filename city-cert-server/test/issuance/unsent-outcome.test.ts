/**
 * The 交付記録 of a document that never left: the worker reserved the issuance id and
 * was killed (or still renders) before the PDF was sent. The centre records such an
 * issuance failed, not charged, and tells the city; the city's record must then say
 * failed too, not "issued" for ever. A document that never left is never recorded
 * printed, and a printed record is never turned into anything else. On PGlite and
 * on the PostgreSQL server, where a restarted worker is a second connection pool.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { CityIssueRequest, Binding } from '@konbini/protocol';
import { issue, outcome, type IssuanceDeps } from '../../src/issuance/service.js';
import { issuanceRecord, type Db } from '../../src/replica/index.js';
import { renderAndBind } from '../../src/render/resident-record.js';
import { unprintable } from '../../src/render/fonts.js';
import type { CertificateModel } from '../../src/render/model.js';
import { testDataset, SERIAL } from '../helpers/dataset.js';
import { backends } from '../replica/backends.js';
import { perBackend } from '../sync/helpers.js';

const now = new Date();
const { dataset } = testDataset(now);
const { list, skipped } = await backends();
if (skipped) t.comment(`PostgreSQL skipped: ${skipped}`);

type Render = IssuanceDeps['render'];
const realRender: Render = (model, hmac) => renderAndBind(model, hmac, null);

function deps(db: Db, render: Render = realRender): IssuanceDeps {
  return { db, printable: (text) => unprintable(text).length === 0, now: () => now, render, log: pino({ level: 'silent' }) };
}

const request = (): CityIssueRequest => ({
  issuanceId: randomUUID(),
  cardSerial: SERIAL.takahashi,
  kioskId: 'K0001',
  certType: 'resident-record',
  options: { scope: 'self' },
  copies: 1,
});

/** A render held until the test lets it go: the moment between the reservation and the document. */
function heldRender(): { render: Render; started: Promise<void>; finish(): void } {
  let started!: () => void;
  let finish!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const gate = new Promise<void>((r) => (finish = r));
  return {
    started: startedP,
    finish,
    render: async (model: CertificateModel, hmac: string): Promise<{ pdf: Buffer; binding: Binding }> => {
      started();
      await gate;
      return realRender(model, hmac);
    },
  };
}

const code = (p: Promise<unknown>) => p.then(() => 'accepted', (e: { code?: string }) => e.code);

perBackend(list, dataset, async (t, db, backend) => {
  t.test('worker killed after the reservation: the centre\'s "failed" closes the record, "printed" never does', async (t) => {
    const req = request();
    const held = heldRender();
    // The worker reserves, starts rendering and dies: its issue() never ends.
    void issue(deps(db, held.render), req).catch(() => undefined);
    await held.started;
    t.match(await issuanceRecord(db, req.issuanceId), { status: 'issued', documentSha256: null, outcomeAt: null }, 'reserved, nothing sent');

    // The restarted worker: on PostgreSQL a new pool on the same database.
    const restarted = backend.name === 'postgres' ? await backend.open() : db;
    const d = deps(restarted);
    t.equal(await code(outcome(d, { issuanceId: req.issuanceId, outcome: 'printed', copiesPrinted: 1 })), 'MESSAGE_OUT_OF_ORDER', 'a document that never left cannot be recorded printed');
    t.match(await issuanceRecord(restarted, req.issuanceId), { status: 'issued' }, 'unchanged by the refused "printed"');

    t.same(await outcome(d, { issuanceId: req.issuanceId, outcome: 'failed', copiesPrinted: 0 }), { issuanceId: req.issuanceId, recorded: true });
    const closed = await issuanceRecord(restarted, req.issuanceId);
    t.match(closed, { status: 'failed', copiesPrinted: 0, documentSha256: null }, 'the 交付記録 agrees with the centre: failed, nothing printed');
    t.ok(closed?.outcomeAt, 'with the time of the outcome');

    t.same(await outcome(d, { issuanceId: req.issuanceId, outcome: 'failed', copiesPrinted: 0 }), { issuanceId: req.issuanceId, recorded: true }, 'the notice sent again: the same answer');
    t.equal(await code(outcome(d, { issuanceId: req.issuanceId, outcome: 'printed', copiesPrinted: 1 })), 'MESSAGE_OUT_OF_ORDER', 'and "printed" still refused');
    t.same(await issuanceRecord(restarted, req.issuanceId), closed, 'record unchanged');

    // The dead worker's render is let go only to end the test: see the next test for a live one.
    held.finish();
  });

  t.test('the centre gave up while the worker still rendered: the document is never sent, the record stays failed', async (t) => {
    const req = request();
    const held = heldRender();
    const issuing = issue(deps(db, held.render), req);
    await held.started;
    t.same(await outcome(deps(db), { issuanceId: req.issuanceId, outcome: 'failed', copiesPrinted: 0 }), { issuanceId: req.issuanceId, recorded: true });
    held.finish();
    await t.rejects(issuing, { code: 'MESSAGE_OUT_OF_ORDER' }, 'the rendered document is dropped, not sent');
    t.match(await issuanceRecord(db, req.issuanceId), { status: 'failed', copiesPrinted: 0, documentSha256: null }, 'failed, as the centre has it');
  });

  t.test('a sent document: "failed" after it is recorded failed; a printed record never becomes anything else', async (t) => {
    const failedReq = request();
    const sent = await issue(deps(db), failedReq);
    t.match(await issuanceRecord(db, failedReq.issuanceId), { status: 'issued', documentSha256: sent.sha256 });
    await outcome(deps(db), { issuanceId: failedReq.issuanceId, outcome: 'failed', copiesPrinted: 0 });
    t.match(await issuanceRecord(db, failedReq.issuanceId), { status: 'failed', copiesPrinted: 0, documentSha256: sent.sha256 });

    const printedReq = request();
    await issue(deps(db), printedReq);
    await outcome(deps(db), { issuanceId: printedReq.issuanceId, outcome: 'printed', copiesPrinted: 1 });
    const printed = await issuanceRecord(db, printedReq.issuanceId);
    t.match(printed, { status: 'printed', copiesPrinted: 1 });
    t.same(await outcome(deps(db), { issuanceId: printedReq.issuanceId, outcome: 'failed', copiesPrinted: 0 }), { issuanceId: printedReq.issuanceId, recorded: true }, 'a later "failed": the first outcome stands');
    t.same(await issuanceRecord(db, printedReq.issuanceId), printed, 'still printed');
  });
});
