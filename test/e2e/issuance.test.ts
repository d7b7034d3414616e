import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { KonbiniError, type CertOptions } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../../kiosk-sim/src/reader/in-process-reader.js';
import { TrayPrinter } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance, type KioskUi } from '../../kiosk-sim/src/session/issuance.js';
import { cardFor, startStack, type Stack } from './stack.js';

// Never execFileSync here: the centre and the city run in this process, and a
// blocked event loop would leave the child waiting on them for ever.
const run = promisify(execFile);

/** One stack for the tests that need no log capture: each starts a PGlite replica. */
let shared: Promise<Stack> | undefined;
function sharedStack(): Promise<Stack> {
  shared ??= startStack();
  return shared;
}
t.teardown(async () => {
  if (shared) await (await shared).close();
});

/** A resident at the kiosk who types the given PINs and takes `choice`. */
function resident(reader: InProcessReader, pins: string[], choice: { certType: string; options?: CertOptions; copies?: number }) {
  const steps: string[] = [];
  const shownTries: number[] = [];
  const ui: KioskUi = {
    step: (name) => {
      steps.push(name);
      if (name === 'remove-card') reader.remove();
    },
    pin: async (tries, wrong) => {
      shownTries.push(tries);
      const pin = pins.shift();
      if (pin === undefined) throw wrong ?? new KonbiniError('PIN_FORMAT');
      return pin;
    },
    choose: async () => ({ certType: choice.certType, options: choice.options ?? { scope: 'self' }, copies: choice.copies ?? 1 }),
    pay: async (fee) => ({ paid: fee, change: 0 }),
  };
  return { ui, steps, shownTries };
}

async function attempt(stack: Stack, scenario: Parameters<typeof cardFor>[0], pins: string[], choice = { certType: 'resident-record' }) {
  const card = cardFor(scenario);
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
  const centre = await stack.connect();
  const work = join(stack.tmp, `work-${card.cardId}-${Date.now()}`);
  const tray = join(stack.tmp, `tray-${card.cardId}-${Date.now()}`);
  const r = resident(reader, pins, choice);
  try {
    const result = await runIssuance({ kioskId: 'K0001', centreOrigin: stack.centreOrigin }, reader, centre, new TrayPrinter(join(work, 'spool'), tray), r.ui);
    return { result, card, work, tray, ...r };
  } catch (err) {
    return { error: err as KonbiniError, card, work, tray, ...r };
  } finally {
    centre.close();
    await reader.close();
  }
}

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      out = statSync(p).isDirectory() ? out.concat(filesUnder(p)) : out.concat(p);
    }
  } catch {
    /* missing dir: nothing left */
  }
  return out;
}

