import { createHash } from 'node:crypto';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { KonbiniError } from '@konbini/protocol';

/*
 * Logs carry ids and hashes only (DESIGN §5 invariant 5). Two layers:
 * - every log call's fields pass an allow-list (anything else is dropped, keeping
 *   only the key names so a mistake shows up without leaking the value);
 * - req/res/err have serializers that keep the few safe fields.
 * The card serial is logged only as its SHA-256 (cardSerialSha256).
 */
export const LOG_FIELDS = new Set([
  'req',
  'res',
  'err',
  'reqId',
  'responseTime',
  'client',
  'issuanceId',
  'kioskId',
  'code',
  'rule',
  'cardSerialSha256',
  'documentSha256',
  'certType',
  'copies',
  'fee',
  'bytes',
  'outcome',
  'copiesPrinted',
  'result',
  'renderMs',
  'cityCode',
  'datasetSeed',
  'households',
  'residents',
  'cardLinks',
  'migrations',
  'startMs',
  'charsetSize',
  'dropped',
  // replica sync and freshness (sequence numbers, batch ids, counts, times: no personal data)
  'alert',
  'batchId',
  'applied',
  'alreadyApplied',
  'lastSeq',
  'lastSyncAt',
  'ageS',
  'maxAgeS',
  'dryRun',
  'ms',
]);

export function cardSerialSha256(serial: string): string {
  return createHash('sha256').update(serial.toLowerCase()).digest('hex');
}

function allowListed(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (LOG_FIELDS.has(k)) out[k] = v;
    else dropped.push(k);
  }
  if (dropped.length) out.dropped = dropped;
  return out;
}

interface RawRequestLike {
  method?: string;
  url?: string;
  routeOptions?: { url?: string };
  id?: string;
}

export const serializers = {
  req: (req: RawRequestLike) => ({ method: req.method, url: req.url?.split('?')[0], id: req.id }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
  err: (err: unknown) => {
    if (err instanceof KonbiniError) {
      // detail is ids and hashes by KonbiniError's contract
      return { type: err.name, code: err.code, detail: err.detail };
    }
    const e = err as { name?: string; code?: string; statusCode?: number } | null;
    // messages of foreign errors (SQL, parsers) may quote data: never logged
    return { type: e?.name ?? typeof err, code: e?.code, statusCode: e?.statusCode };
  },
};

export interface LogOptions {
  level?: string;
  /** Where the JSON lines go; stdout when absent. */
  stream?: DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'city-cert-server' },
    serializers,
    formatters: { log: allowListed },
  };
  return options.stream ? pino(config, options.stream) : pino(config);
}
