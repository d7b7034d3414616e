import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKI, ROOT, startStack } from '../../../test/e2e/stack.js';

t.test('`kiosk-sim screen` prints its URL, serves the page and stops on SIGTERM', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
  const kiosk = manifest.certs['kiosk-K0001']!;
  const config = join(stack.tmp, 'kiosk.json');
  writeFileSync(
    config,
    JSON.stringify({
      centreUrl: stack.centreUrl,
      centreOrigin: stack.centreOrigin,
      kioskId: 'K0001',
      tls: { key: join(PKI, kiosk.key), cert: join(PKI, kiosk.cert), ca: join(PKI, manifest.certs['kiosk-line-ca']!.cert) },
      cardsDir: join(ROOT, 'var/fixtures/cards'),
      workDir: join(stack.tmp, 'kiosk'),
    }),
  );
  const child = spawn(process.execPath, ['--import=tsx', '--conditions=konbini-source', 'kiosk-sim/src/cli.ts', 'screen', '--port', '0', '--config', config], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL; stdout: ${out}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = /^kiosk screen: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', () => reject(new Error(`exited early; stdout: ${out}`)));
  });
  t.match(out, /^listening http:\/\/127\.0\.0\.1:\d+\/$/m, 'the line npm start waits for');
  const page = await fetch(url);
  t.equal(page.status, 200);
  t.match(await page.text(), /行政サービス/);
  const state = (await fetch(`${url}api/state`).then((r) => r.json())) as { screen: string; lang: string };
  t.same([state.screen, state.lang], ['start', 'ja']);
  const cards = (await fetch(`${url}api/cards`).then((r) => r.json())) as { cards: unknown[] };
  t.ok(cards.cards.length > 0, 'the demo cards are listed');
  process.kill(child.pid!, 'SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
});
