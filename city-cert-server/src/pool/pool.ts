/**
 * Render pool: certificate rendering (pdfmake, CPU-bound, ≈ 10-100 ms a document) in
 * worker threads, so one slow document never holds up the others. Each worker parses
 * the fonts once at start and renders one document at a time; requests wait in one
 * FIFO queue and go to whichever worker is free.
 *
 * A worker that dies (crash, out of memory, or terminated after `timeoutMs`) fails the
 * one request it held with RENDER_FAILED and is replaced; the queue goes on.
 * Binding and signing stay in the main thread (one PKCS#11 session; ≈ 1 ms).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KonbiniError } from '@konbini/protocol';
import type { CertificateModel } from '../render/model.js';
import type { WorkerReply, WorkerRequest } from './messages.js';

export interface RenderPoolOptions {
  size: number;
  /** A render running longer is abandoned: its worker is terminated and replaced (default 60 s). */
  timeoutMs?: number;
  /** Told when a worker starts (fonts ready) or is replaced: for logs. */
  onEvent?: (e: { event: 'ready' | 'replaced'; workerId: number; startMs?: number; code?: string }) => void;
}

interface Job {
  jobId: number;
  model: CertificateModel;
  resolve(pdf: Buffer): void;
  reject(err: unknown): void;
}

interface Slot {
  id: number;
  worker: Worker;
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

/**
 * From dist/ the worker is worker.js. From src/ (tsx: tests, `npm run samples`) it is
 * worker.ts, and a worker thread does not inherit the main thread's loader hooks, so
 * a two-line bootstrap registers tsx in the worker first.
 */
function newWorker(): Worker {
  const ts = new URL('./worker.ts', import.meta.url);
  if (fileURLToPath(import.meta.url).endsWith('.ts') && existsSync(ts)) {
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); });`;
    return new Worker(boot, { eval: true, resourceLimits: RENDER_WORKER_LIMITS });
  }
  return new Worker(new URL('./worker.js', import.meta.url), { resourceLimits: RENDER_WORKER_LIMITS });
}

/**
 * A render allocates ≈ 10-20 MB of short-lived objects (pdfmake nodes, pdfkit
 * content fragments, font subsets): with V8's default young generation (16 MB
 * semi-spaces, grown only under pressure) a worker spends a sixth of each document
 * in scavenges. 32 MB semi-spaces (young generation 3 × 32 MB) measured 10-15 % less
 * CPU per document (`node --max-semi-space-size=32`, same bench, interleaved runs).
 */
export const RENDER_WORKER_LIMITS = { maxYoungGenerationSizeMb: 96 } as const;

export class RenderPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextJob = 1;
  private nextWorker = 1;
  private closed = false;
  readonly size: number;

  constructor(private readonly options: RenderPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 64) throw new RangeError('render pool size is 1-64');
    this.size = options.size;
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  /** Resolves when every worker has parsed its fonts. */
  async ready(): Promise<void> {
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            if (s.ready) return resolve();
            const onMessage = (m: WorkerReply) => {
              if (m.type === 'ready') {
                s.worker.off('error', reject);
                resolve();
              }
            };
            s.worker.on('message', onMessage);
            s.worker.once('error', reject);
          }),
      ),
    );
  }

  /** PDF bytes (binding placeholder, unsigned) of the model, rendered in a worker. */
  render(model: CertificateModel): Promise<Buffer> {
    if (this.closed) return Promise.reject(new KonbiniError('RENDER_FAILED', { issuanceId: model.issuanceId, reason: 'pool-closed' }));
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ jobId: this.nextJob++, model, resolve, reject });
      this.dispatch();
    });
  }

  /** Workers now rendering, by issuance id (for tests and diagnostics). */
  busy(): { issuanceId: string; worker: Worker }[] {
    return this.slots.filter((s) => s.job).map((s) => ({ issuanceId: s.job!.model.issuanceId, worker: s.worker }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new KonbiniError('RENDER_FAILED', { issuanceId: j.model.issuanceId, reason: 'pool-closed' }));
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.timer) clearTimeout(s.timer);
        s.job?.reject(new KonbiniError('RENDER_FAILED', { issuanceId: s.job.model.issuanceId, reason: 'pool-closed' }));
        s.job = null;
        await s.worker.terminate();
      }),
    );
  }

  private spawn(): Slot {
    const slot: Slot = { id: this.nextWorker++, worker: newWorker(), ready: false, job: null, timer: null };
    slot.worker.on('message', (m: WorkerReply) => this.onMessage(slot, m));
    slot.worker.on('error', () => {
      // followed by 'exit': the replacement happens there
    });
    slot.worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private onMessage(slot: Slot, m: WorkerReply): void {
    if (m.type === 'ready') {
      slot.ready = true;
      this.options.onEvent?.({ event: 'ready', workerId: slot.id, startMs: m.startMs });
      this.dispatch();
      return;
    }
    const job = slot.job;
    if (!job || job.jobId !== m.jobId) return; // a late answer for a job already failed: never hand it to anyone
    this.finish(slot);
    if (m.type === 'done') job.resolve(Buffer.from(m.pdf.buffer, m.pdf.byteOffset, m.pdf.byteLength));
    else job.reject(new KonbiniError(m.code, { ...m.detail, issuanceId: job.model.issuanceId }));
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    const job = slot.job;
    this.finish(slot);
    if (this.closed) return;
    job?.reject(new KonbiniError('RENDER_FAILED', { issuanceId: job.model.issuanceId, reason: 'worker-exit', exitCode: code }));
    const fresh = this.spawn();
    this.slots[i] = fresh;
    this.options.onEvent?.({ event: 'replaced', workerId: slot.id, code: 'RENDER_FAILED' });
    this.dispatch();
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.timer = setTimeout(() => {
        // abandoned: the worker goes (onExit fails the job and replaces it)
        void slot.worker.terminate();
      }, this.options.timeoutMs ?? 60_000);
      slot.timer.unref();
      slot.worker.postMessage({ jobId: job.jobId, model: job.model } satisfies WorkerRequest);
    }
  }
}
