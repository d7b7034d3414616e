import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../replica/db.js';
import { cardSerialSha256 } from '../http/logging.js';
import type { OutboxOp } from './schema.js';

/*
 * Delivers the card link changes queued in centre_outbox (schema.ts) to the centre's
 * city API (issuance-center/README.md, "Cities maintain their card links"):
 * `POST /v1/card-links/add|remove {"serial"}` over mutual TLS, with the city's own
 * LGWAN certificate (the one it serves with), the centre's certificate pinned by its
 * SHA-256 fingerprint on top of the LGWAN CA chain.
 *
 * In order: only the head row (lowest id) is ever leased, so a later change never
 * overtakes an earlier one (an add and a revoke of the same card in one batch arrive
 * as add, remove). A row is deleted once the centre has it; a failure leaves it at
 * the head with attempts, the error code and the next attempt time (exponential
 * backoff, capped), and everything behind it waits. Idempotent at the centre: adding
 * a link the city already holds there changes nothing (200); removing a link the
 * centre no longer holds answers CARD_NOT_LINKED, which is the state wanted and
 * counts as delivered.
 */

export const CARD_LINK_API = { add: '/v1/card-links/add', remove: '/v1/card-links/remove' } as const;

export interface CentreNotifierOptions {
  /** The centre's city API, e.g. https://centre.lgwan:7446 */
  url: string;
  /** The centre's certificate (PEM) as it presents it on the city API: pinned by fingerprint. */
  centreCert: string;
  /** This city's LGWAN key and certificate (client certificate), and the LGWAN-sim CA. */
  tls: { key: string; cert: string; ca: string };
  /** Poll for rows other workers (or the CLI) queued; default 2 s. A batch applied in this process wakes the loop at once. */
  pollMs?: number;
  /** First retry delay, doubled per attempt up to maxBackoffMs; defaults 1 s and 5 min. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Per-call timeout; default 10 s. */
  timeoutMs?: number;
  /** Failed attempts of one row before an error-level alert; default 5. */
  alertAfter?: number;
}

export function fingerprint256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}


interface Row {
  id: string;
  seq: string;
  op: OutboxOp;
  serial: string;
  attempts: number;
}

type Outcome = { ok: true; note?: string } | { ok: false; error: string };

const LEASE_S = 60;

