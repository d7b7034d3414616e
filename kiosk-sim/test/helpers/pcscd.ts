/**
 * One pcscd for the whole machine, shared by every test file that needs PC/SC.
 *
 * Only one pcscd can run (it owns /run/pcscd and vpcd's fixed ports 35963/35964), tap
 * runs test files in parallel, and another developer may run the suite at the same
 * time. So a test file first takes a machine-wide exclusive lock, then starts its own
 * `pcscd -f`, and at the end kills that pcscd by its PID and releases the lock. Files
 * that need pcscd serialise instead of skipping.
 *
 * The lock is a kernel lock (flock(2)) on LOCK_FILE held by a small child process
 * (`flock -o LOCK_FILE sh -c 'echo locked; read x'`): it is released when we tell the
 * child to end, when we kill it by its PID, and by the kernel when this test process
 * dies in any way (the child's stdin closes). A holder that died can never leave a
 * stale lock behind.
 *
 * Next to the lock, OWNER_FILE records who holds it (holder pid, pcscd pid). After
 * taking the lock, a pcscd that is still running is either an orphan of a holder that
 * died (its pid is in OWNER_FILE and that holder is gone: we stop it by its PID) or
 * not ours (no lock holder started it): then the test skips with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync, unlinkSync } from 'node:fs';
import t from 'tap';
import { PcscReader } from '../../src/reader/pcsc-reader.js';

export const LOCK_FILE = '/tmp/konbini-pcscd.lock';
export const OWNER_FILE = '/tmp/konbini-pcscd.owner.json';
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
/** vpcd reader names (slot 0 = TCP 35963, slot 1 = TCP 35964). */
export const VPCD_READER = ['Virtual PCD 00 00', 'Virtual PCD 00 01'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PIDs of running (not zombie) pcscd processes, from /proc. */
export function runningPcscd(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) (\S)/.exec(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (m && m[1] === 'pcscd' && m[2] !== 'Z') pids.push(Number(d));
    } catch { /* gone */ }
  }
  return pids;
}

/** Why PC/SC tests cannot run on this machine at all, or null. */
export function pcscUnavailable(): string | null {
  if (!which('pcscd')) return 'pcscd is not installed (apt-get install pcscd)';
  if (!existsSync(VPCD_DRIVER)) return 'vsmartcard-vpcd is not installed (apt-get install vsmartcard-vpcd)';
  if (!which('flock')) return 'flock(1) is not installed (util-linux)';
  return null;
}

interface Owner {
  holder: number;
  pcscd?: number;
  file?: string;
  since: string;
}

function readOwner(): Owner | null {
  try {
    return JSON.parse(readFileSync(OWNER_FILE, 'utf8')) as Owner;
  } catch {
    return null;
  }
}

