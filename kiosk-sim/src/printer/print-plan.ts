/**
 * Which pages of a certificate are fronts and which are backs, for a two-sided print
 * and the progress the resident sees. The city renders every copy into one document;
 * with anti-forgery on, each copy ends with a back page (2D code and 確認番号) that is
 * printed on the reverse of the copy's last sheet. The city names those pages with
 * named destinations: `konbini-copy-<n>` (first page of copy n) and `konbini-back-<n>`
 * (its back page).
 *
 * Only the page tree and the destination names are read, through small windows of
 * the bytes (never a string of the whole document, which could not be wiped).
 */

export interface PrintPlan {
  /** In print order: the copy (1-based) each page belongs to and its side. */
  pages: { copy: number; side: 'front' | 'back' }[];
  fronts: number;
  backs: number;
}

const MAX_PAGES = 2000;

function windowText(pdf: Buffer, at: number, len: number): string {
  return pdf.subarray(at, Math.min(pdf.length, at + len)).toString('latin1');
}

/** Object numbers of the pages, in order, from the root page tree (one level, as the city writes it). */
function pageObjects(pdf: Buffer): number[] | null {
  // the newest version of the page tree (an incremental update may have rewritten it)
  const at = pdf.lastIndexOf('/Type /Pages');
  if (at < 0) return null;
  const start = pdf.lastIndexOf('obj', at);
  const end = pdf.indexOf('endobj', at);
  if (start < 0 || end < 0 || end - start > 64 * 1024) return null;
  const kids = /\/Kids\s*\[([\d\sR]*)\]/.exec(windowText(pdf, start, end - start));
  if (!kids) return null;
  const refs = [...kids[1]!.matchAll(/(\d+)\s+\d+\s+R/g)].map((m) => Number(m[1]));
  return refs.length && refs.length <= MAX_PAGES ? refs : null;
}

/** `konbini-<kind>-<n>` destinations: object number → copy n. */
function destinations(pdf: Buffer, kind: 'copy' | 'back'): Map<number, number> {
  const out = new Map<number, number>();
  const needle = `(konbini-${kind}-`;
  for (let at = pdf.indexOf(needle); at >= 0 && out.size < MAX_PAGES; at = pdf.indexOf(needle, at + needle.length)) {
    const m = /^\(konbini-(?:copy|back)-(\d{1,4})\)\s*\[\s*(\d+)\s+\d+\s+R/.exec(windowText(pdf, at, 64));
    if (m) out.set(Number(m[2]), Number(m[1]));
  }
  return out;
}

export function printPlan(pdf: Buffer, copies: number): PrintPlan {
  const pages = pageObjects(pdf);
  if (!pages) return { pages: Array.from({ length: copies }, (_, i) => ({ copy: i + 1, side: 'front' as const })), fronts: copies, backs: 0 };
  const starts = destinations(pdf, 'copy');
  const backs = destinations(pdf, 'back');
  const perCopy = Math.max(1, Math.floor(pages.length / Math.max(1, copies)));
  let copy = 1;
  const plan = pages.map((obj, i) => {
    copy = starts.get(obj) ?? backs.get(obj) ?? (starts.size ? copy : Math.min(copies, Math.floor(i / perCopy) + 1));
    return { copy, side: backs.has(obj) ? ('back' as const) : ('front' as const) };
  });
  const nBacks = plan.filter((p) => p.side === 'back').length;
  return { pages: plan, fronts: plan.length - nBacks, backs: nBacks };
}