t.test('a 住民票 is issued end to end and only the paper remains', async (t) => {
  const logLines: string[] = [];
  const stack = await startStack({ logLines });
  t.teardown(() => stack.close());
  const a = await attempt(stack, 'ok', [cardFor('ok').jpki.authPin]);
  t.notOk(a.error, `no error (${a.error?.code})`);
  const result = a.result!;
  t.equal(result.certType, 'resident-record');
  t.equal(result.charged, result.fee, 'charged the fee once printed');
  t.ok(result.fee > 0);
  t.same(a.steps.slice(-5), ['paid', 'remove-card', 'printing', 'wiped', 'printed'], 'paid before the card was removed, printed after');

  const sheets = readdirSync(a.tray);
  t.same(sheets, [`${result.issuanceId}.pdf`], 'one print job, named by its issuance id');
  const sheet = join(a.tray, sheets[0]!);
  const { stdout: text } = await run('pdftotext', ['-layout', sheet, '-'], { encoding: 'utf8' });
  const holder = stack.dataset.residents.find((r) => r.id === a.card.residentId)!;
  t.match(text, '住民票');
  t.match(text.replace(/\s+/g, ''), `${holder.familyName}${holder.givenName}`.replace(/[\u{e0100}-\u{e01ef}]/gu, ''), 'names the card holder');
  t.match(text, result.issuanceId, 'carries its issuance id');
  const stranger = stack.dataset.residents.find((r) => r.householdId !== holder.householdId && r.familyName !== holder.familyName)!;
  t.notMatch(text.replace(/\s+/g, ''), `${stranger.familyName}${stranger.givenName}`, 'names nobody from another household');
  const { stdout: sig } = await run('pdfsig', [sheet], { encoding: 'utf8' }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
  t.match(sig, /Signature Validation: Signature is Valid\./, 'pdfsig: the city’s signature is valid');
  t.match(sig, /Total document signed/, 'pdfsig: the whole document is signed');
  const { stdout: fonts } = await run('pdffonts', [sheet], { encoding: 'utf8' });
  const rows = fonts.split('\n').slice(2).filter(Boolean);
  t.ok(rows.length > 0, 'has fonts');
  for (const row of rows) t.match(row, /\byes\s+yes\s+(yes|no)\s+\d+\s+\d+\s*$/, `embedded subset: ${row.slice(0, 40)}`);

  t.same(filesUnder(a.work), [], 'nothing of the document is left in the kiosk working directory');
  const logs = logLines.join('');
  t.notMatch(logs, holder.familyName, 'no name in any log');
  t.notMatch(logs, a.card.jpki.authPin.length === 4 ? `"pin":"${a.card.jpki.authPin}"` : 'x', 'no PIN in any log');
});

t.test('wrong PIN: the resident is told how many tries are left', async (t) => {
  const stack = await sharedStack();
  const card = cardFor('ok');
  const wrong = card.jpki.authPin === '9999' ? '9998' : '9999';
  const a = await attempt(stack, 'ok', [wrong]);
  t.equal(a.error?.code, 'PIN_WRONG');
  t.equal(a.error?.detail.triesLeft, 2);
  t.same(a.shownTries, [3, 2], 'asked again with 2 tries left');
  t.same(filesUnder(a.tray), [], 'nothing printed');
});

t.test('three wrong PINs lock the card', async (t) => {
  const stack = await sharedStack();
  const wrong = cardFor('ok').jpki.authPin === '0000' ? '1111' : '0000';
  const a = await attempt(stack, 'ok', [wrong, wrong, wrong]);
  t.equal(a.error?.code, 'PIN_LOCKED');
});

t.test('cards the centre must refuse', async (t) => {
  const stack = await sharedStack();
  for (const [scenario, code] of [
    ['not-linked', 'CARD_NOT_LINKED'],
    ['revoked', 'CARD_CERT_REVOKED'],
    ['expired', 'CARD_CERT_EXPIRED'],
    ['link-not-yet-valid', 'CARD_LINK_NOT_YET_VALID'],
  ] as const) {
    const a = await attempt(stack, scenario, [cardFor(scenario).jpki.authPin]);
    t.equal(a.error?.code, code, scenario);
    t.same(filesUnder(a.tray), [], `${scenario}: nothing printed`);
  }
});

t.test('residents the city must refuse get the reason on the menu', async (t) => {
  const stack = await sharedStack();
  for (const [scenario, code] of [
    ['moving-out', 'RESIDENT_MOVING_OUT'],
    ['support-measure', 'SUPPORT_MEASURE'],
    ['under-15', 'UNDER_15'],
  ] as const) {
    const a = await attempt(stack, scenario, [cardFor(scenario).jpki.authPin]);
    t.equal(a.error?.code, code, scenario);
  }
});

t.test('an unknown certificate type is refused by the centre with its own code', async (t) => {
  const stack = await sharedStack();
  const card = cardFor('ok');
  const reader = new InProcessReader();
  reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
  const centre = await stack.connect();
  t.teardown(() => centre.close());
  // Drive the protocol by hand past the kiosk's own check.
  const { JpkiClient } = await import('../../kiosk-sim/src/reader/jpki-client.js');
  const { challengeDigest } = await import('@konbini/protocol');
  await reader.waitForCard();
  const jpki = new JpkiClient(reader);
  await jpki.selectJpki();
  const cert = await jpki.readAuthCertificate();
  centre.send({ type: 'session.start', authCert: cert.toString('base64') });
  const ch = await centre.next(['session.challenge']);
  await jpki.verifyAuthPin(card.jpki.authPin);
  const sig = await jpki.signWithAuthKey(challengeDigest(stack.centreOrigin, 'K0001', Buffer.from(ch.nonce, 'base64')));
  centre.send({ type: 'session.auth', sessionId: ch.sessionId, signature: sig.toString('base64') });
  const menu = await centre.next(['session.menu']);
  t.ok(menu.items.some((i) => i.certType === 'resident-record'), 'menu offers 住民票');
  centre.send({ type: 'issue.request', sessionId: ch.sessionId, certType: 'passport' as 'seal', options: {}, copies: 1 });
  await t.rejects(centre.next(['issue.accepted']), { code: 'CERT_TYPE_UNKNOWN' });
  centre.send({ type: 'issue.request', sessionId: ch.sessionId, certType: 'resident-record', options: {}, copies: 11 });
  await t.rejects(centre.next(['issue.accepted']), { code: 'COPIES_OUT_OF_RANGE' });
  await reader.close();
});

t.test('a signature made for another kiosk or centre is refused', async (t) => {
  const stack = await sharedStack();
  const a = await (async () => {
    const card = cardFor('ok');
    const reader = new InProcessReader();
    reader.insert(VirtualCard.fromFile(stack.cardFile(card)));
    const centre = await stack.connect();
    const r = resident(reader, [card.jpki.authPin], { certType: 'resident-record' });
    try {
      // This kiosk believes it is K0002: the card signs the wrong context.
      await runIssuance({ kioskId: 'K0002', centreOrigin: stack.centreOrigin }, reader, centre, new TrayPrinter(join(stack.tmp, 's'), join(stack.tmp, 't')), r.ui);
      return null;
    } catch (err) {
      return err as KonbiniError;
    } finally {
      centre.close();
      await reader.close();
    }
  })();
  t.equal(a?.code, 'SIGNATURE_INVALID');
});

t.test('kiosk identity is checked at the TLS handshake', async (t) => {
  const stack = await sharedStack();
  const ca = stack.kioskTls().ca;
  const handshake = (opts: { key?: string; cert?: string }) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(stack.centreUrl, { ca, ...opts });
      ws.on('open', () => {
        ws.once('message', (d) => resolve(`message ${d.toString()}`));
        setTimeout(() => resolve('open'), 500);
      });
      ws.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  t.match(await handshake({}), /^error/, 'no client certificate: refused');
  const wrong = stack.kioskTls('kiosk-wrong-ca');
  t.match(await handshake({ key: wrong.key, cert: wrong.cert }), /^error/, 'certificate from another CA: refused');
  const expired = stack.kioskTls('kiosk-expired');
  t.match(await handshake({ key: expired.key, cert: expired.cert }), /^error/, 'expired kiosk certificate: refused');
  const revoked = stack.kioskTls('kiosk-revoked');
  t.match(await handshake({ key: revoked.key, cert: revoked.cert }), /^error/, 'revoked kiosk certificate: refused');
  const good = stack.kioskTls();
  t.equal(await handshake({ key: good.key, cert: good.cert }), 'open', 'a registered kiosk connects');

  // The same from a TLS client nobody here wrote: openssl s_client without a certificate.
  const out = await new Promise<string>((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${stack.centrePort}`, '-CAfile', '/dev/null', '-quiet'],
      { encoding: 'utf8', timeout: 10_000 },
      (err, stdout, stderr) => resolve(`${stdout}${stderr}${err ? ` exit=${err.code ?? err.signal}` : ''}`),
    );
    child.stdin?.end('GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
  t.match(out, /alert|error|errno|exit=/i, 'openssl reports the refused handshake');
  t.notMatch(out, /"status":"ok"/, 'openssl without a client certificate gets no answer');
});

t.test('messages failing their schema get MESSAGE_INVALID, unknown ones MESSAGE_UNKNOWN_TYPE, out of order MESSAGE_OUT_OF_ORDER', async (t) => {
  const stack = await sharedStack();
  const tls = stack.kioskTls();
  const ws = new WebSocket(stack.centreUrl, tls);
  await new Promise((r) => ws.once('open', r));
  const answer = (payload: string) =>
    new Promise<{ code: string }>((resolve) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.send(payload);
    });
  t.equal((await answer('{"type":"session.start","authCert":42}')).code, 'MESSAGE_INVALID');
  t.equal((await answer('not json')).code, 'MESSAGE_INVALID');
  t.equal((await answer('{"type":"open.sesame"}')).code, 'MESSAGE_UNKNOWN_TYPE');
  t.equal(
    (await answer(JSON.stringify({ type: 'issue.request', sessionId: '3b2f6c1e-9a4d-4c1b-8e2f-0a1b2c3d4e5f', certType: 'resident-record', options: {}, copies: 1 }))).code,
    'MESSAGE_OUT_OF_ORDER',
    'issue before authentication',
  );
  t.equal((await answer(JSON.stringify({ type: 'session.start', authCert: Buffer.from('not a certificate').toString('base64') }))).code, 'CARD_CERT_INVALID');
  ws.close();
});

t.test('the headless CLI issues against a running centre and exits non-zero with the code otherwise', async (t) => {
  const stack = await sharedStack();
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { ROOT, FIXTURES, PKI } = await import('./stack.js');
  const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8'));
  const cards = join(stack.tmp, 'cards');
  mkdirSync(cards);
  const card = cardFor('ok');
  writeFileSync(join(cards, `${card.cardId}.json`), readFileSync(join(FIXTURES, 'cards', `${card.cardId}.json`)));
  const config = join(stack.tmp, 'kiosk.json');
  writeFileSync(
    config,
    JSON.stringify({
      centreUrl: stack.centreUrl,
      centreOrigin: stack.centreOrigin,
      tls: { key: join(PKI, manifest.certs['kiosk-K0001'].key), cert: join(PKI, manifest.certs['kiosk-K0001'].cert), ca: join(PKI, manifest.certs['kiosk-line-ca'].cert) },
      cardsDir: cards,
      workDir: join(stack.tmp, 'kiosk-work'),
    }),
  );
  const cli = async (args: string[]) => {
    try {
      const r = await run(process.execPath, [join(ROOT, 'kiosk-sim/bin/kiosk-sim.js'), ...args, '--config', config], { encoding: 'utf8' });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  };
  const list = await cli(['card', 'list', '--json']);
  t.equal(list.code, 0);
  t.same(JSON.parse(list.out).map((c: { cardId: string }) => c.cardId), [card.cardId]);
  const tray = join(stack.tmp, 'cli-tray');
  const ok = await cli(['issue', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'resident-record', '--tray', tray]);
  t.equal(ok.code, 0, ok.out);
  t.match(ok.out, /^printed issuance=[0-9a-f-]{36} type=resident-record copies=1 charged=\d+$/m);
  t.equal(readdirSync(tray).length, 1);
  const bad = await cli(['issue', '--card', card.cardId, '--pin', card.jpki.authPin === '0000' ? '1111' : '0000', '--type', 'resident-record', '--tray', tray]);
  t.equal(bad.code, 1);
  t.match(bad.out, /error PIN_WRONG: .*\(2 tries left\)/);
  const unknownType = await cli(['issue', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'passport', '--tray', tray]);
  t.equal(unknownType.code, 1);
  t.match(unknownType.out, /error CERT_TYPE_UNKNOWN/);
  const unknownCard = await cli(['issue', '--card', 'C9999', '--pin', '1234', '--type', 'resident-record', '--tray', tray]);
  t.equal(unknownCard.code, 1);
  t.match(unknownCard.out, /error CARD_UNKNOWN/);
  t.same(filesUnder(join(stack.tmp, 'kiosk-work')), [], 'CLI leaves no spool behind');
});
