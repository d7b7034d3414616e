import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CARD_LINK_API, serialRef } from '../../src/http/city-api.js';
import { fingerprintOf } from '../../src/routing/city-client.js';
import { cardKit, type CardKit } from '../auth/helpers.js';
import { CITY_CODE, startCentre } from '../helpers/centre.js';

t.setTimeout(120_000);
const OTHER = '993034';

/** A city's server calling the centre's LGWAN-side API with its client certificate. */
function cityCall(kit: CardKit, port: number, certName: string | undefined, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const e = certName ? kit.pki.entry(certName) : undefined;
  const payload = Buffer.from(JSON.stringify(body));
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

t.test('cities maintain their card links over the LGWAN leg; a link works from the next day', async (t) => {
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
  let firstSerial: string | undefined;
  const start = (seedCards = false) =>
    startCentre({
      kit,
      centre: { now: () => clock.now, ledgerDb: { dataDir: dir }, cityApiListen: { host: '127.0.0.1', port: 0 } },
      directory: (seed) => ({ cities: [...seed.cities, otherCity], cards: seedCards ? [{ serial: firstSerial!, cityCode: CITY_CODE, validFrom: '2000-01-01' }] : [], kiosks: seed.kiosks }),
    });
  let c = await start();
  t.teardown(() => c.close());
  const port = () => c.app.cityApi!.port();
  const serial = c.card.serial;
  const card = c.card;
  firstSerial = serial;
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
