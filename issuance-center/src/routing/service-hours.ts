import { DEFAULT_SERVICE_HOURS, KonbiniError, type CertType } from '@konbini/protocol';

export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Hours a city sets for one certificate type, within its own hours. */
export interface TypeHours {
  /** Days of the week it is issued (Asia/Tokyo); absent: every day the city is open. */
  days?: Weekday[];
  /** HH:MM Asia/Tokyo; absent: the city's. */
  open?: string;
  close?: string;
}

/** A city's service hours, Asia/Tokyo. */
export interface CityHours {
  open: string;
  close: string;
  /** MM-DD days closed (年末年始). */
  closedDays: string[];
  byType?: Partial<Record<CertType, TypeHours>>;
}

/**
 * Whether hours are enforced: `enforce` applies each city's hours (default
 * 6:30-23:00, closed 12/29-1/3); `always-open` is for development and tests
 * that must run at any hour.
 */
export type ServiceHoursMode = 'enforce' | 'always-open';

export const STANDARD_HOURS: CityHours = { ...DEFAULT_SERVICE_HOURS, closedDays: [...DEFAULT_SERVICE_HOURS.closedDays] };

const HHMM = /^([01]\d|2[0-4]):([0-5]\d)$/;

export function parseHours(value: unknown): CityHours {
  const v = (value ?? {}) as Partial<CityHours>;
  const hours: CityHours = {
    open: v.open ?? STANDARD_HOURS.open,
    close: v.close ?? STANDARD_HOURS.close,
    closedDays: v.closedDays ?? STANDARD_HOURS.closedDays,
    ...(v.byType ? { byType: v.byType } : {}),
  };
  const times = [hours.open, hours.close, ...Object.values(hours.byType ?? {}).flatMap((t) => [t?.open, t?.close].filter((x): x is string => x !== undefined))];
  for (const t of times) if (!HHMM.test(t)) throw new RangeError(`service hours: ${t} is not HH:MM`);
  for (const d of hours.closedDays) if (!/^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/.test(d)) throw new RangeError(`service hours: ${d} is not MM-DD`);
  for (const t of Object.values(hours.byType ?? {})) for (const d of t?.days ?? []) if (!WEEKDAYS.includes(d)) throw new RangeError(`service hours: ${d} is not a weekday`);
  return hours;
}

/** Asia/Tokyo wall clock of an instant. */
export function tokyoClock(now: Date): { monthDay: string; minutes: number; weekday: Weekday } {
  const t = new Date(now.getTime() + 9 * 3600_000); // Japan has no daylight saving time
  const mm = String(t.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(t.getUTCDate()).padStart(2, '0');
  return { monthDay: `${mm}-${dd}`, minutes: t.getUTCHours() * 60 + t.getUTCMinutes(), weekday: WEEKDAYS[t.getUTCDay()]! };
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Open at `now`? [open, close): 23:00 itself is closed. */
export function isOpen(hours: CityHours, now: Date, certType?: CertType): boolean {
  const c = tokyoClock(now);
  if (hours.closedDays.includes(c.monthDay)) return false;
  if (c.minutes < minutesOf(hours.open) || c.minutes >= minutesOf(hours.close)) return false;
  const t = certType ? hours.byType?.[certType] : undefined;
  if (!t) return true;
  if (t.days && !t.days.includes(c.weekday)) return false;
  if (t.open && c.minutes < minutesOf(t.open)) return false;
  if (t.close && c.minutes >= minutesOf(t.close)) return false;
  return true;
}

/** Refuse outside the city's hours (OUTSIDE_SERVICE_HOURS) or a type's own hours (CERT_TYPE_OUTSIDE_HOURS). */
export function checkHours(mode: ServiceHoursMode, hours: CityHours, cityCode: string, now: Date, certType?: CertType): void {
  if (mode === 'always-open') return;
  if (!isOpen(hours, now)) throw new KonbiniError('OUTSIDE_SERVICE_HOURS', { cityCode });
  if (certType && !isOpen(hours, now, certType)) throw new KonbiniError('CERT_TYPE_OUTSIDE_HOURS', { cityCode, certType });
}
