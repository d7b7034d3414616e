/**
 * A second printer backend: a CUPS queue. The job goes to cupsd with `lp` from the
 * document buffer on its standard input, so the kiosk writes no spool file of its
 * own; the job is titled with the issuance id (never "the next" or "the latest":
 * DESIGN §5 invariant 1), printed two-sided, and followed by its job id until cupsd
 * says how it ended (IPP Get-Job-Attributes over the same server): only a job in
 * state `completed` counts as printed. A job that does not finish in time is
 * cancelled, so it can never come out later for someone else.
 *
 * cupsd's own copy (its RequestRoot d-file) is removed when the job ends when the
 * server runs with `PreserveJobFiles No`, which a kiosk's cupsd must.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { userInfo } from 'node:os';
import { KonbiniError } from '@konbini/protocol';
import type { Printer, PrintResult } from './printer.js';

export interface LpPrinterOptions {
  queue: string;
  /** CUPS server: a unix socket path or host[:port] (lp -h). Default: the system's. */
  server?: string;
  /** How long a job may take before it is cancelled and reported failed (ms, default 120 s). */
  timeoutMs?: number;
  /** How often to ask cupsd about the job (ms, default 200). */
  pollMs?: number;
}

const ISSUANCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const QUEUE = /^[A-Za-z0-9_.-]{1,127}$/;

/** IPP job-state values (RFC 8011 §5.3.7). */
const JOB_STATE = { pending: 3, held: 4, processing: 5, stopped: 6, canceled: 7, aborted: 8, completed: 9 } as const;

export type PrinterSpec = { kind: 'tray' } | { kind: 'cups'; queue: string; server?: string };

/** `tray` (the simulated tray, default) or `cups:<queue>[@<server>]` (server: socket path or host[:port]). */
export function parsePrinterSpec(text: string): PrinterSpec {
  if (text === 'tray') return { kind: 'tray' };
  const m = /^cups:([A-Za-z0-9_.-]{1,127})(?:@(.+))?$/.exec(text);
  if (!m) throw new Error(`printer must be "tray" or "cups:<queue>[@<server>]", not ${JSON.stringify(text)}`);
  return { kind: 'cups', queue: m[1]!, ...(m[2] ? { server: m[2] } : {}) };
}

export class LpPrinter implements Printer {
  private readonly timeoutMs: number;
  private readonly pollMs: number;

  constructor(private readonly opts: LpPrinterOptions) {
    if (!QUEUE.test(opts.queue)) throw new Error(`not a CUPS queue name: ${JSON.stringify(opts.queue)}`);
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.pollMs = opts.pollMs ?? 200;
  }

