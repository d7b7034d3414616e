import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../replica/db.js';
import { cardSerialSha256 } from '../http/logging.js';
import type { OutboxOp } from './schema.js';
import { CARD_LINK_API, MAX_CARD_LINK_BATCH, parseCardLinkBatchResponse, type CardLinkBatchResponse } from '@konbini/protocol';

/*
 * Delivers the card link changes queued in centre_outbox (schema.ts) to the centre's
 * city API (protocol/src/card-link-api.ts; issuance-center/README.md, "Cities maintain
 * their card links"): `POST /v1/card-links/batch {"changes": [{op, serial}, ...]}` over
 * mutual TLS with the city's own LGWAN certificate (the one it serves with), the
 * centre's certificate pinned by its SHA-256 fingerprint on top of the LGWAN CA chain.
 *
 * In order: a worker first leases the head row (lowest id), and only the holder of the
 * head leases the rows right behind it, up to `batchSize`; so a later change never
 * overtakes an earlier one (an add and a revoke of the same card arrive as add, remove)
 * and two workers never send the same rows. The centre applies a batch in order in one
 * transaction and answers how many changes from the start it took; those rows are
 * deleted. A change it refuses (another city's card) stays at the head with attempts,
 * the error code and the next attempt time (exponential backoff, capped), and
 * everything behind it waits; so does the whole batch when the call fails. Idempotent
 * at the centre: adding a link the city already holds there changes nothing; removing
 * a link the centre no longer holds is the state wanted and counts as delivered.
 */

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
  /** Changes per call, at most MAX_CARD_LINK_BATCH (the default). */
  batchSize?: number;
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

