import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/index.js';
import { testDataset } from './dataset.js';
import { makeTestPki, type TestPki } from './pki.js';
import { call, type CallOptions, type Reply } from './client.js';

export interface TestServer {
  app: FastifyInstance;
  port: number;
  pki: TestPki;
  today: string;
  now: Date;
  /** Every log line the server wrote, raw. */
  logLines: string[];
  /** As the issuance centre (CN=issuance-center). */
  post(path: string, body: unknown): Promise<Reply>;
  call(o: Omit<CallOptions, 'port' | 'ca'> & { ca?: string }): Promise<Reply>;
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const pki = makeTestPki();
  const now = new Date();
  const { dataset, today } = testDataset(now);
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const app = await buildApp({
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca },
    dataset,
    now: () => now,
    log: { level: 'debug', stream },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const self: TestServer = {
    app,
    port,
    pki,
    today,
    now,
    logLines,
    post: (path, body) => call({ port, ca: pki.ca, client: pki.centre, path, body }),
    call: (o) => call({ ca: pki.ca, ...o, port }),
    close: async () => {
      await app.close();
      pki.cleanup();
    },
  };
  return self;
}
