import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

/** `scrypt:N:r:p:<salt base64>:<hash base64>`: what the kiosk stores, never the password. */
export async function hashMaintenancePassword(password: string, params = { N: 16384, r: 8, p: 1 }): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { ...params, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${params.N}:${params.r}:${params.p}:${salt.toString('base64')}:${hash.toString('base64')}`;
}

export async function verifyMaintenancePassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(stored.trim());
  if (!m) throw new Error('maintenance password hash is not in scrypt:N:r:p:salt:hash form');
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, 'base64');
  const got = await scrypt(password, Buffer.from(m[4]!, 'base64'), expected.length, { N, r, p, maxmem: 64 * 1024 * 1024 });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

export interface MaintenanceOptions {
  /** From hashMaintenancePassword(). */
  passwordHash: string;
  /** Failed logins in a row before the lock (default 5). */
  maxFailures?: number;
  /** How long the lock lasts, ms (default 15 min). */
  lockMs?: number;
  /** How long a login lasts without use, ms (default 10 min). */
  sessionMs?: number;
}

export type LoginResult = { ok: true; token: string } | { ok: false; reason: 'wrong' | 'locked'; retryAfterMs?: number; failuresLeft?: number };

/**
 * Only maintenance staff reach the kiosk program (the privacy assessment): a
 * password checked against its scrypt hash, a lock after repeated failures, short
 * sessions by random token. One login at a time is enough for a kiosk.
 */
export class MaintenanceGate {
  private failures = 0;
  private lockedUntil = 0;
  private session: { token: Buffer; expires: number } | null = null;
  private readonly maxFailures: number;
  private readonly lockMs: number;
  private readonly sessionMs: number;

  constructor(private readonly opts: MaintenanceOptions) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.lockMs = opts.lockMs ?? 15 * 60_000;
    this.sessionMs = opts.sessionMs ?? 10 * 60_000;
  }

  async login(password: string): Promise<LoginResult> {
    const now = Date.now();
    if (now < this.lockedUntil) return { ok: false, reason: 'locked', retryAfterMs: this.lockedUntil - now };
    const good = await verifyMaintenancePassword(password, this.opts.passwordHash);
    if (!good) {
      this.failures += 1;
      if (this.failures >= this.maxFailures) {
        this.failures = 0;
        this.lockedUntil = Date.now() + this.lockMs;
        return { ok: false, reason: 'locked', retryAfterMs: this.lockMs };
      }
      return { ok: false, reason: 'wrong', failuresLeft: this.maxFailures - this.failures };
    }
    this.failures = 0;
    const token = randomBytes(32);
    this.session = { token, expires: Date.now() + this.sessionMs };
    return { ok: true, token: token.toString('base64url') };
  }

  /** True for the current session's token (and extends it). */
  check(token: string | undefined): boolean {
    const s = this.session;
    if (!s || !token || Date.now() > s.expires) return false;
    const got = Buffer.from(token, 'base64url');
    if (got.length !== s.token.length || !timingSafeEqual(got, s.token)) return false;
    s.expires = Date.now() + this.sessionMs;
    return true;
  }

  logout(): void {
    this.session = null;
  }
}
