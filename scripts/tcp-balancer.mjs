// A TCP load balancer for several workers of one city (docs/DEPLOYMENT.md: "put the
// workers behind a TCP load balancer"). It passes bytes through: mutual TLS stays
// end to end between the centre and a worker, so the centre's pin of the city
// certificate and the worker's check of the centre's client certificate are
// unchanged. New connections go round-robin; a worker that refuses the connection
// (stopped, restarting) is skipped for that connection.
import { connect, createServer } from 'node:net';

/**
 * @param {{ host: string, port: number, targets: { host: string, port: number }[] }} opts
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export function startBalancer({ host, port, targets }) {
  if (targets.length === 0) throw new Error('a balancer needs at least one target');
  let next = 0;
  const open = new Set();

  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    // The client's bytes wait (a new socket is paused) until a worker accepts.
    const attempt = (tried) => {
      const i = next++ % targets.length;
      const upstream = connect(targets[i].port, targets[i].host);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        open.add(upstream);
        upstream.once('close', () => open.delete(upstream));
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => {
        if (!connected && tried + 1 < targets.length && !client.destroyed) attempt(tried + 1);
        else client.destroy();
        upstream.destroy();
      });
      upstream.once('close', () => connected && client.destroy());
      client.once('close', () => upstream.destroy());
    };
    attempt(0);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            for (const s of open) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
