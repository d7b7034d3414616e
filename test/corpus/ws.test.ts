import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startStack } from '../e2e/stack.js';
import { cardSignature, challenge, fixtureCard, pkiPem, RawKiosk, type Frame } from './helpers.js';
import { KIOSK_CERT_CASES, setOtherCardKey, WS_CASES, type WsCase, type WsContext } from './ws.cases.js';

/*
 * The WebSocket corpus against the real centre (and the real city behind it), in
 * process on port 0. One fresh kiosk connection per case.
 */

const stack = await startStack();
t.teardown(() => stack.close());
const card = fixtureCard('ok');
setOtherCardKey(fixtureCard('ok', 1).jpki.authKeyPkcs8);

const isError = (f: Frame, code: string) => f.type === 'error' && f.code === code;

async function reach(k: RawKiosk, at: WsCase['at'], ctx: WsContext): Promise<void> {
  if (at === 'idle') return;
  Object.assign(ctx, await challenge(k, card.jpki.authCertDer));
  if (at === 'challenged') return;
  k.send({ type: 'session.auth', sessionId: ctx.sessionId, signature: cardSignature(card, ctx.origin, ctx.kioskId, ctx.nonce) });
  const menu = await k.next(15000);
  if (menu.type !== 'session.menu') throw new Error(`no menu: ${JSON.stringify(menu)}`);
  if (at === 'authenticated') return;
  await issueOnce(k, ctx);
}

/** A valid request through to the document; returns with the outcome still due. */
async function issueOnce(k: RawKiosk, ctx: WsContext): Promise<void> {
  k.send({ type: 'issue.request', sessionId: ctx.sessionId, certType: 'resident-record', options: { scope: 'self' }, copies: 1 });
  const accepted = await k.next(30000);
  if (accepted.type !== 'issue.accepted') throw new Error(`not accepted: ${JSON.stringify(accepted)}`);
  ctx.issuanceId = accepted.issuanceId as string;
  const doc = await k.next(30000);
  if (doc.type !== 'issue.document' || doc.issuanceId !== ctx.issuanceId) throw new Error(`no document: ${JSON.stringify(doc)}`);
}

async function recordFailed(t: Test, k: RawKiosk, ctx: WsContext): Promise<void> {
  k.send({ type: 'issue.outcome', sessionId: ctx.sessionId, issuanceId: ctx.issuanceId, outcome: 'failed', copiesPrinted: 0, failureCode: 'PRINTER_JAM' });
  t.match(await k.next(), { type: 'issue.recorded', issuanceId: ctx.issuanceId, outcome: 'failed', charged: 0 }, 'the right outcome is still recorded, nothing charged');
}

t.test(`${WS_CASES.length} WebSocket cases`, async (t) => {
  let n = 0;
  for (const c of WS_CASES) {
    // spread over the four active test kiosks (each has its own rate bucket)
    const kioskId = `K000${(n++ % 4) + 1}`;
    await t.test(`${c.at}: ${c.name}`, { todo: c.todo }, async (t) => {
      const k = await RawKiosk.connect(stack.centreUrl, stack.kioskTls(`kiosk-${kioskId}`), kioskId);
      try {
        const ctx: WsContext = { sessionId: '', nonce: '', issuanceId: '', card, origin: stack.centreOrigin, kioskId };
        await reach(k, c.at, ctx);
        const input = c.send(ctx);
        if (Buffer.isBuffer(input)) k.send(input, { binary: !c.asText });
        else k.send(input);

        if (c.code) {
          const m = await k.next();
          t.match(m, { type: 'error', code: c.code }, `answered ${c.code}`);
          if (typeof m.message === 'string') t.ok(m.message && m.messageJa, 'with both texts');
        }
        if (c.close) {
          const closed = await Promise.race([k.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
          t.equal(closed?.closed, c.close, `closed ${c.close}`);
          return;
        }
        // exactly one answer: nothing else arrives for the bad frame
        await new Promise((r) => setTimeout(r, 30));
        t.same(k.pending(), [], 'no further frame');

        switch (c.then) {
          case 'usable': {
            const ch = await challenge(k, card.jpki.authCertDer);
            t.ok(ch.sessionId, 'still usable: a new session.start gets a challenge');
            break;
          }
          case 'challenge-spent': {
            k.send({ type: 'session.auth', sessionId: ctx.sessionId, signature: cardSignature(card, ctx.origin, ctx.kioskId, ctx.nonce) });
            t.ok(isError(await k.next(), 'CHALLENGE_REPLAYED'), 'the challenge was used up: the right answer now gets CHALLENGE_REPLAYED');
            const ch = await challenge(k, card.jpki.authCertDer);
            t.ok(ch.sessionId, 'a new session.start gets a new challenge');
            break;
          }
          case 'goes-on':
            if (c.at === 'challenged') {
              k.send({ type: 'session.auth', sessionId: ctx.sessionId, signature: cardSignature(card, ctx.origin, ctx.kioskId, ctx.nonce) });
              t.match(await k.next(15000), { type: 'session.menu', sessionId: ctx.sessionId }, 'the challenge still stands: the menu');
            } else if (c.at === 'authenticated') {
              await issueOnce(k, ctx);
              t.pass('a valid request is still issued');
              await recordFailed(t, k, ctx);
            } else if (c.at === 'delivered') {
              await recordFailed(t, k, ctx);
            }
            break;
          case 'closed':
            t.fail('a closing case must say which close code');
        }
      } finally {
        k.close();
      }
    });
  }
});

t.test(`${KIOSK_CERT_CASES.length} kiosk device-certificate cases`, async (t) => {
  const kioskCa = pkiPem('kiosk-line-ca');
  for (const c of KIOSK_CERT_CASES) {
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const tls = c.cert === 'none' ? { ca: kioskCa.cert } : c.cert === 'unknown-cn' ? { ...unknownKiosk(kioskCa), ca: kioskCa.cert } : { ...pkiPem(c.cert), ca: kioskCa.cert };
      let k: RawKiosk;
      try {
        k = await RawKiosk.connect(stack.centreUrl, tls as { key: string; cert: string; ca: string });
      } catch (err) {
        t.equal(c.expect, 'tls', `the TLS handshake refused it (${(err as Error).message.slice(0, 60)})`);
        return;
      }
      try {
        const m = await k.next();
        t.ok(m.type === 'error' && (m.code === c.expect || m.code === c.orCode), `refused with ${String(m.code ?? m.closed)}`);
        t.equal((await k.closed).closed, 4403, 'then closed 4403');
      } finally {
        k.close();
      }
    });
  }
});

/** A certificate from the kiosk-line CA for K9999, which no directory lists. */
function unknownKiosk(ca: { cert: string; key: string }): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'konbini-corpus-kiosk-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.key', '-out', 'k.csr', '-subj', '/O=Sorano Mart K.K./CN=K9999']);
    run(['x509', '-req', '-in', 'k.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '0x6b01', '-days', '2', '-out', 'k.crt', '-extfile', 'ext']);
    return { key: readFileSync(join(dir, 'k.key'), 'utf8'), cert: readFileSync(join(dir, 'k.crt'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
