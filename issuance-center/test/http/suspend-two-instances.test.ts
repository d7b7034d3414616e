import t from 'tap';
import { pgDatabase } from '../ledger/helpers.js';
import { cardKit } from '../auth/helpers.js';
import { CITY_CODE, startCentre, type TestCentre } from '../helpers/centre.js';
import { operatorRecord, OpsClient } from '../ops/helpers.js';

t.setTimeout(120_000);

/** Resolves with the milliseconds until `c` sees the city in `status`. */
function seen(c: TestCentre, status: 'active' | 'suspended'): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const check = () => {
      if (c.app.directory.city(CITY_CODE)?.status === status) {
        c.app.directory.events.off('change', check);
        resolve(performance.now() - started);
      }
    };
    c.app.directory.events.on('change', check);
    check();
  });
}

t.test('suspend on one instance, refused by the other within a second (PostgreSQL LISTEN/NOTIFY)', async (t) => {
  const pg = await pgDatabase(t);
  if (!pg.url) return t.skip(pg.why);
  const kit = await cardKit(new Date());
  const alice = await operatorRecord('alice');
  const consoleOpts = { listen: { host: '127.0.0.1', port: 0 }, operators: [alice] };
  const a = await startCentre({ kit, centre: { ledgerDb: { url: pg.url }, console: consoleOpts } });
  t.teardown(() => a.close());
  const b = await startCentre({ kit, centre: { ledgerDb: { url: pg.url }, console: consoleOpts } });
  t.teardown(() => b.close());
  // One directory: a link added through either instance is there for both.
  await a.app.directory.linkCard({ serial: b.card.serial, cityCode: CITY_CODE, validFrom: '2000-01-01' });
  const kb = await b.kiosk('kiosk-K0002');
  const before = await kb.login(b.kit, a.card, 'K0002');
  t.equal(before.answer?.type, 'session.menu', 'B routes a card A linked');

  // Suspended on A (as the directory is changed): B's next request is refused.
  const onB = seen(b, 'suspended');
  await a.app.directory.setCityStatus(CITY_CODE, 'suspended');
  const ms = await Promise.race([onB, new Promise<number>((r) => setTimeout(() => r(Infinity), 1000))]);
  t.ok(ms < 1000, `B knew within ${Math.round(ms)} ms`);
  kb.send({ type: 'issue.request', sessionId: before.sessionId, certType: 'resident-record', options: {}, copies: 1 });
  t.equal((await kb.message())?.code, 'CITY_SUSPENDED', 'a session B had authenticated before: its request is refused');
  t.equal((await kb.login(b.kit, b.card, 'K0002')).answer?.code, 'CITY_SUSPENDED', 'a new session on B: refused');
  t.notOk(a.city.calls.includes('/v1/issue') || b.city.calls.includes('/v1/issue'), 'no city was asked to issue');

  // Through A's operator console: resume, then suspend again.
  const op = new OpsClient(a.app.operatorConsole!.url());
  t.equal((await op.login(alice, new Date())).status, 200);
  const resumed = seen(b, 'active');
  t.equal((await op.call('POST', `/api/cities/${CITY_CODE}/resume`, {})).status, 200);
  t.ok((await resumed) < 1000, 'resume reached B');
  t.equal((await kb.login(b.kit, b.card, 'K0002')).answer?.type, 'session.menu', 'B serves again');
  const again = seen(b, 'suspended');
  t.equal((await op.call('POST', `/api/cities/${CITY_CODE}/suspend`, {})).status, 200);
  const ms2 = await Promise.race([again, new Promise<number>((r) => setTimeout(() => r(Infinity), 1000))]);
  t.ok(ms2 < 1000, `suspension through the console reached B within ${Math.round(ms2)} ms`);
  t.equal((await kb.login(b.kit, b.card, 'K0002')).answer?.code, 'CITY_SUSPENDED');

  // One audit log: B's console shows what the operator did on A; A's session is valid on B (one session table).
  const onBConsole = new OpsClient(b.app.operatorConsole!.url());
  onBConsole.cookie = op.cookie;
  const events = (await onBConsole.call('GET', '/api/audit')).body.events as { actor: string; action: string; outcome: string }[];
  t.same(
    events.filter((e) => e.action.startsWith('city-')).map((e) => `${e.actor} ${e.action} ${e.outcome}`),
    ['operator:alice city-suspend ok', 'operator:alice city-resume ok'],
    "A's actions in the one audit log, seen from B",
  );
});
