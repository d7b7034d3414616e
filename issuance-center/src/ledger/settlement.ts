import type { CertType } from '@konbini/protocol';
import type { Queryable } from './db.js';

/**
 * Monthly settlement per city: what was printed (copies, by certificate type),
 * the fees residents paid for it, the commission the centre withholds per
 * printed copy for the store operators, and what is left for the city. Only
 * printed copies count (DESIGN §5 invariant 6); failed issuances are listed as a
 * count and cost nothing. Months are Asia/Tokyo calendar months of the outcome.
 */
export interface CommissionRates {
  /** Yen withheld per printed copy. */
  perCopy: number;
  /** Per certificate type, where it differs. */
  byType?: Partial<Record<CertType, number>>;
}

export interface SettlementLine {
  certType: CertType;
  /** Issuances with at least one printed copy. */
  issuances: number;
  copies: number;
  /** Yen paid by residents (charged for printed copies). */
  fees: number;
  commissionPerCopy: number;
  commission: number;
  /** fees - commission: owed to the city. */
  netToCity: number;
  failed: number;
}

type Totals = Omit<SettlementLine, 'certType' | 'commissionPerCopy'>;

export interface CitySettlement {
  cityCode: string;
  lines: SettlementLine[];
  totals: Totals;
}

export interface Settlement {
  month: string;
  /** [from, to) in UTC, the Asia/Tokyo month. */
  from: string;
  to: string;
  cities: CitySettlement[];
  totals: Totals;
}

/** The Asia/Tokyo calendar month YYYY-MM as an instant range (Japan keeps no DST). */
export function tokyoMonth(month: string): { from: Date; to: Date } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new RangeError(`month must be YYYY-MM: ${month}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const next = mo === 12 ? `${y + 1}-01` : `${y}-${String(mo + 1).padStart(2, '0')}`;
  return { from: new Date(`${month}-01T00:00:00+09:00`), to: new Date(`${next}-01T00:00:00+09:00`) };
}

export interface SettlementRow {
  cityCode: string;
  certType: CertType;
  issuances: number;
  copies: number;
  fees: number;
  failed: number;
}

/** Sums per city and type straight in SQL, over final ledger records only. */
export async function settlementRows(q: Queryable, month: string): Promise<SettlementRow[]> {
  const { from, to } = tokyoMonth(month);
  const res = await q.query<Record<string, unknown>>(
    `SELECT city_code, cert_type,
            count(*) FILTER (WHERE outcome = 'printed' AND copies_printed > 0) AS issuances,
            coalesce(sum(copies_printed) FILTER (WHERE outcome = 'printed'), 0) AS copies,
            coalesce(sum(charged) FILTER (WHERE outcome = 'printed'), 0) AS fees,
            count(*) FILTER (WHERE outcome = 'failed') AS failed
       FROM ledger_record
      WHERE outcome_at >= $1 AND outcome_at < $2
      GROUP BY city_code, cert_type
      ORDER BY city_code, cert_type`,
    [from.toISOString(), to.toISOString()],
  );
  return res.rows.map((r) => ({
    cityCode: String(r.city_code),
    certType: String(r.cert_type) as CertType,
    issuances: Number(r.issuances),
    copies: Number(r.copies),
    fees: Number(r.fees),
    failed: Number(r.failed),
  }));
}

const zero = (): Totals => ({ issuances: 0, copies: 0, fees: 0, commission: 0, netToCity: 0, failed: 0 });
function add(t: Totals, l: Totals): void {
  t.issuances += l.issuances;
  t.copies += l.copies;
  t.fees += l.fees;
  t.commission += l.commission;
  t.netToCity += l.netToCity;
  t.failed += l.failed;
}

export function settle(month: string, rows: SettlementRow[], rates: CommissionRates): Settlement {
  const { from, to } = tokyoMonth(month);
  const byCity = new Map<string, CitySettlement>();
  const totals = zero();
  for (const r of [...rows].sort((a, b) => a.cityCode.localeCompare(b.cityCode) || a.certType.localeCompare(b.certType))) {
    const rate = rates.byType?.[r.certType] ?? rates.perCopy;
    const commission = r.copies * rate;
    const line: SettlementLine = { ...r, commissionPerCopy: rate, commission, netToCity: r.fees - commission };
    delete (line as Partial<SettlementRow>).cityCode;
    let city = byCity.get(r.cityCode);
    if (!city) byCity.set(r.cityCode, (city = { cityCode: r.cityCode, lines: [], totals: zero() }));
    city.lines.push(line);
    add(city.totals, line);
    add(totals, line);
  }
  return { month, from: from.toISOString(), to: to.toISOString(), cities: [...byCity.values()], totals };
}

const CSV_HEADER = ['month', 'city_code', 'cert_type', 'issuances', 'copies', 'fees_yen', 'commission_per_copy_yen', 'commission_yen', 'net_to_city_yen', 'failed'];

/** One line per city and type, a `total` line per city, and an `ALL` line. */
export function settlementCsv(s: Settlement): string {
  const lines = [CSV_HEADER.join(',')];
  const row = (city: string, type: string, t: Totals, rate: number | '') =>
    [s.month, city, type, t.issuances, t.copies, t.fees, rate, t.commission, t.netToCity, t.failed].join(',');
  for (const c of s.cities) {
    for (const l of c.lines) lines.push(row(c.cityCode, l.certType, l, l.commissionPerCopy));
    lines.push(row(c.cityCode, 'total', c.totals, ''));
  }
  lines.push(row('ALL', 'total', s.totals, ''));
  return `${lines.join('\n')}\n`;
}
