/**
 * Bad frames on the kiosk line (WSS), by the step the session is at when they
 * arrive, with the code the centre answers and what must hold afterwards:
 *
 *  - `usable`: the connection stays open and a new session.start gets a challenge;
 *  - `goes-on`: the session lost nothing: at `challenged` the right signature still
 *    gets the menu; at `authenticated` a valid request is still issued; at
 *    `delivered` the right outcome is still recorded;
 *  - `challenge-spent`: the challenge was used up (single use), the right signature
 *    now gets CHALLENGE_REPLAYED, and a new session.start still works;
 *  - `closed`: the centre closed the socket with `close` (after the error message,
 *    when `code` is given).
 */
import type { ErrorCode } from '@konbini/protocol';
import type { CardProfile } from '@konbini/protocol';
import { cardSignature } from './helpers.js';

export interface WsContext {
  sessionId: string;
  nonce: string;
  issuanceId: string;
  card: CardProfile;
  origin: string;
  /** The kiosk this connection is (its device certificate's CN). */
  kioskId: string;
}

export type WsInput = string | Buffer | Record<string, unknown>;

export interface WsCase {
  name: string;
  at: 'idle' | 'challenged' | 'authenticated' | 'delivered';
  send: (ctx: WsContext) => WsInput;
  /** Send a Buffer as a text frame (the default for a Buffer is binary). */
  asText?: boolean;
  code?: ErrorCode;
  /** The centre answers with this message type instead of an error (not a refusal, but checked). */
  answer?: { type: string; [k: string]: unknown };
  close?: number;
  then: 'usable' | 'goes-on' | 'challenge-spent' | 'closed';
  todo?: string;
}

const OTHER = '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f';
const request = (ctx: WsContext, over: Record<string, unknown> = {}) => ({
  type: 'issue.request',
  sessionId: ctx.sessionId,
  certType: 'resident-record',
  options: { scope: 'self' },
  copies: 1,
  ...over,
});
const outcome = (ctx: WsContext, over: Record<string, unknown> = {}) => ({
  type: 'issue.outcome',
  sessionId: ctx.sessionId,
  issuanceId: ctx.issuanceId,
  outcome: 'failed',
  copiesPrinted: 0,
  ...over,
});

