import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FieldCipher } from '../crypto/field-cipher.js';
import { encodeChunk, type ChunkFormat, type RowKind } from './load-rows.js';

/*
 * Sealing a full load costs more than everything else in it (≈ 10 AES-256-GCM
 * envelopes per resident, a few µs each, mostly OpenSSL's per-value setup). The
 * checked lines of each chunk go to worker threads that seal and encode them
 * (load-rows.ts), while the main thread reads and checks the next lines and the
 * database takes the previous chunk. Results come back in submission order, so the
 * load is the same whichever thread sealed what.
 */

export interface ChunkEncoder {
  /** The chunk's lines sealed and encoded (load-rows.ts encodeChunk); `rows` parsed already, for the calling thread. */
  encode(kind: RowKind, format: ChunkFormat, lines: string[], rows: Record<string, unknown>[]): Promise<string | Buffer>;
  /** How many threads seal (0: the calling thread). */
  readonly threads: number;
  close(): Promise<void>;
}

/** Seals on the calling thread. */
export function inlineEncoder(cipher: FieldCipher): ChunkEncoder {
  return {
    threads: 0,
    encode: (kind, format, lines, rows) => {
      try {
        return Promise.resolve(encodeChunk(cipher, kind, format, lines, rows));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    close: async () => undefined,
  };
}

interface Request {
  id: number;
  kind: RowKind;
  format: ChunkFormat;
  /** The chunk's lines joined by '\n' (one string clones faster than an array). */
  lines: string;
}
export type SealWorkerReply = { id: number; out: string | Uint8Array } | { id: number; error: string };

/** From dist/ the worker is seal-worker.js; from src/ (tsx) it needs tsx registered first (see pool/pool.ts). */
function newWorker(key: Buffer): Worker {
  const ts = new URL('./seal-worker.ts', import.meta.url);
  const workerData = { key };
  if (fileURLToPath(import.meta.url).endsWith('.ts') && existsSync(ts)) {
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); });`;
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(new URL('./seal-worker.js', import.meta.url), { workerData });
}

/**
 * `threads` workers sealing chunks round-robin. Falls back to the calling thread when
 * the cipher cannot be handed to a worker (a benchmark's baseline cipher) or a worker fails.
 */
export function workerEncoder(cipher: FieldCipher, threads: number): ChunkEncoder {
  const key = FieldCipher.keyForWorkers(cipher);
  if (!key || threads < 1) {
    key?.fill(0);
    return inlineEncoder(cipher);
  }
  const workers: Worker[] = [];
  const waiting = new Map<number, { resolve(s: string | Buffer): void; reject(e: unknown): void }>();
  let failed: Error | null = null;
  try {
    for (let i = 0; i < threads; i++) {
      const w = newWorker(key);
      w.on('message', (m: SealWorkerReply) => {
        const p = waiting.get(m.id);
        waiting.delete(m.id);
        if ('out' in m) p?.resolve(typeof m.out === 'string' ? m.out : Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
        else p?.reject(new Error(`sealing worker: ${m.error}`));
      });
      w.on('error', (err) => {
        failed = err;
        for (const p of waiting.values()) p.reject(err);
        waiting.clear();
      });
      // not unref()'d: on PGlite nothing else may keep the event loop alive while a chunk is sealed; close() ends them
      workers.push(w);
    }
  } finally {
    key.fill(0); // each worker got its own copy with workerData
  }
  let next = 0;
  let id = 0;
  return {
    threads,
    encode(kind, format, lines) {
      if (failed) return Promise.reject(failed);
      const w = workers[next++ % workers.length]!;
      const req: Request = { id: ++id, kind, format, lines: lines.join('\n') };
      return new Promise<string | Buffer>((resolve, reject) => {
        waiting.set(req.id, { resolve, reject });
        w.postMessage(req);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
