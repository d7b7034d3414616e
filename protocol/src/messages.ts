import { CERT_TYPES, MAX_COPIES, MAX_HOUSEHOLD_MEMBERS, MIN_COPIES, type CertOptions, type CertType } from './cert-types.js';
import { ERROR_CODES, KonbiniError, type ErrorCode } from './errors.js';
import { validator } from './validate.js';

/*
 * Every message that crosses a process boundary, defined once: the TypeScript type
 * and the JSON schema side by side, imported by both ends.
 *
 * Kiosk <-> centre: WebSocket over mutual TLS. JSON text frames for messages; the
 * document travels as binary frames, each prefixed with the 16 bytes of its
 * issuance id (a UUID) so no chunk can be mistaken for another issuance's.
 * Centre <-> city: HTTPS over mutual TLS, JSON bodies; the document comes back as
 * the body of the issue response (application/pdf).
 */

/** Largest text frame either side accepts; a card certificate is ~1.5 KB. */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** Largest document a kiosk accepts (all copies of one issuance). */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

const id = { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } as const;
const uuid = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } as const;
const b64 = (max: number) => ({ type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$', minLength: 4, maxLength: max }) as const;
const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const serialHex = { type: 'string', pattern: '^[0-9a-f]{1,64}$' } as const;
const cityCode = { type: 'string', pattern: '^[0-9]{6}$' } as const;
const certType = { type: 'string', enum: CERT_TYPES } as const;
const errorCode = { type: 'string', enum: ERROR_CODES } as const;

export const certOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    scope: { type: 'string', enum: ['self', 'household', 'members'] },
    members: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_HOUSEHOLD_MEMBERS,
      uniqueItems: true,
      items: { type: 'string', pattern: '^m[0-9a-f]{16}$' },
    },
    includeRelationship: { type: 'boolean' },
    includeHonseki: { type: 'boolean' },
    includeForeignDetails: { type: 'boolean' },
    includeMyNumber: { type: 'boolean' },
    fiscalYear: { type: 'integer', minimum: 1989, maximum: 2200 },
  },
} as const;

// ---------------------------------------------------------------- menu

export interface MenuItem {
  certType: CertType;
  /** Fee per copy in yen. */
  fee: number;
  /** Option keys this resident may set for this type. */
  options: (keyof CertOptions)[];
  /** For tax-income: the fiscal years the city keeps. */
  fiscalYears?: number[];
  /**
   * For resident-record / resident-entries when the household has more than one
   * member: who can be chosen. No names: the resident recognises each by 続柄 and
   * year of birth; the kiosk shows these, the centre only relays them.
   */
  members?: HouseholdMember[];
}

/** One household member as the menu offers them for choosing. */
export interface HouseholdMember {
  /**
   * Opaque reference: 'm' + 16 hex digits, an HMAC the city derives from the resident
   * id under its own key. It names the same person in the issue request even when the
   * household changed in between (a position in a list would not).
   */
  ref: string;
  /** 続柄 as the replica holds it (世帯主, 妻, 子, ...). */
  relation: string;
  /** Year of birth (western), to tell members with the same 続柄 apart. */
  birthYear: number;
  /** The card holder. */
  self: boolean;
}

const householdMemberSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ref', 'relation', 'birthYear', 'self'],
  properties: {
    ref: { type: 'string', pattern: '^m[0-9a-f]{16}$' },
    relation: { type: 'string', minLength: 1, maxLength: 20 },
    birthYear: { type: 'integer', minimum: 1868, maximum: 2200 },
    self: { type: 'boolean' },
  },
} as const;

/** A type the city offers but this resident cannot take, with the reason to show. */
export interface MenuRefusal {
  certType: CertType;
  code: ErrorCode;
}

const menuItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['certType', 'fee', 'options'],
  properties: {
    certType,
    fee: { type: 'integer', minimum: 0, maximum: 100000 },
    options: { type: 'array', maxItems: 10, items: { type: 'string', enum: Object.keys(certOptionsSchema.properties) } },
    fiscalYears: { type: 'array', maxItems: 10, items: { type: 'integer' } },
    members: { type: 'array', maxItems: MAX_HOUSEHOLD_MEMBERS, items: householdMemberSchema },
  },
} as const;

const menuRefusalSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['certType', 'code'],
  properties: { certType, code: errorCode },
} as const;

export interface CityRef {
  code: string;
  name: string;
  prefecture: string;
}

const cityRefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'name', 'prefecture'],
  properties: { code: cityCode, name: { type: 'string', maxLength: 40 }, prefecture: { type: 'string', maxLength: 20 } },
} as const;

// ---------------------------------------------------------------- kiosk -> centre

export interface SessionStart {
  type: 'session.start';
  /** 利用者証明用電子証明書 as read from EF 000A, base64 DER. */
  authCert: string;
}
export interface SessionAuth {
  type: 'session.auth';
  sessionId: string;
  /** RSA signature over challengeSignedData(), base64. */
  signature: string;
}
export interface IssueRequest {
  type: 'issue.request';
  sessionId: string;
  certType: CertType;
  options: CertOptions;
  copies: number;
}
export interface IssueOutcome {
  type: 'issue.outcome';
  sessionId: string;
  issuanceId: string;
  outcome: 'printed' | 'failed';
  copiesPrinted: number;
  /** Why it failed, when it did. */
  failureCode?: ErrorCode;
}
export interface SessionEnd {
  type: 'session.end';
  sessionId: string;
}

/**
 * An outcome the kiosk could not report in its session (the line dropped, or the
 * kiosk was restarted after printing), sent from its journal on its next
 * connection before any new session. Outside any session: the issuance id names
 * it, and the centre accepts it only from the kiosk (mTLS identity) that received
 * that issuance, once (a repeat gets the same answer).
 */
export interface IssueLateOutcome {
  type: 'issue.late-outcome';
  issuanceId: string;
  outcome: 'printed' | 'failed';
  copiesPrinted: number;
  /** When the kiosk journalled the outcome (its own clock, ISO 8601): evidence, not trusted for ordering. */
  at: string;
  failureCode?: ErrorCode;
}

export type KioskMessage = SessionStart | SessionAuth | IssueRequest | IssueOutcome | IssueLateOutcome | SessionEnd;

const kioskSchemas = {
  'session.start': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'authCert'],
    properties: { type: { const: 'session.start' }, authCert: b64(8192) },
  },
  'session.auth': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'signature'],
    properties: { type: { const: 'session.auth' }, sessionId: uuid, signature: b64(1024) },
  },
  'issue.request': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'certType', 'options', 'copies'],
    properties: {
      type: { const: 'issue.request' },
      sessionId: uuid,
      // any string here, so an unknown type gets its own code rather than MESSAGE_INVALID
      certType: { type: 'string', maxLength: 40 },
      options: certOptionsSchema,
      copies: { type: 'integer' },
    },
  },
  'issue.outcome': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'issuanceId', 'outcome', 'copiesPrinted'],
    properties: {
      type: { const: 'issue.outcome' },
      sessionId: uuid,
      issuanceId: uuid,
      outcome: { type: 'string', enum: ['printed', 'failed'] },
      copiesPrinted: { type: 'integer', minimum: 0, maximum: MAX_COPIES },
      failureCode: errorCode,
    },
  },
  'session.end': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId'],
    properties: { type: { const: 'session.end' }, sessionId: uuid },
  },
  'issue.late-outcome': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'issuanceId', 'outcome', 'copiesPrinted', 'at'],
    properties: {
      type: { const: 'issue.late-outcome' },
      issuanceId: uuid,
      outcome: { type: 'string', enum: ['printed', 'failed'] },
      // any count up to the largest order, so a count beyond this issuance's copies gets its own code
      copiesPrinted: { type: 'integer', minimum: 0, maximum: MAX_COPIES },
      at: { type: 'string', maxLength: 40 },
      failureCode: errorCode,
    },
  },
} as const;

// ---------------------------------------------------------------- centre -> kiosk