type Outcome = { ok: true; answer: CardLinkBatchResponse } | { ok: false; error: string };

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

  /** Delivers batches from the head until the outbox is empty, the head must wait, or another worker holds it. */
  private async drain(): Promise<void> {
    while (!this.stopped) {
      const [head] = await this.db.query<Row>(
        `UPDATE centre_outbox SET leased_until = now() + interval '${LEASE_S} seconds', leased_by = $1
         WHERE id = (SELECT id FROM centre_outbox ORDER BY id LIMIT 1)
           AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
         RETURNING id::text AS id, seq::text AS seq, op, serial, attempts`,
        [this.me],
      );
      if (!head) {
        // empty, or the head waits for its retry time: come back then (or at the next poll)
        const [h] = await this.db.query<{ wait_ms: number }>(
          `SELECT GREATEST(0, EXTRACT(EPOCH FROM (GREATEST(next_attempt_at, COALESCE(leased_until, next_attempt_at)) - now())) * 1000)::float8 AS wait_ms
           FROM centre_outbox ORDER BY id LIMIT 1`,
        );
        if (h && Number(h.wait_ms) < (this.opts.pollMs ?? 2000)) {
          await this.sleep(Number(h.wait_ms));
          continue;
        }
        return;
      }
      const rows = [head, ...(await this.leaseFollowers(head.id))];
      const outcome = await this.send(rows);
      // logs: the allow-listed fields only (http/logging.ts): ids and hashes, the rest in the message
      const last = rows[rows.length - 1]!;
      const what = rows.length === 1 ? `centre outbox #${head.id} seq ${head.seq} ${head.op}` : `centre outbox #${head.id}-#${last.id} seq ${head.seq}-${last.seq} (${rows.length} changes)`;
      const done = outcome.ok ? outcome.answer.applied : 0;
      if (done > 0) {
        await this.db.query('DELETE FROM centre_outbox WHERE id = ANY($1::bigint[]) AND leased_by = $2', [rows.slice(0, done).map((r) => r.id), this.me]);
        const notLinked = outcome.ok && outcome.answer.notLinked ? ` (${outcome.answer.notLinked} not linked at the centre)` : '';
        this.log.info({ result: 'delivered', applied: done, ...(rows.length === 1 ? { cardSerialSha256: cardSerialSha256(head.serial) } : {}) }, `${what}: ${done === rows.length ? 'delivered' : `${done} delivered`}${notLinked}`);
      }
      if (outcome.ok && done === rows.length) continue;
      // The first change not taken (refused, or the whole batch when the call failed) is the new head.
      const stuck = rows[done]!;
      const error = outcome.ok ? (outcome.answer.refused?.code ?? 'CITY_PROTOCOL') : outcome.error;
      const attempts = stuck.attempts + 1;
      const delay = Math.min((this.opts.backoffMs ?? 1000) * 2 ** Math.min(attempts - 1, 20), this.opts.maxBackoffMs ?? 300_000);
      await this.db.query(
        `UPDATE centre_outbox SET attempts = $3, last_error = $4, next_attempt_at = now() + ($5::float8 * interval '1 millisecond'), leased_until = NULL, leased_by = NULL
         WHERE id = $1 AND leased_by = $2`,
        [stuck.id, this.me, attempts, error.slice(0, 64), delay],
      );
      await this.db.query('UPDATE centre_outbox SET leased_until = NULL, leased_by = NULL WHERE id = ANY($1::bigint[]) AND leased_by = $2', [rows.slice(done + 1).map((r) => r.id), this.me]);
      const msg = `centre outbox #${stuck.id} seq ${stuck.seq} ${stuck.op}: attempt ${attempts} failed (${error}), next in ${delay} ms`;
      const card = cardSerialSha256(stuck.serial);
      if (attempts >= (this.opts.alertAfter ?? 5)) this.log.error({ alert: 'centre-outbox-stuck', code: error, cardSerialSha256: card, result: 'retry' }, msg);
      else this.log.warn({ code: error, cardSerialSha256: card, result: 'retry' }, msg);
      return;
    }
  }

  /**
   * While holding the head's lease: the rows right behind it, in order, up to the batch
   * size. Only a head holder leases followers, so they are free unless a worker that held
   * the head before crashed (its leases expire with its head's); the batch is cut at the
   * first row still leased, so it stays a run without gaps.
   */
  private async leaseFollowers(headId: string): Promise<Row[]> {
    const size = Math.min(Math.max(this.opts.batchSize ?? MAX_CARD_LINK_BATCH, 1), MAX_CARD_LINK_BATCH);
    if (size === 1) return [];
    const next = await this.db.query<Row & { free: boolean }>(
      `SELECT id::text AS id, seq::text AS seq, op, serial, attempts, (leased_until IS NULL OR leased_until < now()) AS free
       FROM centre_outbox WHERE id > $1 ORDER BY centre_outbox.id LIMIT $2`,
      [headId, size - 1],
    );
    const cut = next.findIndex((r) => !r.free);
    const run = (cut < 0 ? next : next.slice(0, cut)).map(({ free: _free, ...r }) => r);
    if (!run.length) return [];
    const leased = await this.db.query<{ id: string }>(
      `UPDATE centre_outbox SET leased_until = now() + interval '${LEASE_S} seconds', leased_by = $1
       WHERE id = ANY($2::bigint[]) AND (leased_until IS NULL OR leased_until < now())
       RETURNING id::text AS id`,
      [this.me, run.map((r) => r.id)],
    );
    const got = new Set(leased.map((r) => r.id));
    const gap = run.findIndex((r) => !got.has(r.id));
    const kept = gap < 0 ? run : run.slice(0, gap);
    if (gap >= 0) {
      const release = run.slice(gap).map((r) => r.id).filter((id) => got.has(id));
      if (release.length) await this.db.query('UPDATE centre_outbox SET leased_until = NULL, leased_by = NULL WHERE id = ANY($1::bigint[]) AND leased_by = $2', [release, this.me]);
    }
    return kept;
  }

  private send(rows: Row[]): Promise<Outcome> {
    const body = Buffer.from(JSON.stringify({ changes: rows.map((r) => ({ op: r.op, serial: r.serial })) }));
    const pin = this.pin;
    return new Promise<Outcome>((resolve) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port || 443,
          path: `${this.base.pathname.replace(/\/$/, '')}${CARD_LINK_API.batch}`,
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
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 64 * 1024) chunks.push(c);
          });
          res.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? 'response-error' }));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              json = undefined;
            }
            if (status !== 200) {
              const code = (json as { code?: unknown } | undefined)?.code;
              resolve({ ok: false, error: typeof code === 'string' && /^[A-Z_]{1,48}$/.test(code) ? code : `http-${status}` });
              return;
            }
            try {
              const answer = parseCardLinkBatchResponse(json);
              // an answer that does not fit the batch sent is not believed: nothing is deleted
              if (answer.applied > rows.length || (answer.refused && answer.refused.index !== answer.applied) || (!answer.refused && answer.applied !== rows.length)) throw new Error('inconsistent');
              resolve({ ok: true, answer });
            } catch {
              resolve({ ok: false, error: 'CITY_PROTOCOL' });
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? 'network-error' }));
      req.end(body);
    });
  }
}
