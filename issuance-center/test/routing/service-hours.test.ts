import t from 'tap';
import { checkHours, isOpen, parseHours, STANDARD_HOURS } from '../../src/routing/service-hours.js';
import { cardKit } from '../auth/helpers.js';
import { CITY_CODE, MENU, startCentre } from '../helpers/centre.js';

/** An instant given as Asia/Tokyo wall-clock time. */
const jst = (s: string) => new Date(`${s}+09:00`);

t.test('6:30-23:00 Asia/Tokyo, closed 12/29-1/3', async (t) => {
  const h = STANDARD_HOURS;
  t.notOk(isOpen(h, jst('2026-05-12T06:29:59')), '6:29 closed');
  t.ok(isOpen(h, jst('2026-05-12T06:30:00')), '6:30 open');
  t.ok(isOpen(h, jst('2026-05-12T22:59:59')), '22:59 open');
  t.notOk(isOpen(h, jst('2026-05-12T23:00:00')), '23:00 closed');
  t.notOk(isOpen(h, jst('2026-12-29T12:00:00')), '12/29 closed');
  t.notOk(isOpen(h, jst('2027-01-03T12:00:00')), '1/3 closed');
  t.ok(isOpen(h, jst('2027-01-04T12:00:00')), '1/4 open');
  t.ok(isOpen(h, jst('2026-12-28T22:00:00')), '12/28 open');
  // 2026-05-12 15:00 UTC is 5/13 00:00 in Tokyo: the Tokyo date and time count.
  t.notOk(isOpen(h, new Date('2026-05-12T15:00:00Z')));
  t.ok(isOpen(h, new Date('2026-05-12T21:30:00Z')), '06:30 JST the next morning');
});

t.test('per-type hours: koseki on weekdays only, 8:30-19:00', async (t) => {
  const h = parseHours({ byType: { 'koseki-full': { days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '08:30', close: '19:00' } } });
  const sat = jst('2026-05-16T10:00:00');
  const mon = jst('2026-05-18T10:00:00');
  t.ok(isOpen(h, sat, 'resident-record'));
  t.notOk(isOpen(h, sat, 'koseki-full'), 'Saturday');
  t.ok(isOpen(h, mon, 'koseki-full'), 'Monday 10:00');
  t.notOk(isOpen(h, jst('2026-05-18T19:30:00'), 'koseki-full'), 'Monday 19:30');
  t.throws(() => checkHours('enforce', h, CITY_CODE, sat, 'koseki-full'), { code: 'CERT_TYPE_OUTSIDE_HOURS' });
  t.throws(() => checkHours('enforce', h, CITY_CODE, jst('2026-05-16T03:00:00'), 'resident-record'), { code: 'OUTSIDE_SERVICE_HOURS' });
  t.doesNotThrow(() => checkHours('always-open', h, CITY_CODE, jst('2026-05-16T03:00:00'), 'koseki-full'));
  t.throws(() => parseHours({ open: '6:30' }), /HH:MM/);
  t.throws(() => parseHours({ byType: { seal: { days: ['funday'] } } }), /weekday/);
});

t.test('the centre refuses outside hours when enforcing, with the replaceable clock', async (t) => {
  let now = jst('2026-05-16T02:00:00'); // Saturday, 2:00
  const kit = await cardKit(now);
  const hours = parseHours({ byType: { 'resident-record': { days: ['mon', 'tue', 'wed', 'thu', 'fri'] } } });
  const c = await startCentre({ kit, centre: { now: () => now, serviceHours: 'enforce' } });
  t.teardown(() => c.close());
  c.app.directory.city(CITY_CODE)!.hours = hours;

  const k = await c.kiosk();
  const night = await k.login(c.kit, c.card);
  t.equal(night.answer?.type, 'error');
  t.equal(night.answer?.code, 'OUTSIDE_SERVICE_HOURS', '2:00 JST: closed');
  t.notOk(c.city.calls.includes('/v1/menu'), 'the city was not asked');
  t.ok(c.logs.some((l) => l.event === 'audit' && l.code === 'OUTSIDE_SERVICE_HOURS'), 'audited');

  now = jst('2026-05-16T10:00:00'); // Saturday 10:00: open, but not resident-record
  const day = await k.login(c.kit, c.card);
  t.equal(day.answer?.type, 'session.menu');
  t.same(day.answer?.items, [], 'the type outside its hours left the menu');
  t.same(day.answer?.refusals, [{ certType: 'resident-record', code: 'CERT_TYPE_OUTSIDE_HOURS' }], '…and is shown with its reason');
  k.send({ type: 'issue.request', sessionId: day.sessionId, certType: 'resident-record', options: {}, copies: 1 });
  const refused = await k.message();
  t.equal(refused?.code, 'CERT_TYPE_OUTSIDE_HOURS', 'a request for it anyway is refused');
  t.notOk(c.city.calls.includes('/v1/issue'));

  now = jst('2026-05-18T10:00:00'); // Monday
  const monday = await k.login(c.kit, c.card);
  t.same(monday.answer?.items, MENU.items, 'Monday: on the menu');
});

t.test('always-open (the buildApp default) serves at 2:00 on 1/1', async (t) => {
  const now = jst('2027-01-01T02:00:00');
  const c = await startCentre({ kit: await cardKit(now), centre: { now: () => now } });
  t.teardown(() => c.close());
  const k = await c.kiosk();
  t.equal((await k.login(c.kit, c.card)).answer?.type, 'session.menu');
});