export interface SessionChallenge {
  type: 'session.challenge';
  sessionId: string;
  /** 32 random bytes, base64. */
  nonce: string;
  expiresAt: string;
}
export interface SessionMenu {
  type: 'session.menu';
  sessionId: string;
  city: CityRef;
  items: MenuItem[];
  refusals: MenuRefusal[];
}
export interface IssueAccepted {
  type: 'issue.accepted';
  sessionId: string;
  issuanceId: string;
  certType: CertType;
  copies: number;
  /** Fee for all copies, yen. */
  fee: number;
}
export interface IssueDocument {
  type: 'issue.document';
  sessionId: string;
  issuanceId: string;
  bytes: number;
  sha256: string;
}
export interface IssueRecorded {
  type: 'issue.recorded';
  sessionId: string;
  issuanceId: string;
  outcome: 'printed' | 'failed';
  charged: number;
}
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  messageJa: string;
  sessionId?: string;
  issuanceId?: string;
}

/** The centre's answer to a late outcome: what the ledger holds for it (the same however often it is sent). */
export interface IssueLateRecorded {
  type: 'issue.late-recorded';
  issuanceId: string;
  outcome: 'printed' | 'failed';
  charged: number;
}

export type CentreMessage = SessionChallenge | SessionMenu | IssueAccepted | IssueDocument | IssueRecorded | IssueLateRecorded | ErrorMessage;

const centreSchemas = {
  'session.challenge': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'nonce', 'expiresAt'],
    properties: { type: { const: 'session.challenge' }, sessionId: uuid, nonce: b64(64), expiresAt: { type: 'string', maxLength: 40 } },
  },
  'session.menu': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'city', 'items', 'refusals'],
    properties: {
      type: { const: 'session.menu' },
      sessionId: uuid,
      city: cityRefSchema,
      items: { type: 'array', maxItems: 20, items: menuItemSchema },
      refusals: { type: 'array', maxItems: 20, items: menuRefusalSchema },
    },
  },
  'issue.accepted': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'issuanceId', 'certType', 'copies', 'fee'],
    properties: {
      type: { const: 'issue.accepted' },
      sessionId: uuid,
      issuanceId: uuid,
      certType,
      copies: { type: 'integer', minimum: MIN_COPIES, maximum: MAX_COPIES },
      fee: { type: 'integer', minimum: 0 },
    },
  },
  'issue.document': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'issuanceId', 'bytes', 'sha256'],
    properties: {
      type: { const: 'issue.document' },
      sessionId: uuid,
      issuanceId: uuid,
      bytes: { type: 'integer', minimum: 1, maximum: MAX_DOCUMENT_BYTES },
      sha256: hex64,
    },
  },
  'issue.recorded': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'sessionId', 'issuanceId', 'outcome', 'charged'],
    properties: {
      type: { const: 'issue.recorded' },
      sessionId: uuid,
      issuanceId: uuid,
      outcome: { type: 'string', enum: ['printed', 'failed'] },
      charged: { type: 'integer', minimum: 0 },
    },
  },
  'issue.late-recorded': {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'issuanceId', 'outcome', 'charged'],
    properties: {
      type: { const: 'issue.late-recorded' },
      issuanceId: uuid,
      outcome: { type: 'string', enum: ['printed', 'failed'] },
      charged: { type: 'integer', minimum: 0 },
    },
  },
  error: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'code', 'message', 'messageJa'],
    properties: {
      type: { const: 'error' },
      code: errorCode,
      message: { type: 'string', maxLength: 500 },
      messageJa: { type: 'string', maxLength: 500 },
      sessionId: uuid,
      issuanceId: uuid,
      triesLeft: { type: 'integer' },
    },
  },
} as const;

function dispatcher<M extends { type: string }>(schemas: Record<string, object>, side: string) {
  const validators = new Map(Object.entries(schemas).map(([type, s]) => [type, validator<M>(s, `${side}:${type}`)]));
  return (raw: string | Buffer): M => {
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    if (Buffer.byteLength(text) > MAX_MESSAGE_BYTES) throw new KonbiniError('MESSAGE_TOO_LARGE', { side });
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new KonbiniError('MESSAGE_INVALID', { side, reason: 'json' });
    }
    const type = (data as { type?: unknown } | null)?.type;
    if (typeof data !== 'object' || data === null || Array.isArray(data) || typeof type !== 'string') {
      throw new KonbiniError('MESSAGE_INVALID', { side, reason: 'no-type' });
    }
    const check = validators.get(type);
    if (!check) throw new KonbiniError('MESSAGE_UNKNOWN_TYPE', { side, type: type.slice(0, 40) });
    return check(data);
  };
}