export const WS_CASES: WsCase[] = [
  // --- idle: shape
  { name: 'not JSON', at: 'idle', send: () => '{"type":"session.start",', code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'an empty text frame', at: 'idle', send: () => '', code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a JSON number', at: 'idle', send: () => '42', code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a JSON string', at: 'idle', send: () => '"session.start"', code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'JSON null', at: 'idle', send: () => 'null', code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a valid message wrapped in an array', at: 'idle', send: (c) => JSON.stringify([{ type: 'session.start', authCert: c.card.jpki.authCertDer }]), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'an object without a type', at: 'idle', send: (c) => ({ authCert: c.card.jpki.authCertDer }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a type that is a number', at: 'idle', send: () => ({ type: 7 }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'an unknown type', at: 'idle', send: () => ({ type: 'session.hello' }), code: 'MESSAGE_UNKNOWN_TYPE', then: 'usable' },
  { name: "a centre's message type (session.challenge) from a kiosk", at: 'idle', send: () => ({ type: 'session.challenge', sessionId: OTHER, nonce: 'AAAA', expiresAt: 'x' }), code: 'MESSAGE_UNKNOWN_TYPE', then: 'usable' },
  { name: "an 'error' message from a kiosk", at: 'idle', send: () => ({ type: 'error', code: 'INTERNAL', message: 'x', messageJa: 'x' }), code: 'MESSAGE_UNKNOWN_TYPE', then: 'usable' },
  { name: 'a __proto__ type', at: 'idle', send: () => '{"type":"__proto__"}', code: 'MESSAGE_UNKNOWN_TYPE', then: 'usable' },
  { name: 'session.start with an extra field', at: 'idle', send: (c) => ({ type: 'session.start', authCert: c.card.jpki.authCertDer, pin: '1234' }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'session.start without authCert', at: 'idle', send: () => ({ type: 'session.start' }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a JSON message in a binary frame', at: 'idle', send: (c) => Buffer.from(JSON.stringify({ type: 'session.start', authCert: c.card.jpki.authCertDer })), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a binary frame shaped like a document chunk', at: 'idle', send: () => Buffer.concat([Buffer.from(OTHER.replace(/-/g, ''), 'hex'), Buffer.from('%PDF-1.7')]), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a text frame of exactly 16 KiB (at the limit: parsed, then refused by the schema)', at: 'idle', send: () => JSON.stringify({ type: 'session.start', authCert: 'A'.repeat(16 * 1024 - 38) }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a 32 KiB binary frame (under the hard limit)', at: 'idle', send: () => Buffer.alloc(32 * 1024, 0x25), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'a text frame one byte over 16 KiB', at: 'idle', send: () => JSON.stringify({ type: 'session.start', authCert: 'A'.repeat(16 * 1024 - 37) }), code: 'MESSAGE_TOO_LARGE', close: 1009, then: 'closed' },
  { name: '6,000 three-byte characters (under 16 Ki characters, over 16 KiB)', at: 'idle', send: () => JSON.stringify({ type: 'session.start', authCert: 'あ'.repeat(6000) }), code: 'MESSAGE_TOO_LARGE', close: 1009, then: 'closed' },
  { name: 'a frame over the 64 KiB hard limit', at: 'idle', send: () => 'x'.repeat(100 * 1024), close: 1009, then: 'closed' },
  { name: 'a text frame that is not UTF-8', at: 'idle', send: () => Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), asText: true, close: 1007, then: 'closed' },
  // --- idle: order
  { name: 'session.auth with no challenge issued', at: 'idle', send: () => ({ type: 'session.auth', sessionId: OTHER, signature: 'AAAA' }), code: 'CHALLENGE_UNKNOWN', then: 'usable' },
  { name: 'session.auth with a session id that is not a UUID', at: 'idle', send: () => ({ type: 'session.auth', sessionId: 'S1', signature: 'AAAA' }), code: 'MESSAGE_INVALID', then: 'usable' },
  { name: 'issue.request before any session', at: 'idle', send: () => request({ sessionId: OTHER } as WsContext), code: 'MESSAGE_OUT_OF_ORDER', then: 'usable' },
  { name: 'issue.outcome before any session', at: 'idle', send: () => ({ type: 'issue.outcome', sessionId: OTHER, issuanceId: OTHER, outcome: 'printed', copiesPrinted: 1 }), code: 'MESSAGE_OUT_OF_ORDER', then: 'usable' },
  { name: 'session.end before any session', at: 'idle', send: () => ({ type: 'session.end', sessionId: OTHER }), code: 'MESSAGE_OUT_OF_ORDER', then: 'usable' },

  // --- challenged
  { name: 'not JSON while challenged', at: 'challenged', send: () => '{{', code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'session.auth for a session id nobody issued', at: 'challenged', send: () => ({ type: 'session.auth', sessionId: OTHER, signature: 'AAAA' }), code: 'CHALLENGE_UNKNOWN', then: 'goes-on' },
  { name: 'session.auth with an upper-case session id', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId.toUpperCase(), signature: 'AAAA' }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'session.auth with a signature of random bytes', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: Buffer.alloc(256, 0x5a).toString('base64') }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'session.auth with a 3-byte signature', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: 'AAAA' }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'session.auth signed for another kiosk', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: cardSignature(c.card, c.origin, c.kioskId === 'K0002' ? 'K0003' : 'K0002', c.nonce) }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'session.auth signed for another centre origin', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: cardSignature(c.card, 'wss://evil.example', c.kioskId, c.nonce) }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'session.auth signed over another nonce', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: cardSignature(c.card, c.origin, c.kioskId, Buffer.alloc(32).toString('base64')) }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'session.auth signed by another card', at: 'challenged', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: cardSignature({ ...c.card, jpki: { ...c.card.jpki, authKeyPkcs8: otherCardKey } }, c.origin, c.kioskId, c.nonce) }), code: 'SIGNATURE_INVALID', then: 'challenge-spent' },
  { name: 'issue.request before the challenge is answered', at: 'challenged', send: (c) => request(c), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },

  // --- authenticated (at the menu)
  { name: 'an unknown certificate type', at: 'authenticated', send: (c) => request(c, { certType: 'passport' }), code: 'CERT_TYPE_UNKNOWN', then: 'goes-on' },
  { name: 'a certificate type of 41 characters', at: 'authenticated', send: (c) => request(c, { certType: 'x'.repeat(41) }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: '0 copies', at: 'authenticated', send: (c) => request(c, { copies: 0 }), code: 'COPIES_OUT_OF_RANGE', then: 'goes-on' },
  { name: '11 copies', at: 'authenticated', send: (c) => request(c, { copies: 11 }), code: 'COPIES_OUT_OF_RANGE', then: 'goes-on' },
  { name: '-1 copies', at: 'authenticated', send: (c) => request(c, { copies: -1 }), code: 'COPIES_OUT_OF_RANGE', then: 'goes-on' },
  { name: '1e21 copies', at: 'authenticated', send: (c) => request(c, { copies: 1e21 }), code: 'COPIES_OUT_OF_RANGE', then: 'goes-on' },
  { name: '1.5 copies', at: 'authenticated', send: (c) => request(c, { copies: 1.5 }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'copies as a string "1" (no coercion)', at: 'authenticated', send: (c) => request(c, { copies: '1' }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'an unknown option', at: 'authenticated', send: (c) => request(c, { options: { scope: 'self', includeEverything: true } }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'scope "everyone"', at: 'authenticated', send: (c) => request(c, { options: { scope: 'everyone' } }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'fiscal year 1900', at: 'authenticated', send: (c) => request(c, { options: { fiscalYear: 1900 } }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'options as an array', at: 'authenticated', send: (c) => request(c, { options: ['scope'] }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'issue.request for another session id', at: 'authenticated', send: (c) => request(c, { sessionId: OTHER }), code: 'SESSION_UNKNOWN', then: 'goes-on' },
  { name: 'session.auth again after the menu', at: 'authenticated', send: (c) => ({ type: 'session.auth', sessionId: c.sessionId, signature: 'AAAA' }), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },
  { name: 'issue.outcome for an issuance never requested', at: 'authenticated', send: (c) => outcome({ ...c, issuanceId: OTHER }, { outcome: 'printed', copiesPrinted: 1 }), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },
  { name: 'session.end for another session id', at: 'authenticated', send: () => ({ type: 'session.end', sessionId: OTHER }), code: 'SESSION_UNKNOWN', then: 'goes-on' },

  // --- delivered (document received, outcome due)
  { name: 'the outcome for another issuance id', at: 'delivered', send: (c) => outcome({ ...c, issuanceId: OTHER }), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },
  { name: 'an outcome with an unknown failure code', at: 'delivered', send: (c) => outcome(c, { failureCode: 'PRINTER_ON_FIRE' }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'an outcome of 11 copies printed', at: 'delivered', send: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 11 }), code: 'MESSAGE_INVALID', then: 'goes-on' },
  { name: 'a new session.start before the outcome of the delivered document', at: 'delivered', send: (c) => ({ type: 'session.start', authCert: c.card.jpki.authCertDer }), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },
  { name: 'a second issue.request before the outcome', at: 'delivered', send: (c) => request(c), code: 'MESSAGE_OUT_OF_ORDER', then: 'goes-on' },
  {
    name: "'printed' with 0 copies (the city refuses this outcome, so the centre must too)",
    at: 'delivered',
    send: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 0 }),
    code: 'MESSAGE_INVALID',
    then: 'goes-on',
  },
  {
    name: "'printed' 2 copies of a 1-copy issuance (the city refuses more than asked)",
    at: 'delivered',
    send: (c) => outcome(c, { outcome: 'printed', copiesPrinted: 2 }),
    code: 'MESSAGE_INVALID',
    then: 'goes-on',
  },
];

/** Another card's key, filled in by the runner (a signature by the wrong card). */
export let otherCardKey = '';
export function setOtherCardKey(pkcs8: string): void {
  otherCardKey = pkcs8;
}

/**
 * The kiosk's own device certificate on the kiosk line: refused by TLS (no code can
 * be sent before the handshake), or after it with the code and a 4403 close.
 */
export interface KioskCertCase {
  name: string;
  /** dev-PKI name, or 'none' for no client certificate, or 'unknown-cn' (made by the kiosk-line CA for K9999). */
  cert: string;
  /** 'tls': the handshake is refused; else the code sent before the 4403 close. */
  expect: 'tls' | ErrorCode;
  /** Either is acceptable (a revoked certificate may be caught by the CRL in TLS or by the directory). */
  orCode?: ErrorCode;
  todo?: string;
}

export const KIOSK_CERT_CASES: KioskCertCase[] = [
  { name: 'no client certificate', cert: 'none', expect: 'tls' },
  { name: 'an expired kiosk certificate', cert: 'kiosk-expired', expect: 'tls' },
  { name: 'a kiosk certificate from another CA', cert: 'kiosk-wrong-ca', expect: 'tls' },
  { name: "the centre's LGWAN certificate (another leg's CA)", cert: 'lgwan-centre', expect: 'tls' },
  { name: 'a revoked kiosk certificate', cert: 'kiosk-revoked', expect: 'tls', orCode: 'KIOSK_REVOKED' },
  { name: 'a valid kiosk-line certificate for a kiosk id the directory does not know', cert: 'unknown-cn', expect: 'KIOSK_UNKNOWN' },
];
