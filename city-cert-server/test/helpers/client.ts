import { request } from 'node:https';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export interface CallOptions {
  port: number;
  method?: 'GET' | 'POST';
  path: string;
  /** Object → JSON; string/Buffer sent as is. */
  body?: unknown;
  ca: string;
  /** Client certificate; absent = none presented. */
  client?: { key: string; cert: string };
  headers?: Record<string, string>;
}

/** One request over a fresh mutual-TLS connection (no agent: certificates never mix). */
export function call(o: CallOptions): Promise<Reply> {
  const payload =
    o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: o.port,
        method: o.method ?? (payload ? 'POST' : 'GET'),
        path: o.path,
        ca: o.ca,
        ...(o.client ? { key: o.client.key, cert: o.client.cert } : {}),
        agent: false,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
