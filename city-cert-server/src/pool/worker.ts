/**
 * A render worker: parses the fonts once when it starts, then renders certificate
 * models to PDF bytes (with the binding placeholder; binding and signing happen in the
 * main thread, which holds the HSM session). One document at a time per worker.
 */
import { parentPort } from 'node:worker_threads';
import { KonbiniError } from '@konbini/protocol';
import { renderCertificatePdf } from '../render/certificate.js';
import { pdfMake } from '../render/fonts.js';
import type { CertificateModel } from '../render/model.js';
import type { WorkerReply, WorkerRequest } from './messages.js';

/** Structured clone turns Buffers into Uint8Arrays: the renderers expect Buffers. */
function revive(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Date || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(revive);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = revive(x);
  return out;
}

const port = parentPort!;
const started = performance.now();
pdfMake();
port.postMessage({ type: 'ready', startMs: Math.round(performance.now() - started) } satisfies WorkerReply);

port.on('message', (req: WorkerRequest) => {
  renderCertificatePdf(revive(req.model) as CertificateModel).then(
    (pdf) => {
      const bytes = new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength);
      // a copy of exactly these bytes, moved (not copied again) to the main thread; the worker's own is wiped
      const out = bytes.slice();
      pdf.fill(0);
      port.postMessage({ type: 'done', jobId: req.jobId, pdf: out } satisfies WorkerReply, [out.buffer]);
    },
    (err: unknown) => {
      const ke = err instanceof KonbiniError ? err : null;
      port.postMessage({ type: 'failed', jobId: req.jobId, code: ke?.code ?? 'INTERNAL', detail: ke ? { ...ke.detail } : { reason: 'render' } } satisfies WorkerReply);
    },
  );
});