  async print(issuanceId: string, pdf: Buffer, copies: number): Promise<PrintResult> {
    if (!ISSUANCE_ID.test(issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'bad-issuance-id' });
    const jobId = await this.submit(issuanceId, pdf);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const state = await this.jobState(jobId).catch(() => null);
      if (state === JOB_STATE.completed) return { copiesPrinted: copies, sheets: [`cups:${this.opts.queue}-${jobId}`] };
      if (state === JOB_STATE.canceled || state === JOB_STATE.aborted) {
        throw new KonbiniError('PRINTER_UNAVAILABLE', { issuanceId, reason: state === JOB_STATE.aborted ? 'job-aborted' : 'job-canceled' });
      }
      if (Date.now() > deadline) {
        // Never leave a job behind that could print later, unattended.
        await this.cancel(jobId).catch(() => {});
        throw new KonbiniError('PRINTER_UNAVAILABLE', { issuanceId, reason: 'timeout', state: state ?? 'unknown' });
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /**
   * After a restart: this issuance's job, found by its title (the issuance id, never
   * "the latest job"). Completed: its copies; cancelled or aborted: 0; still queued
   * or printing: followed to its end like a fresh job (cancelled at the time-out);
   * not known to cupsd (never submitted, or its history purged): null.
   */
  async recover(issuanceId: string, copies: number): Promise<number | null> {
    if (!ISSUANCE_ID.test(issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'bad-issuance-id' });
    const jobs = await this.jobs();
    const mine = jobs.filter((j) => j.name === issuanceId).sort((a, b) => b.id - a.id);
    if (!mine.length) return null;
    // Submitted once per issuance; should there be more, any one that came out counts.
    if (mine.some((j) => j.state === JOB_STATE.completed)) return copies;
    const open = mine.find((j) => j.state !== JOB_STATE.canceled && j.state !== JOB_STATE.aborted);
    if (!open) return 0;
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const state = await this.jobState(open.id).catch(() => null);
      if (state === JOB_STATE.completed) return copies;
      if (state === JOB_STATE.canceled || state === JOB_STATE.aborted) return 0;
      if (Date.now() > deadline) {
        await this.cancel(open.id).catch(() => {});
        return 0;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /** IPP Get-Jobs (all, with their titles) on this queue. */
  private async jobs(): Promise<{ id: number; name: string; state: number }[]> {
    const body = ippRequest(0x000a, [
      [0x47, 'attributes-charset', Buffer.from('utf-8')],
      [0x48, 'attributes-natural-language', Buffer.from('en')],
      [0x45, 'printer-uri', Buffer.from(`ipp://localhost/printers/${this.opts.queue}`)],
      // cupsd shows a job's title (job-name is one of its private values) to the job's owner only: the kiosk's own user, who ran lp
      [0x42, 'requesting-user-name', Buffer.from(userInfo().username)],
      [0x44, 'which-jobs', Buffer.from('all')],
      [0x44, 'requested-attributes', Buffer.from('job-id')],
      [0x44, '', Buffer.from('job-name')],
      [0x44, '', Buffer.from('job-state')],
    ]);
    return ippJobs(await this.ipp('/', body));
  }

  private ipp(path: string, body: Buffer): Promise<Buffer> {
    const server = this.opts.server ?? process.env.CUPS_SERVER ?? 'localhost:631';
    const target = server.startsWith('/') ? { socketPath: server } : { host: server.split(':')[0], port: Number(server.split(':')[1] ?? 631) };
    return new Promise((resolve, reject) => {
      const req = request({ ...target, method: 'POST', path, headers: { 'content-type': 'application/ipp', 'content-length': body.length, host: 'localhost' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.setTimeout(5000, () => req.destroy(new Error('ipp timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  private serverArgs(): string[] {
    return this.opts.server ? ['-h', this.opts.server] : [];
  }

  /** `lp` with the document on stdin; resolves with cupsd's job id. */
  private submit(issuanceId: string, pdf: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn('lp', [...this.serverArgs(), '-d', this.opts.queue, '-t', issuanceId, '-o', 'sides=two-sided-long-edge', '-o', 'raw', '-'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err = (err + d).slice(-500)));
      child.on('error', (e) => reject(new KonbiniError('PRINTER_UNAVAILABLE', { issuanceId, reason: 'lp-missing' }, { cause: e })));
      child.stdin.on('error', () => { /* lp ended early: its exit code says why */ });
      child.on('close', (code) => {
        const m = new RegExp(`request id is ${this.opts.queue.replace(/[.]/g, '\\.')}-(\\d+)`).exec(out);
        if (code === 0 && m) resolve(Number(m[1]));
        else reject(new KonbiniError('PRINTER_UNAVAILABLE', { issuanceId, reason: 'lp', exit: code ?? -1, lp: err.trim().slice(0, 200) }));
      });
      child.stdin.end(pdf);
    });
  }

  private cancel(jobId: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('cancel', [...this.serverArgs(), `${this.opts.queue}-${jobId}`], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('close', () => resolve());
    });
  }

  /** IPP Get-Job-Attributes → job-state. */
  private jobState(jobId: number): Promise<number | null> {
    const body = ippRequest(0x0009, [
      [0x47, 'attributes-charset', Buffer.from('utf-8')],
      [0x48, 'attributes-natural-language', Buffer.from('en')],
      [0x45, 'printer-uri', Buffer.from(`ipp://localhost/printers/${this.opts.queue}`)],
      [0x21, 'job-id', int32(jobId)],
      [0x44, 'requested-attributes', Buffer.from('job-state')],
    ]);
    const server = this.opts.server ?? process.env.CUPS_SERVER ?? 'localhost:631';
    const target = server.startsWith('/') ? { socketPath: server } : { host: server.split(':')[0], port: Number(server.split(':')[1] ?? 631) };
    return new Promise((resolve, reject) => {
      const req = request({ ...target, method: 'POST', path: '/jobs/', headers: { 'content-type': 'application/ipp', 'content-length': body.length, host: 'localhost' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(ippAttribute(Buffer.concat(chunks), 'job-state'));
          } catch (e) {
            reject(e);
          }
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('ipp timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function ippRequest(operation: number, attrs: [number, string, Buffer][]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x02, 0x00, operation >> 8, operation & 0xff, 0, 0, 0, 1, 0x01])];
  for (const [tag, name, value] of attrs) {
    const head = Buffer.alloc(3);
    head[0] = tag;
    head.writeUInt16BE(name.length, 1);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(value.length);
    parts.push(head, Buffer.from(name), len, value);
  }
  parts.push(Buffer.from([0x03]));
  return Buffer.concat(parts);
}

/**
 * Walks an IPP response in order: `group` at each group delimiter (its tag), `visit`
 * for each attribute value with its value tag, its name (an unnamed value continues
 * the previous name) and its bytes. `visit` returning true stops the walk.
 */
function ippWalk(res: Buffer, visit: (tag: number, name: string, value: Buffer) => boolean | void, group?: (tag: number) => void): void {
  if (res.length < 8) throw new Error('short IPP response');
  let at = 8;
  let name = '';
  while (at < res.length) {
    const tag = res[at]!;
    at += 1;
    if (tag === 0x03) return;
    if (tag < 0x10) {
      group?.(tag);
      continue;
    }
    const nameLen = res.readUInt16BE(at);
    at += 2;
    if (nameLen) name = res.subarray(at, at + nameLen).toString('latin1');
    at += nameLen;
    const valueLen = res.readUInt16BE(at);
    at += 2;
    if (visit(tag, name, res.subarray(at, at + valueLen))) return;
    at += valueLen;
  }
}

/** Each job group of a Get-Jobs response: its id, title and state. */
function ippJobs(res: Buffer): { id: number; name: string; state: number }[] {
  const jobs: { id: number; name: string; state: number }[] = [];
  let job: { id: number; name: string; state: number } | null = null;
  ippWalk(
    res,
    (tag, name, value) => {
      if (!job) return;
      if (name === 'job-id' && tag === 0x21 && value.length === 4) job.id = value.readInt32BE(0);
      if (name === 'job-state' && tag === 0x23 && value.length === 4) job.state = value.readInt32BE(0);
      if (name === 'job-name' && (tag === 0x42 || tag === 0x41)) job.name = value.toString('utf8');
    },
    (delimiter) => {
      // 0x02 starts a job's attributes
      job = delimiter === 0x02 ? { id: -1, name: '', state: -1 } : null;
      if (job) jobs.push(job);
    },
  );
  return jobs.filter((j) => j.id > 0);
}

/** The first integer/enum value of attribute `want` in an IPP response, or null. */
function ippAttribute(res: Buffer, want: string): number | null {
  let found: number | null = null;
  ippWalk(res, (tag, name, value) => {
    if (name === want && (tag === 0x23 || tag === 0x21) && value.length === 4) found = value.readInt32BE(0);
    return found !== null;
  });
  return found;
}
