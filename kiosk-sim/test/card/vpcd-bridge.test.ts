/**
 * The vpcd framing against a local TCP server playing pcscd's vpcd side (the real
 * pcscd run is in test/reader/pcsc.test.ts). Here we control how bytes are split.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { VirtualCard } from '../../src/card/virtual-card.js';
import { FrameDecoder, VpcdBridge, frame } from '../../src/card/vpcd-bridge.js';
import { makeProfile } from './make-profile.js';

t.test('FrameDecoder: partial and coalesced frames', async (t) => {
  const d = new FrameDecoder();
  t.same(d.push(Buffer.from([0x00])), []);
  t.same(d.push(Buffer.from([0x01])), []);
  t.same(d.push(Buffer.from([0x04, 0x00, 0x01, 0x01, 0x00])), [Buffer.from([0x04]), Buffer.from([0x01])]);
  t.same(d.push(Buffer.from([0x02, 0xaa])), []);
  t.same(d.push(Buffer.from([0xbb, 0x00, 0x00])), [Buffer.from([0xaa, 0xbb]), Buffer.alloc(0)]);
});

async function vpcdServer() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const conn = once(server, 'connection') as Promise<[Socket]>;
  return { server, port, conn };
}

function reader(sock: Socket) {
  const d = new FrameDecoder();
  const frames: Buffer[] = [];
  const waiters: Array<() => void> = [];
  sock.on('data', (c: Buffer) => {
    frames.push(...d.push(c));
    waiters.splice(0).forEach((w) => w());
  });
  return {
    async next(timeoutMs = 2000): Promise<Buffer> {
      const deadline = Date.now() + timeoutMs;
      while (frames.length === 0) {
        if (Date.now() > deadline) throw new Error('no frame');
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
      }
      return frames.shift()!;
    },
    pending: () => frames.length,
  };
}

t.test('bridge speaks vpcd: power, ATR, APDUs, split and coalesced input', async (t) => {
  const { server, port, conn } = await vpcdServer();
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const card = VirtualCard.fromProfile(makeProfile());
  const bridge = await VpcdBridge.connect(card, { port });
  const [sock] = await conn;
  const rx = reader(sock);

  // ATR while powered off
  sock.write(frame(Buffer.from([0x04])));
  t.equal((await rx.next()).toString('hex').toUpperCase(), '3BDA13FF8131FB468012392F31C173C601C03B');
  t.notOk(card.isPowered);
  // power on: no reply
  sock.write(frame(Buffer.from([0x01])));
  // an APDU split into single bytes
  const sel = frame(Buffer.from('00A4040C0AD392F000260100000001', 'hex'));
  for (const b of sel) {
    sock.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 2));
  }
  t.equal((await rx.next()).toString('hex'), '9000', 'split APDU answered once');
  t.ok(card.isPowered, 'power on handled without a reply');
  t.equal(rx.pending(), 0, 'no reply to power on');
  // coalesced: reset + SELECT EF + READ BINARY + ATR in one write
  sock.write(Buffer.concat([
    frame(Buffer.from([0x02])),
    frame(Buffer.from('00A4040C0AD392F000260100000001', 'hex')),
    frame(Buffer.from('00A4020C02000A', 'hex')),
    frame(Buffer.from('00B0000004', 'hex')),
    frame(Buffer.from([0x04])),
  ]));
  t.equal((await rx.next()).toString('hex'), '9000');
  t.equal((await rx.next()).toString('hex'), '9000');
  t.equal((await rx.next()).subarray(0, 2).toString('hex'), '3082');
  t.equal((await rx.next()).length, 19, 'ATR');
  // garbage frames are answered, never left hanging
  sock.write(Buffer.concat([frame(Buffer.from([0x07])), frame(Buffer.from([0xff, 0xff, 0xff])), frame(Buffer.alloc(0))]));
  t.equal((await rx.next()).toString('hex'), '6700');
  t.equal((await rx.next()).toString('hex'), '6700');
  t.equal((await rx.next()).toString('hex'), '6700', 'empty payload answered 6700');
  // power off: no reply, volatile state cleared
  sock.write(frame(Buffer.from([0x00])));
  sock.write(frame(Buffer.from('00A4020C02000A', 'hex')));
  t.equal((await rx.next()).toString('hex'), '6a82', 'after power off nothing is selected');
  t.equal(bridge.stats.controls, 5);
  // removal
  const closed = once(sock, 'close');
  await bridge.close();
  await closed;
  t.ok(bridge.isClosed);
});

t.test('bridge: pcscd side going away closes the bridge', async (t) => {
  const { server, port, conn } = await vpcdServer();
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const bridge = await VpcdBridge.connect(VirtualCard.fromProfile(makeProfile()), { port });
  const [sock] = await conn;
  sock.destroy();
  await bridge.whenClosed();
  t.ok(bridge.isClosed);
});

t.test('bridge: nothing listening', async (t) => {
  const { server, port } = await vpcdServer();
  await new Promise<void>((r) => server.close(() => r()));
  await t.rejects(VpcdBridge.connect(VirtualCard.fromProfile(makeProfile()), { port }), { code: 'ECONNREFUSED' });
});