export class CentreNotifier {
  private readonly pin: string;
  private readonly base: URL;
  private readonly me = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /*
   * One kept-alive connection to the centre: a full load queues an add per linked card
   * (hundreds of thousands in a large city), and a TLS handshake per row would cost
   * more than the row. The pin is checked at each handshake (checkServerIdentity), so
   * a reused connection is one already checked.
   */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly db: Db,
    private readonly opts: CentreNotifierOptions,
    private readonly log: FastifyBaseLogger,
  ) {
    this.pin = fingerprint256(opts.centreCert);
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'https:') throw new Error('the centre city API is https://');
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Stops the loop; waits for a call in flight (its row stays or goes, never half). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeSleep?.();
    await this.running;
    this.agent.destroy();
  }

  private wakeSleep: (() => void) | undefined;

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.max(ms, 10));
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    }).finally(() => {
      this.wakeSleep = undefined;
    });
  }

  /** Deliver now (a batch was just applied). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.drain()
      .catch((err: unknown) => this.log.error({ err, result: 'retry' }, 'centre outbox: delivery loop failed, retried at the next poll'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else this.schedule(this.opts.pollMs ?? 2000);
      });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.max(ms, 10));
    this.timer.unref();
  }

  /** Delivers head rows until the outbox is empty, the head must wait, or another worker holds it. */
  private async drain(): Promise<void> {
    while (!this.stopped) {
      const [row] = await this.db.query<Row>(
        `UPDATE centre_outbox SET leased_until = now() + interval '${LEASE_S} seconds', leased_by = $1
         WHERE id = (SELECT id FROM centre_outbox ORDER BY id LIMIT 1)
           AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
         RETURNING id::text AS id, seq::text AS seq, op, serial, attempts`,
        [this.me],
      );
      if (!row) {
        // empty, or the head waits for its retry time: come back then (or at the next poll)
        const [head] = await this.db.query<{ wait_ms: number }>(
          `SELECT GREATEST(0, EXTRACT(EPOCH FROM (GREATEST(next_attempt_at, COALESCE(leased_until, next_attempt_at)) - now())) * 1000)::float8 AS wait_ms
           FROM centre_outbox ORDER BY id LIMIT 1`,
        );
        if (head && Number(head.wait_ms) < (this.opts.pollMs ?? 2000)) {
          await this.sleep(Number(head.wait_ms));
          continue;
        }
        return;
      }
      const outcome = await this.send(row.op, row.serial);
      // logs: the allow-listed fields only (http/logging.ts): ids and hashes, the rest in the message
      const what = `centre outbox #${row.id} seq ${row.seq} ${row.op}`;
      const card = cardSerialSha256(row.serial);
      if (outcome.ok) {
        await this.db.query('DELETE FROM centre_outbox WHERE id = $1 AND leased_by = $2', [row.id, this.me]);
        this.log.info({ cardSerialSha256: card, result: 'delivered' }, `${what}: delivered${outcome.note ? ` (${outcome.note})` : ''}`);
        continue;
      }
      const attempts = row.attempts + 1;
      const delay = Math.min((this.opts.backoffMs ?? 1000) * 2 ** Math.min(attempts - 1, 20), this.opts.maxBackoffMs ?? 300_000);
      await this.db.query(
        `UPDATE centre_outbox SET attempts = $3, last_error = $4, next_attempt_at = now() + ($5::float8 * interval '1 millisecond'), leased_until = NULL, leased_by = NULL
         WHERE id = $1 AND leased_by = $2`,
        [row.id, this.me, attempts, outcome.error.slice(0, 64), delay],
      );
      const msg = `${what}: attempt ${attempts} failed (${outcome.error}), next in ${delay} ms`;
      if (attempts >= (this.opts.alertAfter ?? 5)) this.log.error({ alert: 'centre-outbox-stuck', code: outcome.error, cardSerialSha256: card, result: 'retry' }, msg);
      else this.log.warn({ code: outcome.error, cardSerialSha256: card, result: 'retry' }, msg);
      return;
    }
  }

  private send(op: OutboxOp, serial: string): Promise<Outcome> {
    const body = Buffer.from(JSON.stringify({ serial }));
    const pin = this.pin;
    return new Promise<Outcome>((resolve) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port || 443,
          path: `${this.base.pathname.replace(/\/$/, '')}${CARD_LINK_API[op]}`,
          method: 'POST',
          key: this.opts.tls.key,
          cert: this.opts.tls.cert,
          ca: this.opts.tls.ca,
          agent: this.agent,
          timeout: this.opts.timeoutMs ?? 10_000,
          // the CA chain is checked by TLS; the pin decides it is the centre (the name is not used)
          checkServerIdentity: (_host: string, peer: PeerCertificate) =>
            peer.fingerprint256?.replace(/:/g, '').toLowerCase() === pin ? undefined : Object.assign(new Error('centre certificate not pinned'), { code: 'CENTRE_CERT_MISMATCH' }),
          headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            if (chunks.length < 16) chunks.push(c);
          });
          res.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? 'response-error' }));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            let code: string | undefined;
            try {
              code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown }).code as string | undefined;
            } catch {
              code = undefined;
            }
            if (status === 200) resolve({ ok: true });
            else if (op === 'remove' && code === 'CARD_NOT_LINKED') resolve({ ok: true, note: 'not linked at the centre' });
            else resolve({ ok: false, error: typeof code === 'string' && /^[A-Z_]{1,48}$/.test(code) ? code : `http-${status}` });
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? 'network-error' }));
      req.end(body);
    });
  }
}
