/**
 * Bad request bodies on the centre → city leg (HTTPS, mutual TLS, LGWAN-sim),
 * with the HTTP status and the code of the JSON error body the city answers.
 *
 * `setup: 'sent'` first issues a real document for `ctx.issuanceId`, so outcome
 * cases meet an issuance that exists. `after: 'no-record'` checks a refused issue
 * left no 交付記録 behind (an outcome for its issuance id is ISSUANCE_UNKNOWN);
 * `after: 'outcome-open'` checks the refused outcome recorded nothing (the right
 * one is still accepted afterwards).
 */
import type { ErrorCode } from '@konbini/protocol';

export interface HttpContext {
  /** The ok fixture card's serial, as the centre would send it. */
  serial: string;
  /** A fresh issuance id for this case. */
  issuanceId: string;
}

export interface HttpCase {
  name: string;
  method?: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: (ctx: HttpContext) => string | Buffer | Record<string, unknown> | unknown[];
  headers?: Record<string, string>;
  /** Client certificate: the centre's (default), or another holder of the same CA. */
  client?: 'centre' | 'other-city';
  setup?: 'sent';
  status: number;
  code: ErrorCode;
  after?: 'no-record' | 'outcome-open';
  todo?: string;
}

const menu = (c: HttpContext, over: Record<string, unknown> = {}) => ({ cardSerial: c.serial, kioskId: 'K0001', ...over });
const issue = (c: HttpContext, over: Record<string, unknown> = {}) => ({
  issuanceId: c.issuanceId,
  cardSerial: c.serial,
  kioskId: 'K0001',
  certType: 'resident-record',
  options: { scope: 'self' },
  copies: 1,
  ...over,
});
const outcome = (c: HttpContext, over: Record<string, unknown> = {}) => ({ issuanceId: c.issuanceId, outcome: 'failed', copiesPrinted: 0, ...over });

