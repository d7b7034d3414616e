// Baseline for the idle-socket benchmark: a bare WSS echo server with the same
// mutual TLS as the centre's kiosk line and nothing else. Prints `listening <port>`.
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const [key, cert, ca] = process.argv.slice(2).map((p) => readFileSync(p, 'utf8'));
const server = createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
  // the same two gauges the centre's /metrics gives (prom-client's default metrics)
  const m = process.memoryUsage();
  if (req.url === '/metrics') res.end(`nodejs_heap_size_used_bytes ${m.heapUsed}\nnodejs_external_memory_bytes ${m.external}\n`);
  else res.writeHead(404).end();
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