function writeOwner(o: Owner): void {
  const tmp = `${OWNER_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(o) + '\n');
  renameSync(tmp, OWNER_FILE);
}

async function stopPid(pid: number, exited?: Promise<unknown>): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + 5000;
  if (exited) await Promise.race([exited, sleep(5000)]);
  else while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export interface MachineLock {
  /** PID of the child holding the flock. */
  readonly holderPid: number;
  release(): Promise<void>;
}

/**
 * Takes the machine-wide pcscd lock, waiting up to `timeoutMs` (default 6 minutes).
 * Extends this test file's tap time-out by the same amount first, so waiting for
 * another file (or another developer's run) is not mistaken for a hang.
 */
export async function takeMachineLock(timeoutMs = 6 * 60_000): Promise<MachineLock> {
  t.setTimeout(timeoutMs + 240_000);
  const waitS = Math.ceil(timeoutMs / 1000);
  const child: ChildProcess = spawn('flock', ['-o', '-w', String(waitS), LOCK_FILE, 'sh', '-c', 'echo locked; read x'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const started = Date.now();
  const got = await new Promise<boolean>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve(true); });
    void exited.then(() => resolve(false));
  });
  if (!got) {
    throw new Error(`could not take the pcscd lock ${LOCK_FILE} within ${waitS} s (another test run holds it: ${JSON.stringify(readOwner())}) ${err}`);
  }
  const waited = Date.now() - started;
  if (waited > 1000) t.comment(`waited ${(waited / 1000).toFixed(1)} s for the pcscd lock`);
  const holderPid = child.pid!;
  let released = false;
  return {
    holderPid,
    async release() {
      if (released) return;
      released = true;
      child.stdin!.end('\n');
      await Promise.race([exited, sleep(2000)]);
      if (child.exitCode === null && child.signalCode === null) await stopPid(holderPid, exited);
    },
  };
}

export interface Pcscd {
  readonly pid: number;
  /** The last few kB of pcscd's own output, for failure messages. */
  log(): string;
  /** Kills pcscd by its PID (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `pcscd -f` as our child. Assumes the lock is held and no pcscd runs. */
export async function startPcscd(extraArgs: string[] = []): Promise<Pcscd> {
  const child = spawn('pcscd', ['-f', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log = (log + d).slice(-4000); });
  child.stderr!.on('data', (d) => { log = (log + d).slice(-4000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid!;
  writeOwner({ holder: process.pid, pcscd: pid, file: process.argv[1], since: new Date().toISOString() });
  // Ready when its socket answers: a short wait for the comm socket to appear.
  for (let i = 0; i < 50 && !existsSync('/run/pcscd/pcscd.comm'); i++) await sleep(50);
  return {
    pid,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) await stopPid(pid, exited);
      const o = readOwner();
      if (o && o.pcscd === pid) writeOwner({ holder: process.pid, since: new Date().toISOString() });
    },
  };
}

export interface PcscEnv {
  /** Set when the tests must skip: the reason. */
  skip: string | false;
  /** Our pcscd (restartable). */
  pcscd: Pcscd | null;
  /** Stops our pcscd and starts a fresh one (a kiosk reboot, as far as PC/SC goes). */
  restart(): Promise<Pcscd>;
  /** Kills our pcscd by PID, releases the lock. Idempotent. */
  release(): Promise<void>;
}

/**
 * Everything a PC/SC test file needs: the lock, then its own pcscd. Registers the
 * release as a teardown of the test file. When PC/SC cannot run here, or a pcscd
 * that no test of ours started is running, returns `skip` with the reason.
 */
export async function usePcscd(): Promise<PcscEnv> {
  const unavailable = pcscUnavailable();
  if (unavailable) return { skip: unavailable, pcscd: null, restart: () => Promise.reject(new Error(unavailable)), release: async () => {} };
  const lock = await takeMachineLock();
  const env: PcscEnv = {
    skip: false,
    pcscd: null,
    async restart() {
      await env.pcscd?.stop();
      env.pcscd = await startPcscd();
      return env.pcscd;
    },
    async release() {
      try {
        await env.pcscd?.stop();
        env.pcscd = null;
        try { unlinkSync(OWNER_FILE); } catch { /* none */ }
      } finally {
        await lock.release();
      }
    },
  };
  t.teardown(() => env.release());
  // A pcscd left by a holder that died (we hold the lock, so that holder is gone):
  // it was started by our tests and recorded; stop it by its PID.
  const owner = readOwner();
  if (owner?.pcscd && owner.holder !== process.pid && !alive(owner.holder) && runningPcscd().includes(owner.pcscd)) {
    t.comment(`stopping pcscd ${owner.pcscd} left by test process ${owner.holder}, which is gone`);
    await stopPid(owner.pcscd);
  }
  const others = runningPcscd();
  if (others.length > 0) {
    env.skip = `a pcscd that no test started is running (pid ${others.join(',')}); not ours to stop`;
    return env;
  }
  env.pcscd = await startPcscd();
  return env;
}

/**
 * A PcscReader bound to `reader`, once pcscd answers and reports that reader
 * (retrying for a freshly started pcscd). Closed by the caller.
 */
export async function openPcscReader(
  reader: string,
  options: { shareMode?: 'shared' | 'exclusive'; timeoutMs?: number } = {},
): Promise<PcscReader> {
  const deadline = Date.now() + (options.timeoutMs ?? 8000);
  let r: PcscReader | null = null;
  while (!r) {
    try {
      r = new PcscReader({ reader, shareMode: options.shareMode ?? 'exclusive' });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
  const opened = r;
  opened.on('pcsc-error', () => { /* diagnostics only; failures surface as KonbiniErrors */ });
  const seen = new Promise<void>((res) => {
    if (opened.name === reader) res();
    else opened.on('reader', (name: string) => { if (name === reader) res(); });
  });
  const ok = await Promise.race([seen.then(() => true), sleep(Math.max(0, deadline - Date.now())).then(() => false)]);
  if (!ok) {
    await opened.close();
    throw new Error(`PC/SC reader ${reader} not reported by pcscd`);
  }
  return opened;
}
