import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CARD_LINK_API, MAX_CARD_LINK_BATCH } from '@konbini/protocol';
import { serialRef } from '../../src/http/city-api.js';
import { fingerprintOf } from '../../src/routing/city-client.js';
import type { CardEntry } from '../../src/routing/directory.js';
import { cardKit, type CardKit } from '../auth/helpers.js';
import { CITY_CODE, startCentre } from '../helpers/centre.js';

t.setTimeout(300_000);
const OTHER = '993034';

/** A city's server calling the centre's LGWAN-side API with its client certificate. */
function cityCall(kit: CardKit, port: number, certName: string | undefined, path: string, body: unknown | Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const e = certName ? kit.pki.entry(certName) : undefined;
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        servername: 'localhost',
        ca: kit.pki.lgwan.ca.certPem,
        key: e?.keyPem,
        cert: e?.certPem,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A centre (its SQL directory in a PGlite directory of the test) that serves our city and OTHER; the clock at 12:00 JST. */
async function centreWithTwoCities(t: Test, cards: (firstSerial: string | undefined) => CardEntry[] = () => []) {
  const clock = { now: new Date('2026-05-12T03:00:00Z') }; // 12:00 JST
  const kit = await cardKit(clock.now);
  const dir = mkdtempSync(join(tmpdir(), 'centre-dir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const otherCity = {
    code: OTHER,
    name: '風待町',
    prefecture: '東雲県',
    endpoint: 'https://localhost:1',
    fingerprint256: fingerprintOf(kit.pki.entry(`lgwan-city-${OTHER}`).certPem),
    status: 'active' as const,
    fees: {},
  };
  let first: string | undefined;
  const start = async () => {
    const c = await startCentre({
      kit,
      centre: { now: () => clock.now, ledgerDb: { dataDir: dir }, cityApiListen: { host: '127.0.0.1', port: 0 } },
      directory: (seed) => ({ cities: [...seed.cities, otherCity], cards: cards(first), kiosks: seed.kiosks }),
    });
    first ??= c.card.serial;
    return c;
  };
  return { clock, kit, start };
}

t.test('cities maintain their card links over the LGWAN leg; a link works from the next day', async (t) => {
  // a restart may seed the first card again (the configuration lists it): a removed link must stay removed
  let seedCards = false;
  const { clock, kit, start: startWith } = await centreWithTwoCities(t, (first) => (seedCards && first ? [{ serial: first, cityCode: CITY_CODE, validFrom: '2000-01-01' }] : []));
  const start = (seed = false) => {
    seedCards = seed;
    return startWith();
  };
  let c = await start();
  t.teardown(() => c.close());
  const port = () => c.app.cityApi!.port();
  const serial = c.card.serial;
  const card = c.card;
  const mine = `lgwan-city-${CITY_CODE}`;

  const k = await c.kiosk();
  t.equal((await k.login(c.kit, c.card)).answer?.code, 'CARD_NOT_LINKED', 'not linked yet');

  const added = await cityCall(kit, port(), mine, CARD_LINK_API.add, { serial });
  t.equal(added.status, 200);
  t.same(added.body, { serial: serial.toLowerCase(), cityCode: CITY_CODE, validFrom: '2026-05-13' }, 'valid from the next Tokyo day');
  t.equal((await k.login(c.kit, c.card)).answer?.code, 'CARD_LINK_NOT_YET_VALID', 'the day it is added: refused');
  clock.now = new Date('2026-05-12T15:00:00Z'); // 00:00 JST on the 13th
  const next = await k.login(c.kit, c.card);
  t.equal(next.answer?.type, 'session.menu', 'from the next day: routed to the city', { answer: next.answer });
  const again = await cityCall(kit, port(), mine, CARD_LINK_API.add, { serial });
  t.equal(again.body.validFrom, '2026-05-13', 'adding again changes nothing');

  // Another city may not touch it.
  const steal = await cityCall(kit, port(), `lgwan-city-${OTHER}`, CARD_LINK_API.remove, { serial });
  t.equal(steal.status, 403);
  t.equal(steal.body.code, 'FORBIDDEN');
  const take = await cityCall(kit, port(), `lgwan-city-${OTHER}`, CARD_LINK_API.add, { serial });
  t.equal(take.body.code, 'FORBIDDEN', 'nor link it to itself');
  t.equal((await k.login(c.kit, c.card)).answer?.type, 'session.menu', 'the link is unchanged');
  const refusals = (await c.app.audit.list()).filter((e) => e.actor === `city:${OTHER}`);
  t.same(
    refusals.map((e) => [e.action, e.outcome, e.code, e.target]),
    [
      ['card-link-add', 'refused', 'FORBIDDEN', serialRef(serial)],
      ['card-link-remove', 'refused', 'FORBIDDEN', serialRef(serial)],
    ],
    'both refusals audited, with a hash of the serial, not the serial',
  );
  t.ok(c.logs.some((l) => l.event === 'audit' && l.action === 'card-link-remove' && l.code === 'FORBIDDEN' && l.cityCode === OTHER));
  t.notOk(JSON.stringify(c.logs).includes(serial), 'the serial is in no log line');

  // A certificate from the LGWAN CA that no city pins, and no certificate at all.
  const impostor = await cityCall(kit, port(), `lgwan-impostor-${CITY_CODE}`, CARD_LINK_API.remove, { serial });
  t.equal(impostor.body.code, 'FORBIDDEN', 'CA trust alone is not enough');
  await t.rejects(cityCall(kit, port(), undefined, CARD_LINK_API.remove, { serial }), 'no client certificate: no handshake');
  const bad = await cityCall(kit, port(), mine, CARD_LINK_API.add, { serial: 'not hex', extra: 1 });
  t.equal(bad.status, 400);
  t.equal(bad.body.code, 'MESSAGE_INVALID');

  // Its own city removes it; the removal and a suspension outlive a restart.
  const removed = await cityCall(kit, port(), mine, CARD_LINK_API.remove, { serial });
  t.equal(removed.status, 200);
  t.equal((await k.login(c.kit, c.card)).answer?.code, 'CARD_NOT_LINKED', 'removed: refused');
  const missing = await cityCall(kit, port(), mine, CARD_LINK_API.remove, { serial });
  t.equal(missing.body.code, 'CARD_NOT_LINKED');
  await c.app.directory.setCityStatus(OTHER, 'suspended');
  const ok = (await c.app.audit.list()).filter((e) => e.actor === `city:${CITY_CODE}` && e.outcome === 'ok').map((e) => e.action);
  t.same(ok, ['card-link-remove', 'card-link-add', 'card-link-add'], 'its own changes audited too');
  await c.close();

  c = await start(true); // the configuration's seed lists the card again
  t.equal(c.app.directory.city(OTHER)?.status, 'suspended', 'status kept across a restart (the seed does not reset it)');
  const k2 = await c.kiosk();
  t.equal((await k2.login(c.kit, card)).answer?.code, 'CARD_NOT_LINKED', 'a removed link stays removed, whatever the seed says');
});

t.test('a batch of card link changes: in order, one transaction, stops at the first refusal; bad batches refused whole', async (t) => {
  const { clock, kit, start } = await centreWithTwoCities(t);
  const c = await start();
  t.teardown(() => c.close());
  const port = c.app.cityApi!.port();
  const mine = `lgwan-city-${CITY_CODE}`;
  const theirs = `lgwan-city-${OTHER}`;
  const [a, b, x, y, z] = ['0a0001', '0a0002', '0a0003', '0b0001', '0b0002'];
  const linked = async (serial: string) => {
    clock.now = new Date('2026-05-13T03:00:00Z'); // the next day, when new links are in force
    try {
      return await c.app.directory.cityForCard(serial, clock.now).then((city) => city.code, (e: { code?: string }) => e.code);
    } finally {
      clock.now = new Date('2026-05-12T03:00:00Z');
    }
  };

  const first = await cityCall(kit, port, mine, CARD_LINK_API.batch, {
    changes: [
      { op: 'add', serial: a },
      { op: 'add', serial: b.toUpperCase() },
      { op: 'remove', serial: a },
      { op: 'remove', serial: x },
      { op: 'add', serial: b },
    ],
  });
  t.equal(first.status, 200);
  t.same(first.body, { applied: 5, notLinked: 1 }, 'all applied; the removal of a link nobody holds is the state wanted, counted');
  t.equal(await linked(b), CITY_CODE, 'added (case of the serial does not matter)');
  t.equal(await linked(a), 'CARD_NOT_LINKED', 'add then remove in one batch: removed in the end');
  t.equal(await c.app.directory.cityForCard(b, clock.now).catch((e: { code?: string }) => e.code), 'CARD_LINK_NOT_YET_VALID', 'a link from a batch is in force from the next day, like one from a single call');

  const second = await cityCall(kit, port, theirs, CARD_LINK_API.batch, {
    changes: [
      { op: 'add', serial: y },
      { op: 'remove', serial: b },
      { op: 'add', serial: z },
    ],
  });
  t.equal(second.status, 200);
  t.same(second.body, { applied: 1, notLinked: 0, refused: { index: 1, code: 'FORBIDDEN' } }, 'another city’s card: refused at its place');
  t.equal(await linked(y), OTHER, 'the change before it took effect');
  t.equal(await linked(b), CITY_CODE, 'the refused change did not');
  t.equal(await linked(z), 'CARD_NOT_LINKED', 'nor anything after it (the city sends those again)');

  const audit = (await c.app.audit.list()).reverse().filter((e) => e.action.startsWith('card-link'));
  t.same(
    audit.map((e) => [e.actor, e.action, e.target, e.outcome, e.code ?? null]),
    [
      [`city:${CITY_CODE}`, 'card-link-add', serialRef(a), 'ok', null],
      [`city:${CITY_CODE}`, 'card-link-add', serialRef(b), 'ok', null],
      [`city:${CITY_CODE}`, 'card-link-remove', serialRef(a), 'ok', null],
      [`city:${CITY_CODE}`, 'card-link-remove', serialRef(x), 'refused', 'CARD_NOT_LINKED'],
      [`city:${CITY_CODE}`, 'card-link-add', serialRef(b), 'ok', null],
      [`city:${OTHER}`, 'card-link-add', serialRef(y), 'ok', null],
      [`city:${OTHER}`, 'card-link-remove', serialRef(b), 'refused', 'FORBIDDEN'],
    ],
    'each change audited in order as its single call would be; nothing after the refusal',
  );
  t.ok(c.logs.some((l) => l.event === 'audit' && l.action === 'card-link-remove' && l.code === 'FORBIDDEN' && l.cityCode === OTHER), 'the refusal logged');
  for (const s of [a, b, x, y, z]) t.notOk(JSON.stringify(c.logs).includes(s), 'no serial in the log');

  // Bad batches: refused whole, nothing applied.
  const many = Array.from({ length: MAX_CARD_LINK_BATCH + 1 }, (_, i) => ({ op: 'add', serial: (0xc00000 + i).toString(16) }));
  const cases: [string, string | undefined, unknown, number, string][] = [
    ['empty', mine, { changes: [] }, 400, 'MESSAGE_INVALID'],
    ['too many changes', mine, { changes: many }, 400, 'MESSAGE_INVALID'],
    ['an unknown op', mine, { changes: [{ op: 'add', serial: 'c1' }, { op: 'move', serial: 'c2' }] }, 400, 'MESSAGE_INVALID'],
    ['a serial that is not hex', mine, { changes: [{ op: 'add', serial: 'c1' }, { op: 'add', serial: 'zz' }] }, 400, 'MESSAGE_INVALID'],
    ['an extra field', mine, { changes: [{ op: 'add', serial: 'c1' }], all: true }, 400, 'MESSAGE_INVALID'],
    ['not JSON', mine, Buffer.from('{"changes": [{"op": "add", "serial": "c1"}'), 400, 'MESSAGE_INVALID'],
    ['over the body limit', mine, Buffer.from(JSON.stringify({ changes: [{ op: 'add', serial: 'c1' }], pad: 'x'.repeat(140_000) })), 413, 'MESSAGE_TOO_LARGE'],
    ['a certificate no city pins', `lgwan-impostor-${CITY_CODE}`, { changes: [{ op: 'add', serial: 'c1' }] }, 403, 'FORBIDDEN'],
  ];
  for (const [name, cert, body, status, code] of cases) {
    const r = await cityCall(kit, port, cert, CARD_LINK_API.batch, body);
    t.equal(r.status, status, `${name}: ${status}`);
    t.equal(r.body.code, code, `${name}: ${code}`);
  }
  t.equal(await linked('c1'), 'CARD_NOT_LINKED', 'no bad batch applied anything');
  t.equal(await linked('c00000'), 'CARD_NOT_LINKED');
});

t.test('two cities adding the same new card in batches at the same moment: one holds it, the other is told FORBIDDEN', async (t) => {
  const { kit, start } = await centreWithTwoCities(t);
  const c = await start();
  t.teardown(() => c.close());
  const port = c.app.cityApi!.port();
  for (let round = 0; round < 5; round++) {
    const contested = (0xd00000 + round).toString(16);
    const own = (city: string) => (0xe00000 + round * 2 + (city === CITY_CODE ? 0 : 1)).toString(16);
    const [r1, r2] = await Promise.all(
      [CITY_CODE, OTHER].map((city) =>
        cityCall(kit, port, `lgwan-city-${city}`, CARD_LINK_API.batch, { changes: [{ op: 'add', serial: own(city) }, { op: 'add', serial: contested }] }),
      ),
    );
    const answers = [r1!.body, r2!.body];
    t.equal(answers.filter((b) => b.applied === 2).length, 1, `round ${round}: exactly one city got the card`);
    t.equal(answers.filter((b) => JSON.stringify(b.refused) === JSON.stringify({ index: 1, code: 'FORBIDDEN' })).length, 1, `round ${round}: the other was refused at that change`);
    const winner = r1!.body.applied === 2 ? CITY_CODE : OTHER;
    const held = await c.app.directory.cityForCard(contested, new Date('2026-05-13T03:00:00Z'));
    t.equal(held.code, winner, `round ${round}: the directory agrees with the answers`);
  }
});
