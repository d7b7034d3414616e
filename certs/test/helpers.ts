import { spawnSync } from 'node:child_process';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

/** Runs the real openssl binary. */
export function openssl(args: string[], input?: Buffer): Run {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}
