/**
 * Koseki-side hours (FORMS.md: koseki certificates at kiosks are often weekdays in
 * office hours only). Configurable; evaluated in Asia/Tokyo on an injectable clock.
 */
export interface KosekiHours {
  /** HH:MM, Asia/Tokyo; open <= t < close. */
  open: string;
  close: string;
  /** Days of the week served, 0 = Sunday ... 6 = Saturday. */
  weekdays: number[];
  /** MM-DD days closed (年末年始) and YYYY-MM-DD closed dates (holidays). */
  closedDays: string[];
}

export const DEFAULT_KOSEKI_HOURS: KosekiHours = {
  open: '09:00',
  close: '17:00',
  weekdays: [1, 2, 3, 4, 5],
  closedDays: ['12-29', '12-30', '12-31', '01-01', '01-02', '01-03'],
};

/** Always open: for development and tests that are not about hours. */
export const ALWAYS_OPEN: KosekiHours = { open: '00:00', close: '24:00', weekdays: [0, 1, 2, 3, 4, 5, 6], closedDays: [] };

const parts = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Tokyo',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  weekday: 'short',
});
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

export function withinKosekiHours(at: Date, hours: KosekiHours): boolean {
  const p = Object.fromEntries(parts.formatToParts(at).map((x) => [x.type, x.value]));
  const date = `${p.year}-${p.month}-${p.day}`;
  if (!hours.weekdays.includes(WEEKDAY[p.weekday!]!)) return false;
  if (hours.closedDays.includes(date.slice(5)) || hours.closedDays.includes(date)) return false;
  const hm = `${p.hour}:${p.minute}`;
  return hm >= hours.open && hm < hours.close;
}

/** `--hours 09:00-17:00 --days 1-5` (or `mon-fri`, or `1,2,3`) → KosekiHours. */
export function parseKosekiHours(range?: string, days?: string, closed?: string[]): KosekiHours {
  const h: KosekiHours = { ...DEFAULT_KOSEKI_HOURS, closedDays: [...DEFAULT_KOSEKI_HOURS.closedDays] };
  if (range) {
    const m = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(range);
    if (!m || m[1]! >= m[2]!) throw new Error('--koseki-hours is HH:MM-HH:MM (e.g. 09:00-17:00)');
    h.open = m[1]!;
    h.close = m[2]!;
  }
  if (days) {
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const num = (s: string) => {
      const n = /^\d$/.test(s) ? Number(s) : names.indexOf(s.toLowerCase());
      if (n < 0 || n > 6) throw new Error('--koseki-days: 0-6 or sun..sat, as a range (1-5) or a list (1,2,3)');
      return n;
    };
    const range2 = /^(\w+)-(\w+)$/.exec(days);
    if (range2) {
      const [a, b] = [num(range2[1]!), num(range2[2]!)];
      h.weekdays = [];
      for (let d = a; d <= b; d++) h.weekdays.push(d);
    } else h.weekdays = days.split(',').map(num);
  }
  if (closed) h.closedDays = closed;
  return h;
}
