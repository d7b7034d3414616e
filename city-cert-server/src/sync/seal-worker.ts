import { parentPort, workerData } from 'node:worker_threads';
import { FieldCipher } from '../crypto/field-cipher.js';
import { encodeChunk, type ChunkFormat, type RowKind } from './load-rows.js';
import type { SealWorkerReply } from './seal-workers.js';

/* A sealing thread of the full load (seal-workers.ts): chunks of checked lines in, sealed rows out. */

const key = Buffer.from(workerData.key as Uint8Array);
const cipher = new FieldCipher(key);
key.fill(0);
(workerData.key as Uint8Array).fill(0);

parentPort!.on('message', (req: { id: number; kind: RowKind; format: ChunkFormat; lines: string }) => {
  let reply: SealWorkerReply;
  try {
    reply = { id: req.id, out: encodeChunk(cipher, req.kind, req.format, req.lines.split('\n')) };
  } catch (err) {
    // no value in the message: the chunk was checked, so this is a bug, not bad input
    reply = { id: req.id, error: (err as Error).name ?? 'error' };
  }
  // COPY bytes move to the main thread without a copy when they own their memory (not Buffer's shared pool, whose blocks are poolSize bytes)
  const out = 'out' in reply ? reply.out : null;
  const own = Buffer.isBuffer(out) && (out.buffer.byteLength > Buffer.poolSize || (out.byteOffset === 0 && out.buffer.byteLength === out.length));
  parentPort!.postMessage(reply, own ? [out.buffer as ArrayBuffer] : []);
});
