import { hashPassword, type OperatorRecord } from '../../src/ops/operators.js';
import { newTotpSecret, totp } from '../../src/ops/totp.js';

export const PASSWORD = 'correct horse battery staple';

export async function operatorRecord(name = 'alice'): Promise<OperatorRecord> {
  return { name, passwordHash: await hashPassword(PASSWORD), totpSecret: newTotpSecret(), createdAt: new Date().toISOString() };
}

/** A browser-less operator: keeps the session cookie, speaks JSON. */
export class OpsClient {
  cookie: string | undefined;
  constructor(readonly base: string) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(new URL(path, this.base), {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, headers: res.headers, setCookie, body: (type.includes('json') ? await res.json() : await res.text()) as Record<string, unknown> & string };
  }

  login(op: { name: string; totpSecret: string }, at: Date, password = PASSWORD, code = totp(op.totpSecret, at)) {
    return this.call('POST', '/api/login', { name: op.name, password, totp: code });
  }
}
