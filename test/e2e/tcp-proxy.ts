/**
 * A TCP proxy the test owns, put between two programs to break the line between
 * them without touching either process: cut every connection (RST), cut the
 * downstream stream after so many more bytes (mid-document), or be "down" for a
 * while (connections accepted and reset at once, as a server that is restarting).
 * TLS passes through untouched: the proxy sees only ciphertext.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private down = false;
  private cutAfterBytes: { remaining: number; done: () => void } | null = null;
  /** Connections accepted so far (each city request is one). */
  connections = 0;

  private constructor(
    private target: { host: string; port: number },
    server: Server,
  ) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client));
    proxy = new TcpProxy(target, server);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  private accept(client: Socket): void {
    this.connections++;
    if (this.down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (d: Buffer) => {
      if (!upstream.write(d)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.on('data', (d: Buffer) => {
      const cut = this.cutAfterBytes;
      if (cut) {
        if (d.length >= cut.remaining) {
          // Forward exactly up to the limit, then break the line in the middle of the stream.
          const head = d.subarray(0, cut.remaining);
          this.cutAfterBytes = null;
          if (head.length) client.write(head);
          setImmediate(() => {
            end();
            cut.done();
          });
          return;
        }
        cut.remaining -= d.length;
      }
      if (!client.write(d)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  /** Reset every open connection now. */
  cutAll(): number {
    const n = this.pairs.size;
    for (const p of [...this.pairs]) {
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
    this.pairs.clear();
    return n;
  }

  /** Let `bytes` more bytes through towards the client(s), then reset that connection; resolves when cut. */
  cutAfter(bytes: number): Promise<void> {
    return new Promise((done) => {
      this.cutAfterBytes = { remaining: bytes, done };
    });
  }

  disarm(): void {
    this.cutAfterBytes = null;
  }

  /** Down: reset every connection and refuse new ones until `up()`. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.cutAll();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
