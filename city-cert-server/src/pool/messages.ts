import type { ErrorCode } from '@konbini/protocol';

export interface WorkerRequest {
  jobId: number;
  model: unknown;
}

export type WorkerReply =
  | { type: 'ready'; startMs: number }
  | { type: 'done'; jobId: number; pdf: Uint8Array }
  | { type: 'failed'; jobId: number; code: ErrorCode; detail: Record<string, string | number | boolean | undefined> };
