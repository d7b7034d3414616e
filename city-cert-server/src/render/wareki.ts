/**
 * Dates as certificates print them.
 *
 * Two kinds of input, kept apart on purpose:
 * - an instant (`Date`): a moment in time, printed as the calendar date it is in
 *   Asia/Tokyo (the machine runs in UTC; 2026-11-21T15:30Z is already 11月22日 in Japan);
 * - a calendar date (`'YYYY-MM-DD'`): a birth date or a date of notification, which
 *   is a day, not a moment; it is never shifted by a time zone.
 *
 * 和暦 comes from ICU's Japanese calendar (exact era boundaries, e.g. 1989-01-07 is
 * 昭和64年, 1989-01-08 平成元年); the first year of an era prints as 「元年」.
 * ICU follows the Gregorian calendar only from Meiji 6 (1873), which is the earliest
 * date a resident record can hold, so earlier dates are refused.
 */

const TOKYO = 'Asia/Tokyo';

const japaneseCalendar = new Intl.DateTimeFormat('ja-JP-u-ca-japanese', {
  era: 'long',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  timeZone: 'UTC',
});

const tokyoParts = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  timeZone: TOKYO,
});

/** A day of the Gregorian calendar, with no time and no zone. */
export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parse 'YYYY-MM-DD' strictly (the day must exist). */
export function parseCalendarDate(value: string): CalendarDate {
  const m = ISO_DATE.exec(value);
  if (!m) throw new RangeError(`not a calendar date (YYYY-MM-DD): ${JSON.stringify(value)}`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) {
    throw new RangeError(`no such day: ${value}`);
  }
  return { year, month, day };
}

/** The calendar date an instant falls on in Asia/Tokyo. */
export function tokyoDateOf(instant: Date): CalendarDate {
  if (Number.isNaN(instant.getTime())) throw new RangeError('invalid Date');
  let year = 0;
  let month = 0;
  let day = 0;
  for (const part of tokyoParts.formatToParts(instant)) {
    if (part.type === 'year') year = Number(part.value);
    else if (part.type === 'month') month = Number(part.value);
    else if (part.type === 'day') day = Number(part.value);
  }
  return { year, month, day };
}

function toCalendarDate(value: Date | string | CalendarDate): CalendarDate {
  if (value instanceof Date) return tokyoDateOf(value);
  if (typeof value === 'string') return parseCalendarDate(value);
  return value;
}

/** First day the Japanese calendar is printed for (明治6年1月1日, the switch to Gregorian). */
const MEIJI_6 = Date.UTC(1873, 0, 1);

/**
 * 和暦: 「令和8年11月22日」, 「平成元年1月8日」.
 * A `Date` is read in Asia/Tokyo; a 'YYYY-MM-DD' string is taken as the day it names.
 */
export function formatWareki(value: Date | string | CalendarDate): string {
  const d = toCalendarDate(value);
  const utc = Date.UTC(d.year, d.month - 1, d.day);
  if (utc < MEIJI_6) throw new RangeError('dates before Meiji 6 are not printed in 和暦');
  let era = '';
  let year = '';
  for (const part of japaneseCalendar.formatToParts(new Date(utc))) {
    if (part.type === 'era') era = part.value;
    else if (part.type === 'year') year = part.value;
  }
  if (!era || !/^\d+$/.test(year)) throw new RangeError('ICU gave no Japanese era for this date');
  const y = Number(year) === 1 ? '元' : String(Number(year));
  return `${era}${y}年${d.month}月${d.day}日`;
}

/** Western calendar as printed for foreign residents: 「1963年9月25日」. */
export function formatSeireki(value: Date | string | CalendarDate): string {
  const d = toCalendarDate(value);
  return `${d.year}年${d.month}月${d.day}日`;
}

/** 'YYYYMMDD' of the day in Asia/Tokyo (the issuance number's first field). */
export function yyyymmdd(value: Date | string | CalendarDate): string {
  const d = toCalendarDate(value);
  return `${String(d.year).padStart(4, '0')}${String(d.month).padStart(2, '0')}${String(d.day).padStart(2, '0')}`;
}