export const HTTP_CASES: HttpCase[] = [
  // --- any route: transport and shape
  { name: 'menu: not JSON', path: '/v1/menu', body: () => '{"cardSerial":', status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: an empty JSON body', path: '/v1/menu', body: () => '', status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: a JSON array', path: '/v1/menu', body: (c) => [menu(c)], status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: text/plain content type', path: '/v1/menu', body: (c) => JSON.stringify(menu(c)), headers: { 'content-type': 'text/plain' }, status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: a body over 16 KiB', path: '/v1/menu', body: (c) => menu(c, { kioskId: 'K'.repeat(17 * 1024) }), status: 413, code: 'MESSAGE_TOO_LARGE' },
  { name: 'menu: a __proto__ key (prototype poisoning)', path: '/v1/menu', body: (c) => `{"cardSerial":"${c.serial}","kioskId":"K0001","__proto__":{"admin":true}}`, status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: a constructor.prototype key', path: '/v1/menu', body: (c) => `{"cardSerial":"${c.serial}","kioskId":"K0001","constructor":{"prototype":{"admin":true}}}`, status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: 5,000 levels of nesting inside 16 KiB', path: '/v1/menu', body: (c) => `{"cardSerial":"${c.serial}","kioskId":"K0001","x":${'['.repeat(5000)}${']'.repeat(5000)}}`, status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: duplicate keys (the last would win)', path: '/v1/menu', body: (c) => `{"cardSerial":"${c.serial}","kioskId":"K0001","kioskId":"K0001/x"}`, status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: without kioskId', path: '/v1/menu', body: (c) => ({ cardSerial: c.serial }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: an upper-case card serial', path: '/v1/menu', body: (c) => menu(c, { cardSerial: c.serial.toUpperCase().replace(/^[0-9]/, 'A') }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: a card serial of 65 hex digits', path: '/v1/menu', body: (c) => menu(c, { cardSerial: 'a'.repeat(65) }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: a kiosk id with a slash', path: '/v1/menu', body: (c) => menu(c, { kioskId: 'K0001/../K0002' }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: an extra field', path: '/v1/menu', body: (c) => menu(c, { name: '山田太郎' }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'menu: GET instead of POST', method: 'GET', path: '/v1/menu', status: 400, code: 'MESSAGE_UNKNOWN_TYPE' },
  { name: 'an unknown route', path: '/v1/passport', body: (c) => menu(c), status: 400, code: 'MESSAGE_UNKNOWN_TYPE' },
  { name: 'menu: asked with another city\'s certificate (same CA, not the centre)', path: '/v1/menu', body: (c) => menu(c), client: 'other-city', status: 403, code: 'FORBIDDEN' },
  { name: 'sync: the centre posting a delta batch', path: '/v1/sync/delta', body: () => '{"type":"header"}\n', headers: { 'content-type': 'application/x-ndjson' }, status: 403, code: 'FORBIDDEN' },

  // --- issue
  { name: 'issue: issuance id not a UUID', path: '/v1/issue', body: (c) => issue(c, { issuanceId: 'I-1' }), status: 400, code: 'MESSAGE_INVALID' },
  { name: 'issue: an unknown certificate type', path: '/v1/issue', body: (c) => issue(c, { certType: 'passport' }), status: 400, code: 'CERT_TYPE_UNKNOWN', after: 'no-record' },
  { name: 'issue: a type this city does not offer at kiosks', path: '/v1/issue', body: (c) => issue(c, { certType: 'koseki-full' }), status: 403, code: 'CERT_TYPE_NOT_OFFERED', after: 'no-record' },
  { name: 'issue: 0 copies', path: '/v1/issue', body: (c) => issue(c, { copies: 0 }), status: 400, code: 'COPIES_OUT_OF_RANGE', after: 'no-record' },
  { name: 'issue: 11 copies', path: '/v1/issue', body: (c) => issue(c, { copies: 11 }), status: 400, code: 'COPIES_OUT_OF_RANGE', after: 'no-record' },
  { name: 'issue: copies as a string', path: '/v1/issue', body: (c) => issue(c, { copies: '1' }), status: 400, code: 'MESSAGE_INVALID', after: 'no-record' },
  { name: 'issue: the 個人番号 option (not offered)', path: '/v1/issue', body: (c) => issue(c, { options: { scope: 'self', includeMyNumber: true } }), status: 400, code: 'OPTION_NOT_ALLOWED', after: 'no-record' },
  { name: 'issue: foreign-resident details for a Japanese national', path: '/v1/issue', body: (c) => issue(c, { options: { scope: 'self', includeForeignDetails: true } }), status: 400, code: 'OPTION_NOT_ALLOWED', after: 'no-record' },
  { name: 'issue: a fiscal year on a resident record', path: '/v1/issue', body: (c) => issue(c, { options: { fiscalYear: 2025 } }), status: 400, code: 'OPTION_NOT_ALLOWED', after: 'no-record' },
  { name: 'issue: a card serial no resident is linked to', path: '/v1/issue', body: (c) => issue(c, { cardSerial: 'deadbeef' }), status: 403, code: 'CARD_NOT_LINKED', after: 'no-record' },
  { name: 'issue: an issuance id used before (sent already)', path: '/v1/issue', setup: 'sent', body: (c) => issue(c), status: 409, code: 'MESSAGE_OUT_OF_ORDER', after: 'outcome-open' },

  // --- outcome
  { name: 'outcome: an issuance the city never issued', path: '/v1/outcome', body: (c) => outcome(c), status: 404, code: 'ISSUANCE_UNKNOWN' },
  { name: 'outcome: "lost"', path: '/v1/outcome', setup: 'sent', body: (c) => outcome(c, { outcome: 'lost' }), status: 400, code: 'MESSAGE_INVALID', after: 'outcome-open' },
  { name: 'outcome: 11 copies printed', path: '/v1/outcome', setup: 'sent', body: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 11 }), status: 400, code: 'MESSAGE_INVALID', after: 'outcome-open' },
  { name: 'outcome: printed, 2 copies of 1', path: '/v1/outcome', setup: 'sent', body: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 2 }), status: 400, code: 'MESSAGE_INVALID', after: 'outcome-open' },
  { name: 'outcome: printed, 0 copies', path: '/v1/outcome', setup: 'sent', body: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 0 }), status: 400, code: 'MESSAGE_INVALID', after: 'outcome-open' },
  { name: 'outcome: without copiesPrinted', path: '/v1/outcome', setup: 'sent', body: (c) => ({ issuanceId: c.issuanceId, outcome: 'failed' }), status: 400, code: 'MESSAGE_INVALID', after: 'outcome-open' },
];
