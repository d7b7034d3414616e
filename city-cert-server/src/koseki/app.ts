/**
 * `city-cert serve --role koseki`: the koseki server beside the koseki system at city
 * hall. It holds its own store (戸籍, 附票), applies the koseki-side rules (its hours,
 * a pending filing, the register being served here) and renders, binds and signs the
 * certificate per request; the replica server forwards kiosk requests to it over
 * mutual TLS and relays the PDF. It keeps no copy of what it sends.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { KonbiniError, MAX_COPIES, MIN_COPIES, type Binding, type ErrorCode } from '@konbini/protocol';
import type { LogOptions } from '../http/logging.js';
import { lgwanServer } from '../http/server.js';
import { pdfMake } from '../render/fonts.js';
import { bindAndSign, renderAndBind } from '../render/resident-record.js';
import { RenderPool } from '../pool/pool.js';
import type { CertificateModel } from '../render/model.js';
import { signPlugin, type SignerOption } from '../sign/plugin.js';
import { contentSha256, makeMark, markSignerOf, newVerificationNumber } from '../verify/mark.js';
import { KOSEKI_API, KOSEKI_MARK_HEADERS, kosekiIssueRequestSchema, kosekiStatusRequestSchema, type KosekiIssueRequest, type KosekiStatusRequest, type KosekiStatusResponse } from './api.js';
import { KosekiStore, checkKosekiDataset, type KosekiDataset, type KosekiEntry } from './dataset.js';
import { ALWAYS_OPEN, withinKosekiHours, type KosekiHours } from './hours.js';
import { KOSEKI_CERT_TYPES, fuhyoModel, kosekiModel, type KosekiCertType } from './model.js';

export type RenderAndBind = (model: CertificateModel, cardSerialHmacHex: string) => Promise<{ pdf: Buffer; binding: Binding }>;

export interface KosekiServerOptions {
  tls: { key: string; cert: string; ca: string };
  /** Client certificate CNs served: the city's replica server(s), e.g. city-991015. */
  allowedClients: string[];
  dataset: KosekiDataset;
  /** Koseki-side hours (default: always open; the CLI defaults to weekdays 09:00-17:00). */
  hours?: KosekiHours;
  now?: () => Date;
  signer?: SignerOption;
  /** Renders, binds and signs (default: in this thread with the server's signer; a worker pool may be given). */
  render?: RenderAndBind;
  /** Render in this many worker threads (0 or absent: in the main thread). */
  renderWorkers?: number;
  log?: LogOptions;
}

function peerCommonName(socket: TLSSocket): string | undefined {
  const cn = socket.getPeerCertificate?.()?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? undefined : cn;
}

/** The koseki-side refusal for this holder and type, or null. Order: hours, register, filing, 附票. */
export function kosekiRefusal(store: KosekiStore, entry: KosekiEntry | null, certType: KosekiCertType, open: boolean): ErrorCode | null {
  if (!open) return 'CERT_TYPE_OUTSIDE_HOURS';
  if (!entry) return 'KOSEKI_NOT_SERVED';
  if (entry.record.pendingFiling) return 'KOSEKI_PENDING';
  if (certType === 'koseki-fuhyo' && !store.fuhyoOf(entry.record.id, entry.person)) return 'KOSEKI_NOT_SERVED';
  return null;
}

export async function buildKosekiApp(options: KosekiServerOptions): Promise<FastifyInstance> {
  const store = new KosekiStore(checkKosekiDataset(options.dataset));
  const hours = options.hours ?? ALWAYS_OPEN;
  const now = options.now ?? (() => new Date());
  const allowed = new Set(options.allowedClients);
  const app = lgwanServer(options.tls, options.log);
  app.addHook('onRequest', async (req) => {
    const socket = req.raw.socket as TLSSocket;
    const cn = socket.authorized ? peerCommonName(socket) : undefined;
    if (!cn || !allowed.has(cn)) throw new KonbiniError('FORBIDDEN', { reason: 'client-cn' });
  });

  await app.register(signPlugin, { signer: options.signer });
  pdfMake(); // fonts parsed at start, not in the first request
  const signer = app.documentSigner;
  const markSigner = markSignerOf(signer);
  let render: RenderAndBind = options.render ?? ((model, hmac) => renderAndBind(model, hmac, signer));
  if (!options.render && options.renderWorkers && options.renderWorkers > 0) {
    const pool = new RenderPool({ size: options.renderWorkers });
    app.addHook('onClose', async () => pool.close());
    await pool.ready();
    render = async (model, hmac) => bindAndSign(await pool.render(model), model, hmac, signer);
  }
  app.log.info({ cityCode: store.city.code, result: 'koseki' }, 'koseki store ready');

  app.post<{ Body: KosekiStatusRequest }>(KOSEKI_API.status, { schema: { body: kosekiStatusRequestSchema } }, async (req): Promise<KosekiStatusResponse> => {
    const entry = store.entryOf(req.body.residentId);
    const open = withinKosekiHours(now(), hours);
    return { types: KOSEKI_CERT_TYPES.map((certType) => ({ certType, code: kosekiRefusal(store, entry, certType, open) })) };
  });

  app.post<{ Body: KosekiIssueRequest }>(KOSEKI_API.issue, { schema: { body: kosekiIssueRequestSchema } }, async (req, reply) => {
    const b = req.body;
    const ids = { issuanceId: b.issuanceId, kioskId: b.kioskId };
    if (!Number.isInteger(b.copies) || b.copies < MIN_COPIES || b.copies > MAX_COPIES) throw new KonbiniError('COPIES_OUT_OF_RANGE', ids);
    const issuedAt = now();
    const entry = store.entryOf(b.residentId);
    const code = kosekiRefusal(store, entry, b.certType, withinKosekiHours(issuedAt, hours));
    if (code) throw new KonbiniError(code, { ...ids, rule: 'koseki-side' });
    const head = { city: { ...store.city }, issuanceId: b.issuanceId, issuedAt, copies: b.copies };
    const model = b.certType === 'koseki-fuhyo' ? fuhyoModel(head, entry!, store, b.scope === 'household') : kosekiModel(head, entry!, b.certType);
    const verificationNumber = newVerificationNumber();
    const hash = contentSha256(model);
    model.antiForgery = makeMark({ cityCode: store.city.code, issuanceId: b.issuanceId, verificationNumber, contentSha256: hash }, markSigner);
    const started = performance.now();
    const { pdf } = await render(model, b.cardSerialHmac);
    req.log.info({ ...ids, certType: b.certType, copies: b.copies, bytes: pdf.length, renderMs: Math.round(performance.now() - started) }, 'koseki issued');
    let wiped = false;
    const wipe = () => {
      if (!wiped) {
        wiped = true;
        pdf.fill(0);
      }
    };
    reply.raw.once('finish', wipe);
    reply.raw.once('close', wipe);
    return reply.code(200).header(KOSEKI_MARK_HEADERS.verificationNumber, verificationNumber).header(KOSEKI_MARK_HEADERS.contentSha256, hash).header('content-type', 'application/pdf').header('content-length', pdf.length).header('cache-control', 'no-store').send(pdf);
  });

  app.get(KOSEKI_API.health, async () => ({ status: 'ok', cityCode: store.city.code, registers: store.dataset.koseki.length }));
  return app as unknown as FastifyInstance;
}

