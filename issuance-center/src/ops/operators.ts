import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { KonbiniError } from '@konbini/protocol';
import type { SqlDb } from '../ledger/db.js';
import { newTotpSecret, otpauthUri, verifyTotp } from './totp.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** An operator as stored: scrypt hash of the password, TOTP secret (base32). */
export interface OperatorRecord {
  name: string;
  passwordHash: string;
  totpSecret: string;
  createdAt: string;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password.normalize('NFC'), salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = await scrypt(password.normalize('NFC'), Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(got, want);
}

/** Compared against when the name is unknown, so both cases take as long. */
let dummyHash: Promise<string> | undefined;

export const OPERATOR_NAME = /^[a-z][a-z0-9._-]{1,31}$/;

/**
 * The operators' file (JSON): created by `issuance-center operator add`, read
 * again at each login, so an operator added while the centre runs can log in.
 */
export class OperatorFile {
  constructor(readonly path: string) {}

  read(): OperatorRecord[] {
    if (!existsSync(this.path)) return [];
    const data = JSON.parse(readFileSync(this.path, 'utf8')) as { operators?: OperatorRecord[] };
    return data.operators ?? [];
  }

  find(name: string): OperatorRecord | undefined {
    return this.read().find((o) => o.name === name);
  }

  /** Add an operator; returns the TOTP secret and otpauth URI, shown once. */
  async add(name: string, password: string, now = new Date()): Promise<{ totpSecret: string; otpauth: string }> {
    if (!OPERATOR_NAME.test(name)) throw new RangeError('operator name: 2-32 of a-z 0-9 . _ -, starting with a letter');
    if (password.length < 12) throw new RangeError('password: at least 12 characters');
    const all = this.read();
    if (all.some((o) => o.name === name)) throw new RangeError(`operator ${name} exists`);
    const totpSecret = newTotpSecret();
    all.push({ name, passwordHash: await hashPassword(password), totpSecret, createdAt: now.toISOString() });
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ operators: all }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    return { totpSecret, otpauth: otpauthUri(totpSecret, name) };
  }
}

export type OperatorSource = OperatorFile | { find(name: string): OperatorRecord | undefined };

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS ops_login (
    name text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    last_totp_step bigint NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE IF NOT EXISTS ops_session (
    token_sha256 text PRIMARY KEY,
    name text NOT NULL,
    expires_at timestamptz NOT NULL
  )`,
];

export interface LoginPolicy {
  /** Failures in a row before the name is locked (default 5). */
  maxFailures: number;
  /** How long a lock lasts (default 15 minutes). */
  lockMs: number;
  /** Session lifetime (default 8 hours). */
  sessionMs: number;
}
export const DEFAULT_LOGIN_POLICY: LoginPolicy = { maxFailures: 5, lockMs: 15 * 60_000, sessionMs: 8 * 3600_000 };

const tokenHash = (t: string) => createHash('sha256').update(t).digest('hex');

/**
 * Logins and sessions, in the centre's database so that every instance knows
 * the same locks and sessions: a wrong password or code counts against the name,
 * `maxFailures` in a row lock it for `lockMs`; a TOTP step is accepted once.
 */
export class OperatorAuth {
  private constructor(
    private readonly db: SqlDb,
    private readonly operators: OperatorSource,
    private readonly policy: LoginPolicy,
  ) {}

  static async open(db: SqlDb, operators: OperatorSource, policy: Partial<LoginPolicy> = {}): Promise<OperatorAuth> {
    await db.transaction(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [7_444_004]);
      for (const s of SCHEMA) await q.query(s);
    });
    return new OperatorAuth(db, operators, { ...DEFAULT_LOGIN_POLICY, ...policy });
  }

  /** A session token for `name`, or OPERATOR_LOCKED / OPERATOR_LOGIN_FAILED. */
  async login(name: string, password: string, code: string, now: Date): Promise<{ token: string; expiresAt: Date }> {
    const key = name.slice(0, 64);
    await this.db.query('INSERT INTO ops_login (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [key]);
    const { rows } = await this.db.query('SELECT failures, locked_until, last_totp_step FROM ops_login WHERE name = $1', [key]);
    const state = rows[0]!;
    if (state.locked_until && new Date(state.locked_until as string) > now) throw new KonbiniError('OPERATOR_LOCKED', { reason: 'locked' });
    const op = OPERATOR_NAME.test(name) ? this.operators.find(name) : undefined;
    dummyHash ??= hashPassword('not a password of anyone');
    const passwordOk = await checkPassword(password, op?.passwordHash ?? (await dummyHash));
    const step = op ? verifyTotp(op.totpSecret, code, now) : undefined;
    const ok = op !== undefined && passwordOk && step !== undefined && step > Number(state.last_totp_step);
    if (!ok) {
      const { rows: after } = await this.db.query(
        `UPDATE ops_login SET failures = failures + 1,
           locked_until = CASE WHEN failures + 1 >= $2 THEN $3::timestamptz ELSE locked_until END
         WHERE name = $1 RETURNING failures`,
        [key, this.policy.maxFailures, new Date(now.getTime() + this.policy.lockMs).toISOString()],
      );
      const failures = Number(after[0]?.failures ?? 0);
      throw new KonbiniError('OPERATOR_LOGIN_FAILED', { reason: !op ? 'unknown-name' : !passwordOk ? 'password' : 'totp', failures });
    }
    await this.db.query('UPDATE ops_login SET failures = 0, locked_until = NULL, last_totp_step = $2 WHERE name = $1', [key, step]);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + this.policy.sessionMs);
    await this.db.query('DELETE FROM ops_session WHERE expires_at < $1', [now.toISOString()]);
    await this.db.query('INSERT INTO ops_session (token_sha256, name, expires_at) VALUES ($1, $2, $3)', [tokenHash(token), name, expiresAt.toISOString()]);
    return { token, expiresAt };
  }

  /** The operator of a session token, or undefined. */
  async session(token: string | undefined, now: Date): Promise<string | undefined> {
    if (!token || token.length > 100) return undefined;
    const { rows } = await this.db.query('SELECT name FROM ops_session WHERE token_sha256 = $1 AND expires_at > $2', [tokenHash(token), now.toISOString()]);
    return rows[0] ? String(rows[0].name) : undefined;
  }

  async logout(token: string): Promise<void> {
    await this.db.query('DELETE FROM ops_session WHERE token_sha256 = $1', [tokenHash(token)]);
  }
}
