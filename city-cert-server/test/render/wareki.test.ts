import t from 'tap';
import { formatSeireki, formatWareki, parseCalendarDate, tokyoDateOf, yyyymmdd } from '../../src/render/wareki.js';

t.test('era boundaries of calendar dates', async (t) => {
  t.equal(formatWareki('1989-01-07'), '昭和64年1月7日');
  t.equal(formatWareki('1989-01-08'), '平成元年1月8日');
  t.equal(formatWareki('2019-04-30'), '平成31年4月30日');
  t.equal(formatWareki('2019-05-01'), '令和元年5月1日');
  t.equal(formatWareki('1926-12-24'), '大正15年12月24日');
  t.equal(formatWareki('1926-12-25'), '昭和元年12月25日');
  t.equal(formatWareki('1912-07-30'), '大正元年7月30日');
  t.equal(formatWareki('1873-01-01'), '明治6年1月1日');
  t.equal(formatWareki('2026-11-22'), '令和8年11月22日');
  t.throws(() => formatWareki('1872-12-31'), RangeError, 'before Meiji 6');
});

t.test('a calendar date is never shifted by a time zone', async (t) => {
  t.equal(formatWareki('1963-09-25'), '昭和38年9月25日');
  t.equal(formatSeireki('1963-09-25'), '1963年9月25日');
  t.equal(formatWareki('2000-01-01'), '平成12年1月1日');
  t.throws(() => parseCalendarDate('2023-02-29'), RangeError);
  t.throws(() => parseCalendarDate('1963-9-25'), RangeError);
});

t.test('an instant is dated in Asia/Tokyo', async (t) => {
  const lateUtc = new Date('2026-11-21T15:30:00Z'); // 2026-11-22 00:30 in Tokyo
  t.same(tokyoDateOf(lateUtc), { year: 2026, month: 11, day: 22 });
  t.equal(formatWareki(lateUtc), '令和8年11月22日');
  t.equal(yyyymmdd(lateUtc), '20261122');
  t.equal(formatWareki(new Date('2026-11-21T14:59:59Z')), '令和8年11月21日');
  t.equal(formatWareki(new Date('2019-04-30T15:00:00Z')), '令和元年5月1日');
  t.equal(formatSeireki(new Date('2026-12-31T15:00:00Z')), '2027年1月1日');
});
