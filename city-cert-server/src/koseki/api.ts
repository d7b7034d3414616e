/**
 * The replica ↔ koseki server API (LGWAN-sim, mutual TLS; the koseki server pinned by
 * the replica). Internal to the city: the centre and kiosks never see it.
 */
import { CERT_OPTION_KEYS, type ErrorCode } from '@konbini/protocol';
import { KOSEKI_CERT_TYPES, type KosekiCertType } from './model.js';

export const KOSEKI_API = {
  status: '/v1/koseki/status',
  issue: '/v1/koseki/issue',
  health: '/v1/koseki/health',
} as const;

/** The anti-forgery mark the koseki server printed, for the replica's verification records. */
export const KOSEKI_MARK_HEADERS = {
  verificationNumber: 'x-verification-number',
  contentSha256: 'x-content-sha256',
} as const;

const residentId = { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$' } as const;
const uuid = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } as const;

export interface KosekiStatusRequest {
  residentId: string;
}
export interface KosekiStatusResponse {
  /** Per koseki type: null = may be issued now, or the refusal's code. */
  types: { certType: KosekiCertType; code: ErrorCode | null }[];
}
export const kosekiStatusRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['residentId'],
  properties: { residentId },
} as const;

export interface KosekiIssueRequest {
  issuanceId: string;
  kioskId: string;
  certType: KosekiCertType;
  copies: number;
  residentId: string;
  /** HMAC of the card serial keyed by the issuance id (protocol/binding.ts), computed by the replica. */
  cardSerialHmac: string;
  /** 附票: 'household' = 全部 (every person of the register), else the holder (一部). */
  scope?: 'self' | 'household';
}
export const kosekiIssueRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuanceId', 'kioskId', 'certType', 'copies', 'residentId', 'cardSerialHmac'],
  properties: {
    issuanceId: uuid,
    kioskId: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' },
    certType: { type: 'string', enum: [...KOSEKI_CERT_TYPES] },
    copies: { type: 'integer' },
    residentId,
    cardSerialHmac: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    scope: { type: 'string', enum: ['self', 'household'] },
  },
} as const;

/** Option keys a koseki type takes at the kiosk. */
export function kosekiOptions(certType: KosekiCertType): (typeof CERT_OPTION_KEYS)[number][] {
  return certType === 'koseki-fuhyo' ? ['scope'] : [];
}
