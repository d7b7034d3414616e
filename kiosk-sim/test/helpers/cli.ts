/**
 * Runs the kiosk-sim CLI from source (tsx), asynchronously: tests often serve the
 * centre, the city or a virtual card from their own event loop.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'kiosk-sim/src/cli.ts');
const NODE_ARGS = ['--import', 'tsx', '--conditions', 'konbini-source', CLI];

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export function cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((res) => {
    execFile(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      res({ code, out: stdout, err: stderr });
    });
  });
}

/** A long-running CLI command (card insert, issue waiting for a card): output collected as it comes. */
export interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches (rejects after timeoutMs or when the process ends first). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
  /** Stops it by its PID if it still runs. */
  stop(): Promise<void>;
}

export function cliSpawn(args: string[]): CliProcess {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners: Array<() => void> = [];
  const onData = (d: Buffer) => {
    text += d.toString();
    listeners.splice(0).forEach((l) => l());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => {
    listeners.splice(0).forEach((l) => l());
    r(code);
  }));
  return {
    child,
    output: () => text,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolveP, reject) => {
        const check = () => {
          const m = re.exec(text);
          if (m) return resolveP(m[0]);
          if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`process ended before ${re}: ${text}`));
          if (Date.now() > deadline) return reject(new Error(`no ${re} within ${timeoutMs} ms: ${text}`));
          listeners.push(check);
          setTimeout(check, 200).unref();
        };
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      }
    },
  };
}

/** Writes a kiosk config for the CLI; cards are copied into a private cards directory. */
export function writeKioskConfig(dir: string, o: {
  centreUrl?: string; centreOrigin?: string; tls: { key: string; cert: string; ca: string };
  cards: Array<{ cardId: string; from: string }>; fixturesCardsDir?: string; reader?: string;
}): { config: string; cardsDir: string; workDir: string } {
  const cardsDir = join(dir, 'cards');
  const workDir = join(dir, 'kiosk-work');
  mkdirSync(cardsDir, { recursive: true });
  for (const c of o.cards) writeFileSync(join(cardsDir, `${c.cardId}.json`), readFileSync(c.from), { mode: 0o600 });
  const config = join(dir, 'kiosk.json');
  writeFileSync(config, JSON.stringify({
    centreUrl: o.centreUrl ?? 'wss://localhost:1/v1/kiosk',
    centreOrigin: o.centreOrigin,
    tls: o.tls,
    cardsDir,
    workDir,
    fixturesCardsDir: o.fixturesCardsDir,
    reader: o.reader,
  }));
  return { config, cardsDir, workDir };
}
