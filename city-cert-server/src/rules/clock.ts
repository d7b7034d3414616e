/** Certificates and eligibility are dated in Japan whatever the machine's zone. */
const tokyoDay = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Tokyo',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/** YYYY-MM-DD of the given instant in Asia/Tokyo. */
export function tokyoDate(at: Date): string {
  return tokyoDay.format(at);
}

/**
 * Age in whole years on `today` (both YYYY-MM-DD). A person born on 29 February
 * becomes a year older on 1 March in common years, which is also what the
 * 年齢計算ニ関スル法律 gives (the age is attained at the end of the previous day).
 */
export function ageOn(birthDate: string, today: string): number {
  const years = Number(today.slice(0, 4)) - Number(birthDate.slice(0, 4));
  return today.slice(5) < birthDate.slice(5) ? years - 1 : years;
}