/** Parse and validate a text frame from a kiosk (centre side). */
export const parseKioskMessage = dispatcher<KioskMessage>(kioskSchemas, 'kiosk');
/** Parse and validate a text frame from the centre (kiosk side). */
export const parseCentreMessage = dispatcher<CentreMessage>(centreSchemas, 'centre');

/** Build the error message sent to a kiosk. */
export function errorMessage(err: KonbiniError, ids: { sessionId?: string; issuanceId?: string } = {}): ErrorMessage {
  const extra = typeof err.detail.triesLeft === 'number' ? { triesLeft: err.detail.triesLeft } : {};
  return { type: 'error', ...err.toBody(), ...ids, ...extra };
}

// ---------------------------------------------------------------- binary document frames

const UUID_BYTES = 16;

export function uuidToBytes(u: string): Buffer {
  return Buffer.from(u.replace(/-/g, ''), 'hex');
}
export function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A chunk of an issuance's document, addressed by its issuance id. */
export function encodeDocumentChunk(issuanceId: string, chunk: Buffer): Buffer {
  return Buffer.concat([uuidToBytes(issuanceId), chunk]);
}

export function decodeDocumentChunk(frame: Buffer): { issuanceId: string; chunk: Buffer } {
  if (frame.length <= UUID_BYTES) throw new KonbiniError('MESSAGE_INVALID', { reason: 'short-chunk' });
  return { issuanceId: bytesToUuid(frame.subarray(0, UUID_BYTES)), chunk: frame.subarray(UUID_BYTES) };
}

// ---------------------------------------------------------------- centre <-> city (HTTP)

export const CITY_API = {
  menu: '/v1/menu',
  issue: '/v1/issue',
  outcome: '/v1/outcome',
  health: '/v1/health',
} as const;

export interface CityMenuRequest {
  cardSerial: string;
  kioskId: string;
}
export interface CityMenuResponse {
  city: CityRef;
  items: MenuItem[];
  refusals: MenuRefusal[];
}
export interface CityIssueRequest {
  issuanceId: string;
  cardSerial: string;
  kioskId: string;
  certType: string;
  options: CertOptions;
  copies: number;
}
export interface CityOutcomeRequest {
  issuanceId: string;
  outcome: 'printed' | 'failed';
  copiesPrinted: number;
}
export interface CityOutcomeResponse {
  issuanceId: string;
  recorded: true;
}

/** Response headers of the issue endpoint: the body is the PDF itself. */
export const DOCUMENT_HEADERS = {
  issuanceId: 'x-issuance-id',
  sha256: 'x-document-sha256',
  fee: 'x-fee',
} as const;

export const cityMenuRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cardSerial', 'kioskId'],
  properties: { cardSerial: serialHex, kioskId: id },
} as const;

export const cityMenuResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['city', 'items', 'refusals'],
  properties: {
    city: cityRefSchema,
    items: { type: 'array', maxItems: 20, items: menuItemSchema },
    refusals: { type: 'array', maxItems: 20, items: menuRefusalSchema },
  },
} as const;

export const cityIssueRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuanceId', 'cardSerial', 'kioskId', 'certType', 'options', 'copies'],
  properties: {
    issuanceId: uuid,
    cardSerial: serialHex,
    kioskId: id,
    certType: { type: 'string', maxLength: 40 },
    options: certOptionsSchema,
    copies: { type: 'integer' },
  },
} as const;

export const cityOutcomeRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuanceId', 'outcome', 'copiesPrinted'],
  properties: {
    issuanceId: uuid,
    outcome: { type: 'string', enum: ['printed', 'failed'] },
    copiesPrinted: { type: 'integer', minimum: 0, maximum: MAX_COPIES },
  },
} as const;

export const cityOutcomeResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuanceId', 'recorded'],
  properties: { issuanceId: uuid, recorded: { const: true } },
} as const;

export const errorBodySchema = {
  type: 'object',
  required: ['code'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, messageJa: { type: 'string' } },
} as const;

export const parseCityMenuResponse = validator<CityMenuResponse>(cityMenuResponseSchema, 'city:menu-response');
export const parseCityOutcomeResponse = validator<CityOutcomeResponse>(cityOutcomeResponseSchema, 'city:outcome-response');
