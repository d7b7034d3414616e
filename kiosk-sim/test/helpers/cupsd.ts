/**
 * A private cupsd for printer tests: its own ServerRoot, spool and log in a temporary
 * directory, listening only on a unix socket there (no TCP port), with a `tray`
 * backend that puts each job's document into <dir>/<job title>.pdf (the paper coming
 * out). Started as our child (`cupsd -f`) and stopped by its PID. Skips, with the
 * reason, when CUPS is not installed (Debian: cups-daemon cups-client).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cupsd {
  dir: string;
  socket: string;
  /** cupsd's RequestRoot (its spool of job files). */
  spool: string;
  pid: number;
  /** Adds a queue whose device is the tray backend writing into `trayDir`. */
  addQueue(name: string, trayDir: string, extra?: string[]): void;
  /** Runs a CUPS admin command (cupsdisable, cupsenable, cupsreject, ...) against this server. */
  admin(cmd: string, args: string[]): void;
  stop(): Promise<void>;
}

export function cupsUnavailable(): string | null {
  for (const cmd of ['cupsd', 'lp', 'lpadmin', 'cancel']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `${cmd} not installed (Debian: apt-get install cups-daemon cups-client)`;
  }
  if (!existsSync('/usr/lib/cups/daemon')) return 'no /usr/lib/cups/daemon';
  if (process.getuid?.() !== 0) return 'cupsd needs root here';
  return null;
}

const BACKEND = `#!/bin/sh
# tray backend: the job's document into <dir>/<job title>.pdf, written whole then renamed
[ $# -eq 0 ] && { echo 'direct tray "Unknown" "Kiosk tray (test)"'; exit 0; }
dir="\${DEVICE_URI#tray:}"
name=$(printf '%s' "$3" | tr -cd '0-9a-f-')
[ -n "$name" ] && [ -d "$dir" ] || exit 1
if [ -n "$6" ]; then cat "$6"; else cat; fi > "$dir/$name.pdf.partial" || exit 1
mv "$dir/$name.pdf.partial" "$dir/$name.pdf" || exit 1
`;

export async function startCupsd(): Promise<Cupsd> {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-cupsd-'));
  chmodSync(dir, 0o755);
  for (const d of ['spool', 'cache', 'log', 'state', 'bin', 'bin/backend', 'bin/filter']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  symlinkSync('/usr/lib/cups/daemon', join(dir, 'bin/daemon'));
  writeFileSync(join(dir, 'bin/backend/tray'), BACKEND, { mode: 0o700 });
  const socket = join(dir, 'cups.sock');
  writeFileSync(join(dir, 'cupsd.conf'), [
    `Listen ${socket}`, 'LogLevel info', 'WebInterface No', 'Browsing No', 'DefaultAuthType None',
    'PreserveJobHistory Yes', 'PreserveJobFiles No',
    '<Location />', '  Order allow,deny', '  Allow all', '</Location>',
    '<Location /admin>', '  Order allow,deny', '  Allow all', '</Location>', '',
  ].join('\n'));
  writeFileSync(join(dir, 'cups-files.conf'), [
    `ServerRoot ${dir}`, `ServerBin ${dir}/bin`, `RequestRoot ${dir}/spool`, `CacheDir ${dir}/cache`, `StateDir ${dir}/state`,
    `TempDir ${dir}/spool`, `AccessLog ${dir}/log/access_log`, `ErrorLog ${dir}/log/error_log`, `PageLog ${dir}/log/page_log`,
    'User lp', 'Group lp', '',
  ].join('\n'));
  const child = spawn('cupsd', ['-f', '-c', join(dir, 'cupsd.conf'), '-s', join(dir, 'cups-files.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) {
    process.kill(child.pid!, 'SIGKILL');
    throw new Error('cupsd did not open its socket');
  }
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, ['-h', socket, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  return {
    dir,
    socket,
    spool: join(dir, 'spool'),
    pid: child.pid!,
    addQueue(name, trayDir, extra = []) {
      run('lpadmin', ['-p', name, '-E', '-v', `tray:${trayDir}`, ...extra]);
    },
    admin: run,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const t = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
