import type { ErrorCode } from './errors.js';
import { validator } from './validate.js';

/*
 * The centre's LGWAN-side API where a city keeps the centre's card directory in step
 * with its replica (card issued → add, card revoked → remove). Defined here once:
 * the city's outbox (city-cert-server/src/outbox) calls it, the centre
 * (issuance-center/src/http/city-api.ts) serves it.
 *
 * `add` and `remove` take one card. `batch` takes up to MAX_CARD_LINK_BATCH changes
 * applied in their order in one transaction: a full load of a large city queues an
 * add per linked card (≈ 500,000 for a million residents), which one call per card
 * took about an hour to deliver.
 */
export const CARD_LINK_API = {
  add: '/v1/card-links/add',
  remove: '/v1/card-links/remove',
  batch: '/v1/card-links/batch',
} as const;

export const MAX_CARD_LINK_BATCH = 1000;

export type CardLinkOp = 'add' | 'remove';

export interface CardLinkRequest {
  serial: string;
}

export interface CardLinkChange {
  op: CardLinkOp;
  serial: string;
}

export interface CardLinkBatchRequest {
  changes: CardLinkChange[];
}

/**
 * `applied` changes from the start of the batch took effect (committed together).
 * A removal of a link the centre does not hold counts as applied (the state wanted)
 * and is counted in `notLinked`. `refused`, when present, is the first change the
 * centre would not take, and nothing after it was looked at: the city keeps it and
 * everything behind it, so the order is never broken.
 */
export interface CardLinkBatchResponse {
  applied: number;
  notLinked: number;
  refused?: { index: number; code: ErrorCode };
}

const serial = { type: 'string', pattern: '^[0-9a-fA-F]{1,64}$' } as const;

export const cardLinkRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['serial'],
  properties: { serial },
} as const;

export const cardLinkBatchRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['changes'],
  properties: {
    changes: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_CARD_LINK_BATCH,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['op', 'serial'],
        properties: { op: { type: 'string', enum: ['add', 'remove'] }, serial },
      },
    },
  },
} as const;

export const cardLinkBatchResponseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['applied', 'notLinked'],
  properties: {
    applied: { type: 'integer', minimum: 0, maximum: MAX_CARD_LINK_BATCH },
    notLinked: { type: 'integer', minimum: 0, maximum: MAX_CARD_LINK_BATCH },
    refused: {
      type: 'object',
      additionalProperties: false,
      required: ['index', 'code'],
      properties: { index: { type: 'integer', minimum: 0, maximum: MAX_CARD_LINK_BATCH - 1 }, code: { type: 'string', pattern: '^[A-Z_]{1,48}$' } },
    },
  },
} as const;

/** Bytes of the largest valid batch body, with room: the centre's body limit for the route. */
export const CARD_LINK_BATCH_BODY_LIMIT = 128 * 1024;

export const parseCardLinkBatchResponse = validator<CardLinkBatchResponse>(cardLinkBatchResponseSchema, 'card-links:batch-response');
